#include "boot/linux/vmlinux.hpp"

#include "vmm/core/layout.hpp"

#include <algorithm>

namespace ember::boot {
namespace {

using layout::kMiB;

uint64_t mib_ceil(uint64_t bytes) {
    return (bytes + kMiB - 1) / kMiB;
}

Result<void> check_placement(const ElfSegment& seg, const GuestMemory& memory) {
    const uint64_t end = seg.paddr + seg.mem_size; // no overflow: Elf64::parse checked
    if (seg.paddr < layout::kHighMemoryStart)
        return make_error(Errc::kInvalidInput,
                          "segment {} [{:#x}, {:#x}) overlaps the boot area below 1 MiB (zero "
                          "page, page tables, command line); link the kernel at 1 MiB ({:#x}) or "
                          "above",
                          seg.index, seg.paddr, end, layout::kHighMemoryStart);
    if (seg.paddr < layout::kMmioGapEnd && end > layout::kMmioGapStart)
        return make_error(Errc::kInvalidInput,
                          "segment {} [{:#x}, {:#x}) lies in the 32-bit MMIO gap [{:#x}, {:#x}) "
                          "that ember keeps for devices; link the kernel below 3 GiB",
                          seg.index, seg.paddr, end, layout::kMmioGapStart, layout::kMmioGapEnd);
    if (!memory.contains(seg.paddr, seg.mem_size)) {
        const uint64_t needed = end > layout::kMmioGapEnd ? end - layout::kMmioGapSize : end;
        return make_error(Errc::kInvalidArgument,
                          "segment {} [{:#x}, {:#x}) lies outside guest RAM of {} MiB; raise "
                          "--mem-mib to at least {}",
                          seg.index, seg.paddr, end, memory.total_size() / kMiB, mib_ceil(needed));
    }
    return {};
}

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
        EMBER_TRY_VOID(check_placement(seg, memory));
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
