// DiskBackend: what a virtio-blk device asks of its storage, one request at a time; SyncDisk:
// the synchronous engine (preadv/pwritev/fallocate/fdatasync on one file). An io_uring engine
// and the copy-on-write OverlayDisk implement the same interface.
//
// Contract for every engine:
// - Positions are 512-byte sectors, the unit of virtio-blk requests; lengths of data requests
//   are the sum of the iovecs (the request parser has already checked they are whole sectors).
// - A request that reaches past capacity_sectors() fails and touches nothing. Every failure
//   becomes VIRTIO_BLK_S_IOERR for the guest: Errc::kInvalidArgument means the guest asked for
//   something impossible (out of range, a write to a read-only drive), Errc::kOsError that the
//   host failed (sys_errno() says why).
// - Capacity is the image size rounded DOWN to whole sectors, as Firecracker does: the tail of
//   an image whose size is not a multiple of 512 is invisible to the guest (ember logs a
//   warning when it opens one), and a read of the sector that would hold it fails.
// - Cache modes use Firecracker's names: kUnsafe ignores flushes (and the device does not offer
//   VIRTIO_BLK_F_FLUSH), kWriteback makes flush() an fdatasync.
// - id(): the GET_ID payload, VIRTIO_BLK_ID_BYTES bytes, NUL-padded, not NUL-terminated when
//   full. Without a user-given id it is Firecracker's (and kvmtool's) default: the decimal
//   concatenation of st_dev, st_rdev and st_ino of the image, cut to 20 bytes.
#pragma once

#include "vmm/sys/result.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <linux/virtio_blk.h>
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace ember::virtio::block {

inline constexpr uint64_t kSectorSize = 512;
inline constexpr unsigned kSectorShift = 9;
inline constexpr size_t kDiskIdBytes = VIRTIO_BLK_ID_BYTES;
using DiskId = std::array<char, kDiskIdBytes>;

enum class CacheMode { kUnsafe, kWriteback };

struct DiskOptions {
    bool read_only = false;
    CacheMode cache_mode = CacheMode::kUnsafe; // Firecracker's default
    std::string id;                            // GET_ID; empty: derived from the image file
};

class DiskBackend {
public:
    DiskBackend() = default;
    virtual ~DiskBackend() = default;
    DiskBackend(const DiskBackend&) = delete;
    DiskBackend& operator=(const DiskBackend&) = delete;
    DiskBackend(DiskBackend&&) = delete;
    DiskBackend& operator=(DiskBackend&&) = delete;

    [[nodiscard]] virtual uint64_t capacity_sectors() const = 0;
    [[nodiscard]] virtual bool read_only() const = 0;
    [[nodiscard]] virtual CacheMode cache_mode() const = 0;
    [[nodiscard]] virtual const DiskId& id() const = 0;

    // Fills `buffers` from the disk, starting at `sector`.
    virtual Result<void> read(uint64_t sector, std::span<const iovec> buffers) = 0;
    // Stores `buffers` on the disk, starting at `sector`.
    virtual Result<void> write(uint64_t sector, std::span<const iovec> buffers) = 0;
    // Makes completed writes durable (kWriteback); a no-op for kUnsafe.
    virtual Result<void> flush() = 0;
    // The guest no longer needs these sectors; they may read back as anything afterwards
    // (ours read back as zeroes where the host supports it).
    virtual Result<void> discard(uint64_t sector, uint64_t num_sectors) = 0;
    // The sectors read back as zeroes afterwards; `unmap` allows freeing their space.
    virtual Result<void> write_zeroes(uint64_t sector, uint64_t num_sectors, bool unmap) = 0;
};

class SyncDisk final : public DiskBackend {
public:
    // Opens `path` O_RDWR, or O_RDONLY for a read-only drive; O_CLOEXEC either way.
    static Result<std::unique_ptr<SyncDisk>> open(const std::string& path,
                                                  const DiskOptions& options);
    // Adopts an image opened elsewhere (e.g. by the jailer); `name` appears in messages. A
    // writable drive needs an fd opened for writing.
    static Result<std::unique_ptr<SyncDisk>> from_fd(UniqueFd fd, std::string_view name,
                                                     const DiskOptions& options);

    [[nodiscard]] uint64_t capacity_sectors() const override { return sectors_; }
    [[nodiscard]] bool read_only() const override { return read_only_; }
    [[nodiscard]] CacheMode cache_mode() const override { return cache_mode_; }
    [[nodiscard]] const DiskId& id() const override { return id_; }
    // Bytes in the image, including a partial last sector the guest does not see.
    [[nodiscard]] uint64_t image_size() const { return image_size_; }
    [[nodiscard]] int fd() const { return fd_.get(); }

    Result<void> read(uint64_t sector, std::span<const iovec> buffers) override;
    Result<void> write(uint64_t sector, std::span<const iovec> buffers) override;
    Result<void> flush() override;
    Result<void> discard(uint64_t sector, uint64_t num_sectors) override;
    Result<void> write_zeroes(uint64_t sector, uint64_t num_sectors, bool unmap) override;

private:
    SyncDisk() = default;
    [[nodiscard]] Result<void> check_writable(std::string_view what) const;

    UniqueFd fd_;
    std::string name_; // "disk 'path'", for messages
    uint64_t image_size_ = 0;
    uint64_t sectors_ = 0;
    bool read_only_ = false;
    CacheMode cache_mode_ = CacheMode::kUnsafe;
    DiskId id_{};
};

// --- File helpers shared by the engines (all offsets in bytes) ---

// Opens an image with the access a drive needs; messages name `path` and suggest the fix.
Result<UniqueFd> open_image(const std::string& path, bool read_only, bool create = false);
// The size of a file or block device.
Result<uint64_t> image_size(int fd);
// The GET_ID bytes: `user` if given (at most 20 bytes), else derived from fstat(fd).
Result<DiskId> make_disk_id(std::string_view user, int fd);
// Sum of the iovec lengths.
[[nodiscard]] uint64_t total_length(std::span<const iovec> buffers);
// Byte offset of `sector` after checking that `len` bytes from there fit in `capacity_sectors`.
Result<uint64_t> check_range(std::string_view what, uint64_t sector, uint64_t len,
                             uint64_t capacity_sectors);
// The same for `num_sectors` whole sectors (discard, write zeroes).
Result<uint64_t> check_sectors(std::string_view what, uint64_t sector, uint64_t num_sectors,
                               uint64_t capacity_sectors);
// preadv/pwritev until every byte moved; EINTR and short transfers are retried, IOV_MAX is
// respected. End of file before the last byte is an EIO error.
Result<void> read_exact(int fd, uint64_t offset, std::span<const iovec> buffers);
Result<void> write_exact(int fd, uint64_t offset, std::span<const iovec> buffers);
// Makes [offset, offset+len) read as zeroes: punch a hole (if `unmap`), else ZERO_RANGE, then the
// other one, then writing zeroes when the filesystem supports neither. The size never changes.
Result<void> zero_range(int fd, uint64_t offset, uint64_t len, bool unmap);

} // namespace ember::virtio::block
