// Placement helpers shared by the loaders (PVH, vmlinux, bzImage): alignment, the end of low
// RAM, where an ELF segment may go, and zeroing a range without dirtying zero pages.
#pragma once

#include "boot/elf/elf64.hpp"
#include "vmm/core/guest_memory.hpp"
#include "vmm/sys/result.hpp"

#include <cstdint>
#include <string_view>

namespace ember::boot {

[[nodiscard]] constexpr uint64_t align_down(uint64_t value, uint64_t align) {
    return value & ~(align - 1);
}
[[nodiscard]] constexpr uint64_t align_up(uint64_t value, uint64_t align) {
    return (value + align - 1) & ~(align - 1);
}
// Whole MiB needed to hold `bytes`, for "raise --mem-mib to at least N" messages.
[[nodiscard]] constexpr uint64_t mib_ceil(uint64_t bytes) {
    constexpr uint64_t kMiB = 1ULL << 20;
    return (bytes + kMiB - 1) / kMiB;
}

// The end of the RAM region that holds 1 MiB, capped at the MMIO gap; 0 when there is none.
[[nodiscard]] uint64_t low_ram_end(const GuestMemory& memory);

// Where one PT_LOAD (by p_paddr) may go: at or above 1 MiB (below is `boot_area`, named in the
// message), outside the 32-bit MMIO gap, inside guest RAM (else: raise --mem-mib to at least N).
Result<void> check_segment_placement(const ElfSegment& seg, const GuestMemory& memory,
                                     std::string_view boot_area);

// Makes [addr, addr + len) zero, writing only the pages that are not zero already: fresh
// anonymous guest memory is zero and reading it maps the shared zero page, so a large bss costs
// no RSS until the guest writes it; reused memory (a reboot) still ends up zeroed.
Result<void> zero_range(const GuestMemory& memory, GuestAddr addr, uint64_t len);

} // namespace ember::boot
