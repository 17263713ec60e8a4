#include "virtio/block/overlay_disk.hpp"

#include "vmm/sys/logger.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace ember::virtio::block {
namespace {

constexpr uint64_t kPage = 4096;

constexpr uint64_t align_up(uint64_t v, uint64_t alignment) {
    return (v + alignment - 1) / alignment * alignment;
}

template <class T> tl::unexpected<Error> fail(Result<T>& r, std::string_view context) {
    return tl::unexpected(std::move(r.error()).with_context(context));
}

// Walks a request's buffers, handing out the slices that cover consecutive byte ranges.
class IovCursor {
public:
    explicit IovCursor(std::span<const iovec> iov) : iov_(iov) {}

    void take(uint64_t len, std::vector<iovec>& out) {
        out.clear();
        while (len > 0 && index_ < iov_.size()) {
            const iovec& v = iov_[index_];
            const size_t n = std::min<uint64_t>(v.iov_len - offset_, len);
            if (n > 0) out.push_back(iovec{static_cast<char*>(v.iov_base) + offset_, n});
            offset_ += n;
            len -= n;
            if (offset_ == v.iov_len) {
                ++index_;
                offset_ = 0;
            }
        }
    }

private:
    std::span<const iovec> iov_;
    size_t index_ = 0;
    size_t offset_ = 0;
};

bool valid_cluster_size(uint32_t size) {
    return std::has_single_bit(size) && size >= OverlayDisk::kMinClusterSize &&
           size <= OverlayDisk::kMaxClusterSize;
}

Result<void> sync(int fd, std::string_view name) {
    if (::fdatasync(fd) != 0) return sys_error(Errc::kOsError, "{}: fdatasync", name);
    return {};
}

} // namespace

Result<std::unique_ptr<OverlayDisk>> OverlayDisk::open(const std::string& base_path,
                                                       const std::string& overlay_path,
                                                       const OverlayOptions& options) {
    auto base = open_image(base_path, /*read_only=*/true);
    if (!base) return fail(base, "overlay base");
    auto base_size = image_size(base->get());
    if (!base_size) return fail(base_size, fmt::format("base '{}'", base_path));
    auto overlay = open_image(overlay_path, options.disk.read_only, /*create=*/true);
    if (!overlay) return fail(overlay, "overlay");
    auto overlay_size = image_size(overlay->get());
    if (!overlay_size) return fail(overlay_size, fmt::format("overlay '{}'", overlay_path));

    std::unique_ptr<OverlayDisk> disk(new OverlayDisk());
    disk->base_ = std::move(*base);
    disk->overlay_ = std::move(*overlay);
    disk->name_ = fmt::format("overlay '{}' on base '{}'", overlay_path, base_path);
    disk->read_only_ = options.disk.read_only;
    disk->cache_mode_ = options.disk.cache_mode;
    if (*overlay_size == 0) {
        if (options.disk.read_only)
            return make_error(Errc::kInvalidInput,
                              "overlay '{}' is empty and the drive is read-only, so it cannot be "
                              "formatted",
                              overlay_path);
        EMBER_TRY_VOID(disk->format(*base_size, options.cluster_size));
    } else {
        if (*overlay_size < kHeaderSize)
            return make_error(Errc::kInvalidInput,
                              "overlay '{}' is {} bytes, too small for an ember overlay (use an "
                              "empty file to start a new one)",
                              overlay_path, *overlay_size);
        EMBER_TRY_VOID(disk->load(*base_size, base_path));
        if (*overlay_size < disk->data_offset_ + disk->disk_bytes_)
            return make_error(Errc::kInvalidInput,
                              "overlay '{}' is truncated: {} bytes, its header needs {}",
                              overlay_path, *overlay_size, disk->data_offset_ + disk->disk_bytes_);
    }
    auto id = make_disk_id(options.disk.id, disk->overlay_.get());
    if (!id) return fail(id, disk->name_);
    disk->id_ = *id;
    disk->cluster_buf_.resize(disk->cluster_size_);
    return disk;
}

OverlayDisk::~OverlayDisk() {
    if (!overlay_ || read_only_ || !bitmap_dirty_) return;
    if (auto r = write_bitmap(); !r) log::error("{}: {}", name_, r.error().describe());
}

void OverlayDisk::set_layout(uint64_t base_size, uint32_t cluster_size) {
    disk_bytes_ = base_size & ~(kSectorSize - 1);
    cluster_size_ = cluster_size;
    clusters_ = (disk_bytes_ + cluster_size - 1) / cluster_size;
    const uint64_t bitmap_bytes = (clusters_ + 7) / 8;
    data_offset_ = align_up(align_up(kHeaderSize + bitmap_bytes, kPage), cluster_size);
    bitmap_.assign(bitmap_bytes, 0);
    dirty_pages_.assign((bitmap_bytes + kPage - 1) / kPage, false);
}

