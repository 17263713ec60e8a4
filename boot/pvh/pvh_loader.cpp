#include "boot/pvh/pvh_loader.hpp"

#include "boot/placement.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace ember::boot {
namespace {

using layout::kMiB;
using layout::kPageSize;

uint64_t end_of(const PvhSegmentLoad& s) {
    return s.addr + s.data.size() + s.zero_size;
}

// The PVH entry: the descriptor of the Xen PHYS32_ENTRY note, 4 bytes (or 8, as Linux emits it
// with _ASM_PTR, whose upper half must then be zero).
Result<uint32_t> find_entry(const Elf64& elf) {
    const ElfNote* note = elf.find_note("Xen", kXenElfnotePhys32Entry);
    if (note == nullptr)
        return make_error(Errc::kInvalidInput,
                          "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); ember accepts PVH ELF "
                          "kernels now (Linux vmlinux/bzImage support is planned); build Linux "
                          "with CONFIG_PVH=y");
    if (note->desc.size() != 4 && note->desc.size() != 8)
        return make_error(Errc::kInvalidInput,
                          "PVH entry note (program header {}) has a {}-byte descriptor; the "
                          "entry address takes 4 or 8",
                          note->phdr_index, note->desc.size());
    uint64_t entry = 0; // little-endian on a little-endian host
    std::memcpy(&entry, note->desc.data(), note->desc.size());
    if (entry > UINT32_MAX)
        return make_error(Errc::kInvalidInput,
                          "PVH entry {:#x} is above 4 GiB; the PVH entry is a 32-bit physical "
                          "address",
                          entry);
    return static_cast<uint32_t>(entry);
}

// Checks every PT_LOAD and returns them sorted by address. Empty segments load nothing.
Result<std::vector<PvhSegmentLoad>> plan_segments(const Elf64& elf, const GuestMemory& memory) {
    std::vector<PvhSegmentLoad> loads;
    for (const auto& seg : elf.segments()) {
        if (seg.mem_size == 0) continue;
        EMBER_TRY_VOID(check_segment_placement(
            seg, memory,
            fmt::format("start info at {:#x}, command line at {:#x}, legacy hole from {:#x}",
                        kPvhStartInfoAddr, layout::kCmdlineAddr, kPvhLowRamEnd)));
        loads.push_back({seg.index, seg.paddr, elf.file_data(seg), seg.mem_size - seg.file_size});
    }
    std::sort(loads.begin(), loads.end(),
              [](const auto& a, const auto& b) { return a.addr < b.addr; });
    for (size_t i = 1; i < loads.size(); ++i) {
        const auto& lo = loads[i - 1];
        const auto& hi = loads[i];
        if (end_of(lo) > hi.addr)
            return make_error(Errc::kInvalidInput,
                              "segments {} [{:#x}, {:#x}) and {} [{:#x}, {:#x}) overlap in guest "
                              "physical memory (p_paddr)",
                              lo.phdr_index, lo.addr, end_of(lo), hi.phdr_index, hi.addr,
                              end_of(hi));
    }
    return loads;
}

// The entry must be an instruction the copy puts there, not bss or a hole.
Result<void> check_entry(uint32_t entry, std::span<const PvhSegmentLoad> loads) {
    for (const auto& s : loads)
        if (entry >= s.addr && entry - s.addr < s.data.size()) return {};
    return make_error(
        Errc::kInvalidInput,
        "PVH entry {:#x} (XEN_ELFNOTE_PHYS32_ENTRY) is not inside the loaded bytes of "
        "any PT_LOAD segment; the kernel is linked wrongly",
        entry);
}

Result<void> check_cmdline(std::string_view cmdline, const GuestMemory& memory) {
    if (cmdline.size() + 1 > layout::kCmdlineMax)
        return make_error(Errc::kInvalidArgument,
                          "command line of {} bytes is too long; ember takes at most {} bytes",
                          cmdline.size(), layout::kCmdlineMax - 1);
    if (const auto nul = cmdline.find('\0'); nul != std::string_view::npos)
        return make_error(Errc::kInvalidArgument, "command line has a NUL byte at offset {}", nul);
    if (!memory.contains(kPvhStartInfoAddr, kPageSize) ||
        !memory.contains(layout::kCmdlineAddr, layout::kCmdlineMax))
        return make_error(Errc::kInvalidArgument,
                          "guest RAM of {} MiB does not hold the boot structures below 1 MiB",
                          memory.total_size() / kMiB);
    return {};
}

// The end of the RAM that starts below the MMIO gap and holds the kernel (1 MiB).

// The highest page-aligned address below the end of low RAM where `size` bytes overlap no
// segment: Linux keeps an initrd where it is if it can, so high keeps it out of the kernel's way.
Result<GuestAddr> place_initrd(const KernelImage& initrd, std::span<const PvhSegmentLoad> loads,
                               const GuestMemory& memory, GuestAddr kernel_end) {
    const uint64_t size = initrd.bytes().size();
    const uint64_t top = low_ram_end(memory);
    bool fits = size <= top;
    GuestAddr addr = fits ? align_down(top - size, kPageSize) : 0;
    // Segments are sorted and disjoint: walk them from the top, moving below each one in the way.
    for (auto it = loads.rbegin(); fits && it != loads.rend(); ++it) {
        if (end_of(*it) <= addr) break;
        if (it->addr >= addr + size) continue;
        fits = it->addr >= size;
        addr = fits ? align_down(it->addr - size, kPageSize) : 0;
    }
    if (fits && addr >= layout::kHighMemoryStart) return addr;
    return make_error(Errc::kInvalidArgument,
                      "{} of {} MiB does not fit in guest RAM of {} MiB above the kernel; raise "
                      "--mem-mib to at least {} (the initrd goes below 3 GiB)",
                      initrd.context(), mib_ceil(size), memory.total_size() / kMiB,
                      mib_ceil(align_up(kernel_end, kPageSize) + size));
}

// RAM as the guest memory has it, minus [kPvhLowRamEnd, 1 MiB) which is reported reserved.
Result<std::vector<HvmMemmapTableEntry>> build_memmap(const GuestMemory& memory) {
    std::vector<HvmMemmapTableEntry> map;
    auto add = [&map](uint64_t lo, uint64_t hi, HvmMemmapType type) {
        if (lo < hi) map.push_back({lo, hi - lo, type, 0});
    };
    add(kPvhLowRamEnd, layout::kHighMemoryStart, HvmMemmapType::kReserved);
    for (const auto& m : memory.mappings()) {
        add(m.region.start, std::min(m.region.end(), kPvhLowRamEnd), HvmMemmapType::kRam);
        add(std::max(m.region.start, layout::kHighMemoryStart), m.region.end(),
            HvmMemmapType::kRam);
    }
    std::sort(map.begin(), map.end(), [](const auto& a, const auto& b) { return a.addr < b.addr; });
    if (map.size() > kPvhMaxMemmapEntries)
        return make_error(Errc::kInternal, "the guest memory map needs {} entries, room for {}",
                          map.size(), kPvhMaxMemmapEntries);
    return map;
}

Result<PvhPlan> plan(const Elf64& elf, const GuestMemory& memory, const PvhConfig& config) {
    PvhPlan out;
    out.context = elf.context();
    auto entry = find_entry(elf);
    if (!entry) return tl::unexpected(std::move(entry.error()));
    out.entry = *entry;
    auto loads = plan_segments(elf, memory);
    if (!loads) return tl::unexpected(std::move(loads.error()));
    out.segments = std::move(*loads);
    EMBER_TRY_VOID(check_entry(out.entry, out.segments));
    out.kernel_end = end_of(out.segments.back()); // non-empty: the entry is inside one
    EMBER_TRY_VOID(check_cmdline(config.cmdline, memory));
    out.cmdline = config.cmdline;
    out.rsdp_addr = config.rsdp_addr;
    auto memmap = build_memmap(memory);
    if (!memmap) return tl::unexpected(std::move(memmap.error()));
    out.memmap = std::move(*memmap);
    return out;
}

HvmStartInfo start_info(const PvhPlan& plan) {
    HvmStartInfo info;
    info.version = kXenHvmStartInfoVersion;
    info.nr_modules = plan.initrd.empty() ? 0 : 1;
    info.modlist_paddr = plan.initrd.empty() ? 0 : kPvhModlistAddr;
    info.cmdline_paddr = plan.cmdline.empty() ? 0 : layout::kCmdlineAddr;
    info.rsdp_paddr = plan.rsdp_addr;
    info.memmap_paddr = kPvhMemmapAddr;
    info.memmap_entries = static_cast<uint32_t>(plan.memmap.size());
    return info;
}

Result<void> load_segments(const PvhPlan& plan, const GuestMemory& memory) {
    for (const auto& s : plan.segments) {
        EMBER_TRY_VOID(memory.write(s.addr, s.data));
        EMBER_TRY_VOID(zero_range(memory, s.addr + s.data.size(), s.zero_size));
    }
    return {};
}

Result<void> load_initrd(const PvhPlan& plan, const GuestMemory& memory) {
    if (plan.initrd.empty()) return {};
    EMBER_TRY_VOID(memory.write(plan.initrd_addr, plan.initrd));
    return memory.write_obj(kPvhModlistAddr,
                            HvmModlistEntry{plan.initrd_addr, plan.initrd.size(), 0, 0});
}

Result<void> load_cmdline(const PvhPlan& plan, const GuestMemory& memory) {
    if (plan.cmdline.empty()) return {};
    // c_str() has the NUL the guest looks for.
    return memory.write(layout::kCmdlineAddr,
                        std::as_bytes(std::span(plan.cmdline.c_str(), plan.cmdline.size() + 1)));
}

// Everything the plan copies, then the structures that point at it.
Result<void> load(const PvhPlan& plan, const GuestMemory& memory) {
    EMBER_TRY_VOID(load_segments(plan, memory));
    EMBER_TRY_VOID(load_initrd(plan, memory));
    EMBER_TRY_VOID(load_cmdline(plan, memory));
    EMBER_TRY_VOID(memory.write(kPvhMemmapAddr, std::as_bytes(std::span(plan.memmap))));
    return memory.write_obj(kPvhStartInfoAddr, start_info(plan));
}

} // namespace

Result<PvhPlan> plan_pvh(const Elf64& elf, const GuestMemory& memory, const PvhConfig& config) {
    auto out = with_context(plan(elf, memory, config), elf.context());
    if (!out || config.initrd == nullptr || config.initrd->bytes().empty()) return out;
    auto addr = place_initrd(*config.initrd, out->segments, memory, out->kernel_end);
    if (!addr) return tl::unexpected(std::move(addr.error()));
    out->initrd = config.initrd->bytes();
    out->initrd_addr = *addr;
    return out;
}

Result<PvhBoot> load_pvh(const PvhPlan& plan, const GuestMemory& memory) {
    if (auto r = load(plan, memory); !r)
        return tl::unexpected(std::move(r.error()).with_context(plan.context));
    return PvhBoot{plan.entry, kPvhStartInfoAddr, plan.cmdline.empty() ? 0 : layout::kCmdlineAddr,
                   plan.initrd.empty() ? 0 : plan.initrd_addr, plan.initrd.size()};
}

} // namespace ember::boot
