#include "boot/linux/vmlinux.hpp"

#include "boot/placement.hpp"
#include "vmm/core/layout.hpp"

#include <algorithm>

namespace ember::boot {
namespace {

// e_entry as a physical address: as is when a segment loads that byte, else converted from the
// virtual address of a segment that holds it.
Result<uint64_t> physical_entry(const Elf64& elf, std::span<const KernelSegmentLoad> loads) {
    const uint64_t entry = elf.header().e_entry;
    for (const auto& s : loads)
        if (entry >= s.addr && entry - s.addr < s.data.size()) return entry;
    for (const auto& seg : elf.segments())
        if (entry >= seg.vaddr && entry - seg.vaddr < seg.file_size && seg.mem_size != 0)
            return seg.paddr + (entry - seg.vaddr);
    return make_error(Errc::kInvalidInput,
                      "ELF entry point e_entry {:#x} is inside the loaded bytes of no PT_LOAD "
                      "segment, as a physical (p_paddr) or a virtual (p_vaddr) address; the "
                      "kernel is linked wrongly",
                      entry);
}

} // namespace

Result<VmlinuxPlan> plan_vmlinux(const Elf64& elf, const GuestMemory& memory) {
    VmlinuxPlan plan;
    for (const auto& seg : elf.segments()) {
        if (seg.mem_size == 0) continue;
        EMBER_TRY_VOID(
            check_segment_placement(seg, memory, "zero page, page tables, command line"));
        plan.segments.push_back(
            {seg.index, seg.paddr, elf.file_data(seg), seg.mem_size - seg.file_size});
    }
    std::sort(plan.segments.begin(), plan.segments.end(),
              [](const auto& a, const auto& b) { return a.addr < b.addr; });
    for (size_t i = 1; i < plan.segments.size(); ++i) {
        const auto& lo = plan.segments[i - 1];
        const auto& hi = plan.segments[i];
        if (lo.end() > hi.addr)
            return make_error(Errc::kInvalidInput,
                              "segments {} [{:#x}, {:#x}) and {} [{:#x}, {:#x}) overlap in guest "
                              "physical memory (p_paddr)",
                              lo.phdr_index, lo.addr, lo.end(), hi.phdr_index, hi.addr, hi.end());
    }
    auto entry = physical_entry(elf, plan.segments);
    if (!entry) return tl::unexpected(std::move(entry.error()));
    plan.entry = *entry;
    return plan;
}

} // namespace ember::boot
