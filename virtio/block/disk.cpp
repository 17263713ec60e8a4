#include "virtio/block/disk.hpp"

#include "vmm/sys/logger.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace ember::virtio::block {
namespace {

enum class Direction { kRead, kWrite };

const char* verb(Direction dir) {
    return dir == Direction::kRead ? "read" : "write";
}

tl::unexpected<Error> end_of_file(Direction dir, uint64_t offset) {
    return tl::unexpected(Error(
        Errc::kOsError,
        fmt::format("{} at offset {}: end of file (did the image shrink?)", verb(dir), offset),
        EIO));
}

// One buffer, until done: finishes an iovec that preadv/pwritev moved only part of.
Result<void> transfer_one(int fd, uint64_t offset, char* data, size_t len, Direction dir) {
    while (len > 0) {
        const auto pos = static_cast<off_t>(offset);
        const ssize_t n =
            dir == Direction::kRead ? ::pread(fd, data, len, pos) : ::pwrite(fd, data, len, pos);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return sys_error(Errc::kOsError, "{} of {} bytes at offset {}", verb(dir), len, offset);
        if (n == 0) return end_of_file(dir, offset);
        const auto moved = static_cast<size_t>(n);
        data += moved;
        len -= moved;
        offset += moved;
    }
    return {};
}

Result<void> transfer(int fd, uint64_t offset, std::span<const iovec> iov, Direction dir) {
    for (;;) {
        while (!iov.empty() && iov.front().iov_len == 0)
            iov = iov.subspan(1);
        if (iov.empty()) return {};
        const auto count = static_cast<int>(std::min<size_t>(iov.size(), IOV_MAX));
        const auto pos = static_cast<off_t>(offset);
        const ssize_t n = dir == Direction::kRead ? ::preadv(fd, iov.data(), count, pos)
                                                  : ::pwritev(fd, iov.data(), count, pos);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error(Errc::kOsError, "{} at offset {}", verb(dir), offset);
        if (n == 0) return end_of_file(dir, offset);
        auto done = static_cast<size_t>(n);
        offset += done;
        while (!iov.empty() && iov.front().iov_len <= done) {
            done -= iov.front().iov_len;
            iov = iov.subspan(1);
        }
        if (done == 0) continue;
        // Short transfer in the middle of an iovec: finish that one alone.
        const iovec& part = iov.front();
        const size_t rest = part.iov_len - done;
        EMBER_TRY_VOID(
            transfer_one(fd, offset, static_cast<char*>(part.iov_base) + done, rest, dir));
        offset += rest;
        iov = iov.subspan(1);
    }
}

bool unsupported(int err) {
    return err == EOPNOTSUPP || err == ENOSYS || err == EINVAL;
}

Result<void> write_zero_bytes(int fd, uint64_t offset, uint64_t len) {
    static const std::array<char, size_t{64} * 1024> kZeroes{};
    while (len > 0) {
        const size_t chunk = std::min<uint64_t>(len, kZeroes.size());
        const ssize_t n = ::pwrite(fd, kZeroes.data(), chunk, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return sys_error(Errc::kOsError, "writing {} zero bytes at {}", chunk, offset);
        offset += static_cast<uint64_t>(n);
        len -= static_cast<uint64_t>(n);
    }
    return {};
}

int punch_hole(int fd, uint64_t offset, uint64_t len) {
    return ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                       static_cast<off_t>(len));
}

int zero_fill(int fd, uint64_t offset, uint64_t len) {
    return ::fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                       static_cast<off_t>(len));
}

} // namespace

// --- File helpers ---

Result<UniqueFd> open_image(const std::string& path, bool read_only, bool create) {
    int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    if (create && !read_only) flags |= O_CREAT;
    const int fd = ::open(path.c_str(), flags, 0600);
    if (fd >= 0) return UniqueFd(fd);
    if (errno == ENOENT) return sys_error(Errc::kNotFound, "disk image '{}' does not exist", path);
    if (!read_only && (errno == EACCES || errno == EROFS || errno == EPERM))
        return sys_error(Errc::kNotFound,
                         "cannot open disk image '{}' for writing (make the drive read-only if "
                         "the image is meant to be)",
                         path);
    return sys_error(Errc::kNotFound, "cannot open disk image '{}'", path);
}

Result<uint64_t> image_size(int fd) {
    const off_t end = ::lseek(fd, 0, SEEK_END); // works for block devices too, unlike fstat
    if (end < 0) return sys_error(Errc::kInvalidInput, "cannot find the size of the disk image");
    return static_cast<uint64_t>(end);
}

Result<DiskId> make_disk_id(std::string_view user, int fd) {
    DiskId id{};
    if (!user.empty()) {
        if (user.size() > id.size())
            return make_error(Errc::kInvalidArgument,
                              "disk id '{}' is {} bytes; virtio-blk allows at most {}", user,
                              user.size(), id.size());
        std::copy(user.begin(), user.end(), id.begin());
        return id;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) return sys_error(Errc::kOsError, "cannot stat the disk image");
    const std::string derived = fmt::format("{}{}{}", st.st_dev, st.st_rdev, st.st_ino);
    std::copy_n(derived.begin(), std::min(derived.size(), id.size()), id.begin());
    return id;
}

uint64_t total_length(std::span<const iovec> buffers) {
    uint64_t total = 0;
    for (const iovec& v : buffers)
        total += v.iov_len;
    return total;
}

Result<uint64_t> check_range(std::string_view what, uint64_t sector, uint64_t len,
                             uint64_t capacity_sectors) {
    const uint64_t capacity = capacity_sectors << kSectorShift;
    if (sector > capacity_sectors || len > capacity - (sector << kSectorShift))
        return make_error(Errc::kInvalidArgument,
                          "{} of {} bytes at sector {} goes past the end of the disk ({} sectors)",
                          what, len, sector, capacity_sectors);
    return sector << kSectorShift;
}