Result<void> OverlayDisk::format(uint64_t base_size, uint32_t cluster_size) {
    if (!valid_cluster_size(cluster_size))
        return make_error(Errc::kInvalidArgument,
                          "{}: cluster size {} must be a power of two from {} to {}", name_,
                          cluster_size, kMinClusterSize, kMaxClusterSize);
    set_layout(base_size, cluster_size);
    const OverlayHeader header{kOverlayMagic, kOverlayVersion, cluster_size, base_size,
                               kHeaderSize,   bitmap_.size(),  data_offset_, 0};
    std::array<std::byte, kHeaderSize> page{};
    std::memcpy(page.data(), &header, sizeof header);
    // Size first: the data area is a hole until written, and the bitmap reads as all clear.
    if (::ftruncate(overlay_.get(), static_cast<off_t>(data_offset_ + disk_bytes_)) != 0)
        return sys_error(Errc::kOsError, "{}: cannot size the new overlay", name_);
    const iovec v{page.data(), page.size()};
    if (auto r = write_exact(overlay_.get(), 0, {&v, 1}); !r) return fail(r, name_);
    return sync(overlay_.get(), name_);
}

Result<void> OverlayDisk::load(uint64_t base_size, const std::string& base_path) {
    OverlayHeader h{};
    const iovec hv{&h, sizeof h};
    if (auto r = read_exact(overlay_.get(), 0, {&hv, 1}); !r) return fail(r, name_);
    if (h.magic != kOverlayMagic)
        return make_error(Errc::kInvalidInput,
                          "{}: not an ember overlay (bad magic); use an empty file to start a "
                          "new one",
                          name_);
    if (h.version != kOverlayVersion || h.flags != 0)
        return make_error(Errc::kInvalidInput,
                          "{}: unsupported format version {} with flags {:#x} (this ember "
                          "reads version {}, flags 0)",
                          name_, h.version, h.flags, kOverlayVersion);
    if (!valid_cluster_size(h.cluster_size))
        return make_error(Errc::kInvalidInput, "{}: corrupt header: cluster size {}", name_,
                          h.cluster_size);
    if (h.base_size != base_size)
        return make_error(Errc::kInvalidInput,
                          "{}: the overlay was made for a base of {} bytes, but '{}' has {} "
                          "bytes; use the base it was made from, or an empty overlay file",
                          name_, h.base_size, base_path, base_size);
    set_layout(h.base_size, h.cluster_size);
    if (h.bitmap_offset != kHeaderSize || h.bitmap_bytes != bitmap_.size() ||
        h.data_offset != data_offset_)
        return make_error(Errc::kInvalidInput,
                          "{}: corrupt header: bitmap at {} ({} bytes) and data at {}, expected "
                          "{} ({} bytes) and {}",
                          name_, h.bitmap_offset, h.bitmap_bytes, h.data_offset, kHeaderSize,
                          bitmap_.size(), data_offset_);
    const iovec bv{bitmap_.data(), bitmap_.size()};
    if (auto r = read_exact(overlay_.get(), kHeaderSize, {&bv, 1}); !r) return fail(r, name_);
    const uint64_t tail_bits = clusters_ % 8;
    if (tail_bits != 0 && (bitmap_.back() >> tail_bits) != 0)
        return make_error(Errc::kInvalidInput, "{}: corrupt bitmap: bits set past the last cluster",
                          name_);
    return {};
}

bool OverlayDisk::cluster_present(uint64_t cluster) const {
    return cluster < clusters_ && ((bitmap_[cluster / 8] >> (cluster % 8)) & 1U) != 0;
}

uint64_t OverlayDisk::present_clusters() const {
    uint64_t n = 0;
    for (uint8_t byte : bitmap_)
        n += static_cast<uint64_t>(std::popcount(byte));
    return n;
}

void OverlayDisk::mark_present(uint64_t first_cluster, uint64_t last_cluster) {
    for (uint64_t c = first_cluster; c <= last_cluster; ++c) {
        bitmap_[c / 8] = static_cast<uint8_t>(bitmap_[c / 8] | (1U << (c % 8)));
        dirty_pages_[c / 8 / kPage] = true;
    }
    bitmap_dirty_ = true;
}

uint64_t OverlayDisk::run_end(uint64_t offset, uint64_t end) const {
    const bool present = cluster_present(offset / cluster_size_);
    uint64_t next = (offset / cluster_size_ + 1) * cluster_size_;
    while (next < end && cluster_present(next / cluster_size_) == present)
        next += cluster_size_;
    return std::min(next, end);
}

Result<void> OverlayDisk::check_writable(std::string_view what) const {
    if (!read_only_) return {};
    return make_error(Errc::kInvalidArgument, "{} is read-only: {} refused", name_, what);
}

