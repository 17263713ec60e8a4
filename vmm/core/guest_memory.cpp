#include "vmm/core/guest_memory.hpp"

#include "vmm/core/layout.hpp"

#include <sys/mman.h>

#include <algorithm>

namespace ember {

Result<GuestMemory> GuestMemory::create(std::span<const GuestRegion> regions) {
    if (regions.empty()) return make_error(Errc::kInvalidArgument, "guest memory has no regions");
    std::vector<MmapRegion> maps;
    std::vector<Mapping> mappings;
    maps.reserve(regions.size());
    mappings.reserve(regions.size());
    GuestAddr prev_end = 0;
    for (const auto& r : regions) {
        if (r.size == 0 || r.start % layout::kPageSize != 0 || r.size % layout::kPageSize != 0)
            return make_error(
                Errc::kInvalidArgument,
                "guest memory region [{:#x}, +{:#x}) must be page-aligned and non-empty", r.start,
                r.size);
        if (r.start + r.size < r.start)
            return make_error(Errc::kInvalidArgument,
                              "guest memory region at {:#x} overflows the address space", r.start);
        if (!mappings.empty() && r.start < prev_end)
            return make_error(Errc::kInvalidArgument,
                              "guest memory region at {:#x} overlaps or precedes the one before",
                              r.start);
        auto map = MmapRegion::anonymous(r.size);
        if (!map)
            return tl::unexpected(
                std::move(map.error())
                    .with_context(fmt::format("guest RAM of {} MiB", r.size / layout::kMiB)));
        // A forked helper (the background teardown) must not copy guest memory.
        (void)::madvise(map->data(), r.size, MADV_DONTFORK);
        mappings.push_back({r, map->data()});
        maps.push_back(std::move(*map));
        prev_end = r.end();
    }
    return GuestMemory(std::move(maps), std::move(mappings));
}

std::vector<GuestRegion> GuestMemory::x86_regions(uint64_t size) {
    std::vector<GuestRegion> out;
    const uint64_t low = std::min(size, layout::kMmioGapStart);
    out.push_back({0, low});
    if (size > low) out.push_back({layout::kMmioGapEnd, size - low});
    return out;
}

uint64_t GuestMemory::total_size() const {
    uint64_t total = 0;
    for (const auto& m : mappings_)
        total += m.region.size;
    return total;
}

const GuestMemory::Mapping* GuestMemory::find(GuestAddr addr) const {
    // Few regions (two on x86): a linear scan beats anything cleverer.
    for (const auto& m : mappings_)
        if (addr >= m.region.start && addr < m.region.end()) return &m;
    return nullptr;
}

bool GuestMemory::contains(GuestAddr addr, uint64_t len) const {
    const Mapping* m = find(addr);
    if (m == nullptr) return false;
    // Written to avoid overflow: the remaining room in the region, compared with len.
    return len <= m->region.end() - addr;
}

Result<std::span<std::byte>> GuestMemory::span(GuestAddr addr, uint64_t len) const {
    const Mapping* m = find(addr);
    if (m == nullptr)
        return make_error(Errc::kInvalidInput, "guest address {:#x} is not in guest RAM", addr);
    if (len > m->region.end() - addr)
        return make_error(Errc::kInvalidInput,
                          "guest range [{:#x}, +{:#x}) runs past the end of guest RAM at {:#x}",
                          addr, len, m->region.end());
    return std::span<std::byte>(m->host + (addr - m->region.start), len);
}

Result<void> GuestMemory::read(GuestAddr addr, std::span<std::byte> out) const {
    auto s = span(addr, out.size());
    if (!s) return tl::unexpected(std::move(s.error()));
    std::memcpy(out.data(), s->data(), out.size());
    return {};
}

Result<void> GuestMemory::write(GuestAddr addr, std::span<const std::byte> in) const {
    auto s = span(addr, in.size());
    if (!s) return tl::unexpected(std::move(s.error()));
    std::memcpy(s->data(), in.data(), in.size());
    return {};
}

} // namespace ember