Result<uint64_t> check_sectors(std::string_view what, uint64_t sector, uint64_t num_sectors,
                               uint64_t capacity_sectors) {
    if (num_sectors > capacity_sectors) // also keeps the shift below from overflowing
        return make_error(Errc::kInvalidArgument,
                          "{} of {} sectors at sector {} goes past the end of the disk ({} "
                          "sectors)",
                          what, num_sectors, sector, capacity_sectors);
    return check_range(what, sector, num_sectors << kSectorShift, capacity_sectors);
}

Result<void> read_exact(int fd, uint64_t offset, std::span<const iovec> buffers) {
    return transfer(fd, offset, buffers, Direction::kRead);
}

Result<void> write_exact(int fd, uint64_t offset, std::span<const iovec> buffers) {
    return transfer(fd, offset, buffers, Direction::kWrite);
}

Result<void> zero_range(int fd, uint64_t offset, uint64_t len, bool unmap) {
    if (len == 0) return {};
    if (unmap && punch_hole(fd, offset, len) == 0) return {};
    if (unmap && !unsupported(errno))
        return sys_error(Errc::kOsError, "punching a hole of {} bytes at {}", len, offset);
    if (zero_fill(fd, offset, len) == 0) return {};
    if (!unsupported(errno))
        return sys_error(Errc::kOsError, "zeroing {} bytes at {}", len, offset);
    if (!unmap && punch_hole(fd, offset, len) == 0) return {};
    return write_zero_bytes(fd, offset, len);
}

// --- SyncDisk ---

Result<std::unique_ptr<SyncDisk>> SyncDisk::open(const std::string& path,
                                                 const DiskOptions& options) {
    auto fd = open_image(path, options.read_only);
    if (!fd) return tl::unexpected(std::move(fd.error()));
    return from_fd(std::move(*fd), path, options);
}

Result<std::unique_ptr<SyncDisk>> SyncDisk::from_fd(UniqueFd fd, std::string_view name,
                                                    const DiskOptions& options) {
    const std::string label = fmt::format("disk '{}'", name);
    const int access = ::fcntl(fd.get(), F_GETFL);
    if (access < 0) return sys_error(Errc::kInvalidArgument, "{}: bad file descriptor", label);
    if (!options.read_only && (access & O_ACCMODE) == O_RDONLY)
        return make_error(Errc::kInvalidArgument,
                          "{} was opened read-only but the drive is writable", label);
    auto size = block::image_size(fd.get());
    if (!size) return tl::unexpected(std::move(size.error()).with_context(label));
    auto id = make_disk_id(options.id, fd.get());
    if (!id) return tl::unexpected(std::move(id.error()).with_context(label));
    if (*size % kSectorSize != 0)
        log::warn("{}: size {} is not a multiple of {}; the last {} bytes are not visible to the "
                  "guest",
                  label, *size, kSectorSize, *size % kSectorSize);

    std::unique_ptr<SyncDisk> disk(new SyncDisk());
    disk->fd_ = std::move(fd);
    disk->name_ = label;
    disk->image_size_ = *size;
    disk->sectors_ = *size >> kSectorShift;
    disk->read_only_ = options.read_only;
    disk->cache_mode_ = options.cache_mode;
    disk->id_ = *id;
    return disk;
}

Result<void> SyncDisk::check_writable(std::string_view what) const {
    if (!read_only_) return {};
    return make_error(Errc::kInvalidArgument, "{} is read-only: {} refused", name_, what);
}

Result<void> SyncDisk::read(uint64_t sector, std::span<const iovec> buffers) {
    auto offset = check_range("read", sector, total_length(buffers), sectors_);
    if (!offset) return tl::unexpected(std::move(offset.error()).with_context(name_));
    return with_context(read_exact(fd_.get(), *offset, buffers), name_);
}

Result<void> SyncDisk::write(uint64_t sector, std::span<const iovec> buffers) {
    EMBER_TRY_VOID(check_writable("write"));
    auto offset = check_range("write", sector, total_length(buffers), sectors_);
    if (!offset) return tl::unexpected(std::move(offset.error()).with_context(name_));
    return with_context(write_exact(fd_.get(), *offset, buffers), name_);
}

Result<void> SyncDisk::flush() {
    if (cache_mode_ == CacheMode::kUnsafe || read_only_) return {};
    if (::fdatasync(fd_.get()) != 0) return sys_error(Errc::kOsError, "{}: fdatasync", name_);
    return {};
}

Result<void> SyncDisk::discard(uint64_t sector, uint64_t num_sectors) {
    EMBER_TRY_VOID(check_writable("discard"));
    auto offset = check_sectors("discard", sector, num_sectors, sectors_);
    if (!offset) return tl::unexpected(std::move(offset.error()).with_context(name_));
    if (num_sectors == 0) return {};
    if (punch_hole(fd_.get(), *offset, num_sectors << kSectorShift) == 0) return {};
    // Discard is a hint: a filesystem that cannot punch holes just keeps the data.
    if (unsupported(errno)) return {};
    return sys_error(Errc::kOsError, "{}: discard of {} sectors at {}", name_, num_sectors, sector);
}

Result<void> SyncDisk::write_zeroes(uint64_t sector, uint64_t num_sectors, bool unmap) {
    EMBER_TRY_VOID(check_writable("write zeroes"));
    auto offset = check_sectors("write zeroes", sector, num_sectors, sectors_);
    if (!offset) return tl::unexpected(std::move(offset.error()).with_context(name_));
    return with_context(zero_range(fd_.get(), *offset, num_sectors << kSectorShift, unmap), name_);
}

} // namespace ember::virtio::block
