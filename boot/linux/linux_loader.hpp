// The Linux x86-64 boot protocol loader ("64-bit boot protocol", Documentation/arch/x86/boot.rst):
// puts a bzImage or an ELF vmlinux, its command line, an optional initrd, the zero page (struct
// boot_params) and the long-mode GDT and page tables into guest memory (docs/boot.md).
//
// Two phases, as for PVH, so that a bad input never touches guest memory:
//   plan_linux()  parses the kernel, checks everything and decides every address; it reads no
//                 guest memory and writes none.
//   load_linux()  carries the plan out.
// The vCPU then starts in 64-bit mode at LinuxBoot::entry with %rsi = boot_params_addr
// (boot/x86_64/long_mode.hpp: linux_entry_regs, apply_long_mode_sregs).
#pragma once

#include "boot/kernel_image.hpp"
#include "boot/linux/boot_params.hpp"
#include "boot/linux/vmlinux.hpp"
#include "vmm/core/guest_memory.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ember::boot {

struct LinuxConfig {
    // Without a NUL; at most the kernel's cmdline_size and layout::kCmdlineMax - 1 bytes, none
    // of them NUL. Empty: cmd_line_ptr = 0 and the command-line page is never touched.
    std::string_view cmdline;
    // nullptr or empty: none. Must outlive load_linux().
    const KernelImage* initrd = nullptr;
    // Where the ACPI RSDP is (boot_params.acpi_rsdp_addr); 0: none (Linux then scans the BIOS
    // area for it).
    GuestAddr rsdp_addr = 0;
};

enum class LinuxKernelFormat { kVmlinux, kBzImage };

// Everything load_linux() does, decided by plan_linux(). Points into the kernel and initrd
// images: keep them alive until load_linux() returns.
struct LinuxPlan {
    std::string context; // "kernel 'bzImage'", for messages
    LinuxKernelFormat format = LinuxKernelFormat::kVmlinux;
    uint64_t entry = 0;                      // physical, 64-bit
    std::vector<KernelSegmentLoad> segments; // sorted, disjoint
    GuestAddr kernel_start = 0;              // [start, end): what the kernel occupies at first,
    GuestAddr kernel_end = 0;                // a bzImage's init_size included
    std::string cmdline;                     // without its NUL; empty: none
    std::span<const std::byte> initrd;
    GuestAddr initrd_addr = 0;
    boot_params zero_page{};
    uint64_t map_end = 0; // the page tables identity-map at least [0, map_end)
};

// What the vCPU setup needs once the guest is loaded.
struct LinuxBoot {
    uint64_t entry = 0;            // %rip, 64-bit mode
    uint64_t boot_params_addr = 0; // %rsi: the zero page
    uint64_t cmdline_addr = 0;     // 0: no command line
    uint64_t initrd_addr = 0;      // 0: no initrd
    uint64_t initrd_size = 0;
};

// Parses `kernel` (a bzImage, or any x86-64 ELF executable: a PVH note is ignored here) and
// checks it and `config` against `memory`. Errors start with the image's context; kInvalidInput
// for a kernel or initrd that cannot boot, kInvalidArgument when a flag fixes it (--mem-mib,
// the command line).
[[nodiscard]] Result<LinuxPlan> plan_linux(const KernelImage& kernel, const GuestMemory& memory,
                                           const LinuxConfig& config);

// Carries out `plan` in `memory` (the memory it was planned for): the kernel, the initrd, the
// command line, the zero page at kZeroPageAddr and the long-mode tables
// (write_long_mode_tables). Touches only the pages the guest needs.
[[nodiscard]] Result<LinuxBoot> load_linux(const LinuxPlan& plan, const GuestMemory& memory);

} // namespace ember::boot
