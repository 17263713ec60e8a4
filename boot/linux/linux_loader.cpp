#include "boot/linux/linux_loader.hpp"

#include "boot/linux/bzimage.hpp"
#include "boot/placement.hpp"
#include "boot/x86_64/long_mode.hpp"
#include "vmm/core/layout.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace ember::boot {
namespace {

using layout::kMiB;
using layout::kPageSize;

// Where a bzImage goes. It is loaded at pref_address (LOAD_PHYSICAL_ADDR, 16 MiB by default)
// when that is at or above 1 MiB: the decompressor runs the kernel at
// max(align_up(load address, kernel_alignment), LOAD_PHYSICAL_ADDR) anyway (or at
// LOAD_PHYSICAL_ADDR if not relocatable), so loading it there makes the load and run areas one
// block [pref_address, + init_size) and nothing below is used. Loading at 1 MiB would save no
// memory and leave two areas for the initrd to avoid.
Result<void> plan_bzimage(const BzImage& bz, const GuestMemory& memory, LinuxPlan& out) {
    const setup_header& h = bz.header();
    const uint64_t pref = h.pref_address;
    if (pref < layout::kHighMemoryStart && !bz.relocatable())
        return make_error(Errc::kInvalidInput,
                          "the kernel is not relocatable and its pref_address {:#x} is below "
                          "1 MiB, in ember's boot area; build it with CONFIG_PHYSICAL_START at "
                          "16 MiB (the default)",
                          pref);
    const uint64_t load = pref >= layout::kHighMemoryStart ? pref : layout::kHighMemoryStart;
    const uint64_t run = bz.relocatable()
                             ? std::max(align_up(load, h.kernel_alignment), std::max(pref, load))
                             : pref;
    const uint64_t end = std::max(load + bz.protected_mode().size(), run + h.init_size);
    if (end > layout::kMmioGapStart)
        return make_error(Errc::kInvalidInput,
                          "the kernel needs [{:#x}, {:#x}) (pref_address {:#x}, init_size {:#x}), "
                          "which runs into the 32-bit MMIO gap at 3 GiB; the header is corrupt",
                          load, end, pref, +h.init_size);
    if (!memory.contains(load, end - load))
        return make_error(Errc::kInvalidArgument,
                          "the kernel needs guest RAM up to {:#x} ({} MiB: loaded at "
                          "pref_address {:#x}, init_size {} MiB), guest RAM is {} MiB; raise "
                          "--mem-mib to at least {}",
                          end, mib_ceil(end), load, mib_ceil(h.init_size),
                          memory.total_size() / kMiB, mib_ceil(end));
    out.format = LinuxKernelFormat::kBzImage;
    out.entry = load + kBzImage64EntryOffset;
    out.segments = {{0, load, bz.protected_mode(), 0}};
    out.kernel_start = load;
    out.kernel_end = end;
    return {};
}

Result<void> plan_elf(const Elf64& elf, const GuestMemory& memory, LinuxPlan& out) {
    auto vm = plan_vmlinux(elf, memory);
    if (!vm) return tl::unexpected(std::move(vm.error()));
    out.format = LinuxKernelFormat::kVmlinux;
    out.entry = vm->entry;
    out.segments = std::move(vm->segments);
    out.kernel_start = out.segments.front().addr;
    out.kernel_end = out.segments.back().end();
    return {};
}

Result<void> check_cmdline(std::string_view cmdline, const setup_header& header,
                           const GuestMemory& memory) {
    const uint64_t max = std::min<uint64_t>(header.cmdline_size, layout::kCmdlineMax - 1);
    if (cmdline.size() > max)
        return make_error(Errc::kInvalidArgument,
                          "command line of {} bytes is too long; this kernel takes at most {} "
                          "bytes (setup header cmdline_size {}, ember's limit {})",
                          cmdline.size(), max, +header.cmdline_size, layout::kCmdlineMax - 1);
    if (const auto nul = cmdline.find('\0'); nul != std::string_view::npos)
        return make_error(Errc::kInvalidArgument, "command line has a NUL byte at offset {}", nul);
    if (!memory.contains(kZeroPageAddr, kLongModeStackTop - kZeroPageAddr) ||
        !memory.contains(layout::kCmdlineAddr, layout::kCmdlineMax))
        return make_error(Errc::kInvalidArgument,
                          "guest RAM of {} MiB does not hold the boot structures below 1 MiB",
                          memory.total_size() / kMiB);
    return {};
}

// The highest page-aligned address where the initrd ends below min(initrd_addr_max + 1, end of
// low RAM) and overlaps no kernel segment or the kernel's init_size area: Linux uses an initrd
// in place when it can, so high keeps it out of the kernel's way.
Result<GuestAddr> place_initrd(const KernelImage& initrd, const LinuxPlan& plan,
                               const setup_header& header, const GuestMemory& memory) {
    const uint64_t size = initrd.bytes().size();
    const uint64_t ram_top = low_ram_end(memory);
    const uint64_t top = std::min<uint64_t>(ram_top, uint64_t{header.initrd_addr_max} + 1);
    // What to avoid, sorted: a bzImage's whole [start, end), or a vmlinux's segments.
    std::vector<std::pair<uint64_t, uint64_t>> used;
    if (plan.format == LinuxKernelFormat::kBzImage)
        used.emplace_back(plan.kernel_start, plan.kernel_end);
    else
        for (const auto& s : plan.segments)
            used.emplace_back(s.addr, s.end());
    bool fits = size <= top;
    GuestAddr addr = fits ? align_down(top - size, kPageSize) : 0;
    for (auto it = used.rbegin(); fits && it != used.rend(); ++it) {
        if (it->second <= addr) break;
        if (it->first >= addr + size) continue;
        fits = it->first >= size;
        addr = fits ? align_down(it->first - size, kPageSize) : 0;
    }
    if (fits && addr >= layout::kHighMemoryStart) return addr;
    const uint64_t needed = align_up(plan.kernel_end, kPageSize) + size;
    if (needed > top && top < ram_top)
        return make_error(Errc::kInvalidInput,
                          "{} of {} MiB does not fit above the kernel (which ends at {:#x}) and "
                          "below the kernel's initrd_addr_max {:#x}; use a smaller initrd",
                          initrd.context(), mib_ceil(size), plan.kernel_end,
                          +header.initrd_addr_max);
    return make_error(Errc::kInvalidArgument,
                      "{} of {} MiB does not fit in guest RAM of {} MiB above the kernel; raise "
                      "--mem-mib to at least {} (the initrd goes below 3 GiB)",
                      initrd.context(), mib_ceil(size), memory.total_size() / kMiB,
                      mib_ceil(needed));
}

Result<LinuxPlan> plan(const KernelImage& kernel, const GuestMemory& memory,
                       const LinuxConfig& config) {
    LinuxPlan out;
    out.context = kernel.context();
    setup_header header{};
    if (has_setup_header(kernel.bytes())) {
        auto bz = BzImage::parse(kernel.bytes(), kernel.context());
        if (!bz) return tl::unexpected(std::move(bz.error()));
        EMBER_TRY_VOID(with_context(plan_bzimage(*bz, memory, out), out.context));
        header = bz->header();
    } else {
        auto elf = Elf64::parse(kernel.bytes(), kernel.context());
        if (!elf) return tl::unexpected(std::move(elf.error()));
        EMBER_TRY_VOID(with_context(plan_elf(*elf, memory, out), out.context));
        header = default_setup_header(static_cast<uint32_t>(layout::kCmdlineMax - 1));
    }
    EMBER_TRY_VOID(with_context(check_cmdline(config.cmdline, header, memory), out.context));
    out.cmdline = config.cmdline;
    if (config.initrd != nullptr && !config.initrd->bytes().empty()) {
        auto addr = place_initrd(*config.initrd, out, header, memory);
        if (!addr) return tl::unexpected(std::move(addr.error()));
        out.initrd = config.initrd->bytes();
        out.initrd_addr = *addr;
    }
    auto e820 = build_e820(memory);
    if (!e820) return tl::unexpected(std::move(e820.error()));
    out.zero_page =
        make_zero_page(header, {.cmdline_addr = out.cmdline.empty() ? 0 : layout::kCmdlineAddr,
                                .cmdline_size = static_cast<uint32_t>(out.cmdline.size()),
                                .initrd_addr = out.initrd_addr,
                                .initrd_size = out.initrd.size(),
                                .e820 = std::move(*e820),
                                .rsdp_addr = config.rsdp_addr});
    out.map_end = std::max({out.kernel_end, out.initrd_addr + out.initrd.size(),
                            layout::kCmdlineAddr + layout::kCmdlineMax});
    return out;
}

Result<void> load(const LinuxPlan& plan, const GuestMemory& memory) {
    for (const auto& s : plan.segments) {
        EMBER_TRY_VOID(memory.write(s.addr, s.data));
        EMBER_TRY_VOID(zero_range(memory, s.addr + s.data.size(), s.zero_size));
    }
    if (!plan.initrd.empty()) EMBER_TRY_VOID(memory.write(plan.initrd_addr, plan.initrd));
    if (!plan.cmdline.empty())
        EMBER_TRY_VOID(
            memory.write(layout::kCmdlineAddr,
                         std::as_bytes(std::span(plan.cmdline.c_str(), plan.cmdline.size() + 1))));
    EMBER_TRY_VOID(memory.write_obj(kZeroPageAddr, plan.zero_page));
    return write_long_mode_tables(memory, plan.map_end);
}

} // namespace

Result<LinuxPlan> plan_linux(const KernelImage& kernel, const GuestMemory& memory,
                             const LinuxConfig& config) {
    return plan(kernel, memory, config);
}

Result<LinuxBoot> load_linux(const LinuxPlan& plan, const GuestMemory& memory) {
    if (auto r = load(plan, memory); !r)
        return tl::unexpected(std::move(r.error()).with_context(plan.context));
    return LinuxBoot{plan.entry, kZeroPageAddr, plan.cmdline.empty() ? 0 : layout::kCmdlineAddr,
                     plan.initrd.empty() ? 0 : plan.initrd_addr, plan.initrd.size()};
}

} // namespace ember::boot
