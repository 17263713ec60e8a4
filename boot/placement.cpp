#include "boot/placement.hpp"

#include "vmm/core/layout.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace ember::boot {

uint64_t low_ram_end(const GuestMemory& memory) {
    for (const auto& m : memory.mappings())
        if (m.region.start <= layout::kHighMemoryStart && layout::kHighMemoryStart < m.region.end())
            return std::min(m.region.end(), layout::kMmioGapStart);
    return 0;
}

Result<void> check_segment_placement(const ElfSegment& seg, const GuestMemory& memory,
                                     std::string_view boot_area) {
    const uint64_t end = seg.paddr + seg.mem_size; // no overflow: Elf64::parse checked
    if (seg.paddr < layout::kHighMemoryStart)
        return make_error(Errc::kInvalidInput,
                          "segment {} [{:#x}, {:#x}) overlaps the boot area below 1 MiB ({}); "
                          "link the kernel at 1 MiB ({:#x}) or above",
                          seg.index, seg.paddr, end, boot_area, layout::kHighMemoryStart);
    if (seg.paddr < layout::kMmioGapEnd && end > layout::kMmioGapStart)
        return make_error(Errc::kInvalidInput,
                          "segment {} [{:#x}, {:#x}) lies in the 32-bit MMIO gap [{:#x}, {:#x}) "
                          "that ember keeps for devices; link the kernel below 3 GiB",
                          seg.index, seg.paddr, end, layout::kMmioGapStart, layout::kMmioGapEnd);
    if (!memory.contains(seg.paddr, seg.mem_size)) {
        // RAM above 4 GiB holds what does not fit below the gap.
        const uint64_t needed = end > layout::kMmioGapEnd ? end - layout::kMmioGapSize : end;
        return make_error(Errc::kInvalidArgument,
                          "segment {} [{:#x}, {:#x}) lies outside guest RAM of {} MiB; raise "
                          "--mem-mib to at least {}",
                          seg.index, seg.paddr, end, memory.total_size() / layout::kMiB,
                          mib_ceil(needed));
    }
    return {};
}

Result<void> zero_range(const GuestMemory& memory, GuestAddr addr, uint64_t len) {
    static constexpr std::array<std::byte, layout::kPageSize> kZeros{};
    auto span = memory.span(addr, len);
    if (!span) return tl::unexpected(std::move(span.error()));
    uint64_t done = 0;
    while (done < len) {
        const uint64_t chunk =
            std::min(len - done, layout::kPageSize - (addr + done) % layout::kPageSize);
        std::byte* p = span->data() + done;
        if (std::memcmp(p, kZeros.data(), chunk) != 0) std::memset(p, 0, chunk);
        done += chunk;
    }
    return {};
}

} // namespace ember::boot