Result<void> OverlayDisk::read(uint64_t sector, std::span<const iovec> buffers) {
    const uint64_t len = total_length(buffers);
    auto offset = check_range("read", sector, len, capacity_sectors());
    if (!offset) return fail(offset, name_);
    const uint64_t end = *offset + len;
    auto read_run = [&](uint64_t pos, std::span<const iovec> iov) {
        const bool present = cluster_present(pos / cluster_size_);
        return present ? read_exact(overlay_.get(), data_offset_ + pos, iov)
                       : read_exact(base_.get(), pos, iov);
    };
    if (len == 0) return {};
    if (run_end(*offset, end) == end) return with_context(read_run(*offset, buffers), name_);
    IovCursor cursor(buffers);
    for (uint64_t pos = *offset; pos < end;) {
        const uint64_t stop = run_end(pos, end);
        cursor.take(stop - pos, scratch_iov_);
        if (auto r = read_run(pos, scratch_iov_); !r) return fail(r, name_);
        pos = stop;
    }
    return {};
}

Result<void> OverlayDisk::copy_up(uint64_t cluster) {
    const uint64_t start = cluster * cluster_size_;
    const iovec v{cluster_buf_.data(), std::min<uint64_t>(cluster_size_, disk_bytes_ - start)};
    EMBER_TRY_VOID(read_exact(base_.get(), start, {&v, 1}));
    return write_exact(overlay_.get(), data_offset_ + start, {&v, 1});
}

Result<void> OverlayDisk::copy_up_edges(uint64_t offset, uint64_t end) {
    const uint64_t first = offset / cluster_size_;
    const uint64_t last = (end - 1) / cluster_size_;
    auto partly_covered = [&](uint64_t c) {
        const uint64_t start = c * cluster_size_;
        const uint64_t stop = std::min<uint64_t>(start + cluster_size_, disk_bytes_);
        return offset > start || end < stop;
    };
    if (!cluster_present(first) && partly_covered(first)) EMBER_TRY_VOID(copy_up(first));
    if (last != first && !cluster_present(last) && partly_covered(last))
        EMBER_TRY_VOID(copy_up(last));
    return {};
}

Result<void> OverlayDisk::write(uint64_t sector, std::span<const iovec> buffers) {
    EMBER_TRY_VOID(check_writable("write"));
    const uint64_t len = total_length(buffers);
    auto offset = check_range("write", sector, len, capacity_sectors());
    if (!offset) return fail(offset, name_);
    if (len == 0) return {};
    const uint64_t end = *offset + len;
    if (auto r = copy_up_edges(*offset, end); !r) return fail(r, name_);
    if (auto r = write_exact(overlay_.get(), data_offset_ + *offset, buffers); !r)
        return fail(r, name_);
    mark_present(*offset / cluster_size_, (end - 1) / cluster_size_);
    return {};
}

Result<void> OverlayDisk::zero(std::string_view what, uint64_t sector, uint64_t num_sectors,
                               bool unmap) {
    EMBER_TRY_VOID(check_writable(what));
    auto offset = check_sectors(what, sector, num_sectors, capacity_sectors());
    if (!offset) return fail(offset, name_);
    if (num_sectors == 0) return {};
    const uint64_t end = *offset + (num_sectors << kSectorShift);
    if (auto r = copy_up_edges(*offset, end); !r) return fail(r, name_);
    if (auto r = zero_range(overlay_.get(), data_offset_ + *offset, end - *offset, unmap); !r)
        return fail(r, name_);
    mark_present(*offset / cluster_size_, (end - 1) / cluster_size_);
    return {};
}

Result<void> OverlayDisk::discard(uint64_t sector, uint64_t num_sectors) {
    return zero("discard", sector, num_sectors, /*unmap=*/true);
}

Result<void> OverlayDisk::write_zeroes(uint64_t sector, uint64_t num_sectors, bool unmap) {
    return zero("write zeroes", sector, num_sectors, unmap);
}

Result<void> OverlayDisk::write_bitmap() {
    for (size_t page = 0; page < dirty_pages_.size();) {
        if (!dirty_pages_[page]) {
            ++page;
            continue;
        }
        size_t stop = page;
        while (stop < dirty_pages_.size() && dirty_pages_[stop])
            ++stop;
        const uint64_t begin = page * kPage;
        const uint64_t finish = std::min<uint64_t>(stop * kPage, bitmap_.size());
        const iovec v{bitmap_.data() + begin, finish - begin};
        EMBER_TRY_VOID(write_exact(overlay_.get(), kHeaderSize + begin, {&v, 1}));
        std::fill(dirty_pages_.begin() + static_cast<ptrdiff_t>(page),
                  dirty_pages_.begin() + static_cast<ptrdiff_t>(stop), false);
        page = stop;
    }
    bitmap_dirty_ = false;
    return {};
}

Result<void> OverlayDisk::flush() {
    if (read_only_) return {};
    const bool durable = cache_mode_ == CacheMode::kWriteback;
    // Data before the bitmap that names it, so a crash never exposes unwritten clusters.
    if (durable) EMBER_TRY_VOID(sync(overlay_.get(), name_));
    if (!bitmap_dirty_) return {};
    if (auto r = write_bitmap(); !r) return fail(r, name_);
    if (durable) EMBER_TRY_VOID(sync(overlay_.get(), name_));
    return {};
}

} // namespace ember::virtio::block
