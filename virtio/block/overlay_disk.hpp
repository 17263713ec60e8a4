// OverlayDisk: a copy-on-write disk. A read-only base image, shared by many VMs, plus a sparse
// overlay file owned by this VM. Writes go to the overlay; reads come from the overlay where a
// cluster has been written, else from the base, which is never modified.
//
// Which clusters the overlay holds is kept in an allocation bitmap inside the overlay file, so
// it survives a restart of ember. (SEEK_DATA/SEEK_HOLE cannot tell "the guest wrote zeroes" or
// "the guest discarded this" from "never written" on every filesystem; a bitmap can.)
//
// On-disk format, version 1 (little-endian):
//   [0, 4096)          header: OverlayHeader below, the rest zero
//   [4096, ...)        bitmap: bit i (byte i / 8, bit i % 8, LSB first) set = cluster i is in the
//                      overlay; bitmap_bytes = ceil(clusters / 8), bits past the last cluster 0
//   [data_offset, ...) data: cluster i at data_offset + i * cluster_size, i.e. the disk's own
//                      layout shifted by data_offset; the file is sparse, sized to hold it all.
//   data_offset = bitmap_offset + bitmap_bytes rounded up to 4096, then to cluster_size.
// The disk has the base's capacity: base_size rounded down to 512-byte sectors (see disk.hpp);
// the last cluster may be shorter than cluster_size.
//
// Rules:
// - A write that covers a cluster only partly first copies that cluster from the base.
// - Discard and write-zeroes make the clusters present and zero (a hole in the overlay): the
//   base's data never shows through again.
// - A new overlay is formatted when the overlay file is empty or missing. An existing one must
//   have been made for a base of exactly the same size, else open() refuses it.
// - Durability: the bitmap is written on flush() (and, best effort, when the disk is
//   destroyed). kWriteback orders it: data, fdatasync, bitmap, fdatasync, so the bitmap never
//   names a cluster whose data is not on disk. kUnsafe writes the bitmap without syncing: it
//   survives ember being killed, not the host crashing.
// - The base's identity beyond its size is not checked; pairing an overlay with a different
//   base image of the same size is the user's mistake to avoid.
#pragma once

#include "virtio/block/disk.hpp"

#include <bit>
#include <vector>

namespace ember::virtio::block {

// Offsets in comments. Stored as is: the format is little-endian, like every host we run on.
struct OverlayHeader {
    std::array<char, 8> magic; // 0:  "EMBEROVL"
    uint32_t version;          // 8:  kOverlayVersion
    uint32_t cluster_size;     // 12: bytes; a power of two in [512, 1 MiB]
    uint64_t base_size;        // 16: bytes in the base image the overlay was made for
    uint64_t bitmap_offset;    // 24: always 4096
    uint64_t bitmap_bytes;     // 32: ceil(clusters / 8)
    uint64_t data_offset;      // 40: see above
    uint64_t flags;            // 48: incompatible features; none defined, must be 0
};
static_assert(sizeof(OverlayHeader) == 56);
static_assert(std::endian::native == std::endian::little, "the overlay format is little-endian");

inline constexpr std::array<char, 8> kOverlayMagic = {'E', 'M', 'B', 'E', 'R', 'O', 'V', 'L'};
inline constexpr uint32_t kOverlayVersion = 1;

struct OverlayOptions {
    DiskOptions disk;             // read_only refuses writes; id defaults to the overlay file's
    uint32_t cluster_size = 4096; // used only when formatting a new overlay
};

class OverlayDisk final : public DiskBackend {
public:
    static constexpr uint64_t kHeaderSize = 4096;
    static constexpr uint32_t kMinClusterSize = 512;
    static constexpr uint32_t kMaxClusterSize = 1U << 20;

    static Result<std::unique_ptr<OverlayDisk>> open(const std::string& base_path,
                                                     const std::string& overlay_path,
                                                     const OverlayOptions& options);
    // Writes the bitmap if it changed since the last flush (errors are logged).
    ~OverlayDisk() override;
    OverlayDisk(const OverlayDisk&) = delete;
    OverlayDisk& operator=(const OverlayDisk&) = delete;
    OverlayDisk(OverlayDisk&&) = delete;
    OverlayDisk& operator=(OverlayDisk&&) = delete;

    [[nodiscard]] uint64_t capacity_sectors() const override { return disk_bytes_ >> kSectorShift; }
    [[nodiscard]] bool read_only() const override { return read_only_; }
    [[nodiscard]] CacheMode cache_mode() const override { return cache_mode_; }
    [[nodiscard]] const DiskId& id() const override { return id_; }
    [[nodiscard]] uint32_t cluster_size() const { return cluster_size_; }
    [[nodiscard]] bool cluster_present(uint64_t cluster) const;
    [[nodiscard]] uint64_t present_clusters() const;

    Result<void> read(uint64_t sector, std::span<const iovec> buffers) override;
    Result<void> write(uint64_t sector, std::span<const iovec> buffers) override;
    Result<void> flush() override;
    Result<void> discard(uint64_t sector, uint64_t num_sectors) override;
    Result<void> write_zeroes(uint64_t sector, uint64_t num_sectors, bool unmap) override;

private:
    OverlayDisk() = default;
    Result<void> format(uint64_t base_size, uint32_t cluster_size);
    Result<void> load(uint64_t base_size, const std::string& base_path);
    void set_layout(uint64_t base_size, uint32_t cluster_size);
    [[nodiscard]] Result<void> check_writable(std::string_view what) const;
    // Copies the clusters at either end of [offset, end) that the range covers only partly
    // and the overlay does not hold yet.
    Result<void> copy_up_edges(uint64_t offset, uint64_t end);
    Result<void> copy_up(uint64_t cluster);
    Result<void> zero(std::string_view what, uint64_t sector, uint64_t num_sectors, bool unmap);
    void mark_present(uint64_t first_cluster, uint64_t last_cluster);
    // Where the clusters from `offset`'s on stop being all present or all absent, capped at end.
    [[nodiscard]] uint64_t run_end(uint64_t offset, uint64_t end) const;
    Result<void> write_bitmap();

    UniqueFd base_;
    UniqueFd overlay_;
    std::string name_; // "overlay 'x' on base 'y'", for messages
    uint64_t disk_bytes_ = 0;
    uint32_t cluster_size_ = 0;
    uint64_t clusters_ = 0;
    uint64_t data_offset_ = 0;
    bool read_only_ = false;
    CacheMode cache_mode_ = CacheMode::kUnsafe;
    DiskId id_{};
    std::vector<uint8_t> bitmap_;
    // One flag per 4 KiB page of the bitmap: which pages flush() must write.
    std::vector<bool> dirty_pages_;
    bool bitmap_dirty_ = false;
    std::vector<std::byte> cluster_buf_; // copy-up staging, allocated once
    std::vector<iovec> scratch_iov_;     // slices of a request's buffers, reused
};

} // namespace ember::virtio::block
