// Placement of an ELF vmlinux for the Linux 64-bit boot protocol: the PT_LOAD segments go at
// their p_paddr (16 MiB, LOAD_PHYSICAL_ADDR, for a default Linux build) and the vCPU starts at
// e_entry, which Linux links as a physical address (vmlinux.lds.S: ENTRY(phys_startup_64)).
// An e_entry that is virtual (inside a segment's p_vaddr range but no p_paddr range) is
// converted to the physical address of the same byte.
//
// Pure: plan_vmlinux() decides, it touches no guest memory. The plan points into the ELF's bytes.
#pragma once

#include "boot/elf/elf64.hpp"
#include "vmm/core/guest_memory.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace ember::boot {

// One piece of the kernel to carry out: copy `data` to `addr`, then make the next zero_size
// bytes zero.
struct KernelSegmentLoad {
    uint16_t phdr_index = 0; // for messages; 0 for a bzImage's single piece
    GuestAddr addr = 0;
    std::span<const std::byte> data;
    uint64_t zero_size = 0;
    [[nodiscard]] GuestAddr end() const { return addr + data.size() + zero_size; }
};

struct VmlinuxPlan {
    uint64_t entry = 0;                      // physical
    std::vector<KernelSegmentLoad> segments; // sorted by address, disjoint, non-empty
};

// Checks every PT_LOAD of `elf` against `memory` (above 1 MiB, outside the 32-bit MMIO gap,
// inside RAM, no overlaps) and the entry (inside a segment's loaded bytes). Errors carry no
// context prefix (the caller adds it): kInvalidInput for a kernel that is linked wrongly,
// kInvalidArgument when raising --mem-mib fixes it.
[[nodiscard]] Result<VmlinuxPlan> plan_vmlinux(const Elf64& elf, const GuestMemory& memory);

} // namespace ember::boot
