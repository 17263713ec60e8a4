// The zero page (struct boot_params from the kernel's <asm/bootparam.h>) for the Linux 64-bit
// boot protocol: the kernel's setup header (copied from a bzImage, or a default one for a
// vmlinux) with the loader's fields filled in, and the E820 memory map.
//
// Pure: these functions build values; linux_loader writes them.
#pragma once

#include "vmm/core/guest_memory.hpp"
#include "vmm/sys/result.hpp"

#include <asm/bootparam.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ember::boot {

// The kernel's struct, which must be exactly the 4 KiB page the protocol defines (its C
// flexible-array neighbours are not part of it).
static_assert(sizeof(boot_params) == 4096);
static_assert(offsetof(boot_params, ext_cmd_line_ptr) == 0x0c8);
static_assert(offsetof(boot_params, e820_entries) == 0x1e8);
static_assert(offsetof(boot_params, e820_table) == 0x2d0);
static_assert(offsetof(boot_params, hdr) + offsetof(setup_header, cmd_line_ptr) == 0x228);
static_assert(sizeof(boot_e820_entry) == 20);

// Where the zero page goes: the page after the PVH start info (which the Linux protocol does
// not use), below the long-mode tables (boot/x86_64/long_mode.hpp).
inline constexpr GuestAddr kZeroPageAddr = 0x7000;

// E820 types (<asm/e820.h> names them E820_RAM/E820_RESERVED, but it is not on every host).
inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;

// The top of conventional memory reported as RAM; [this, 1 MiB) is reported reserved (a PC's
// EBDA, VGA memory and BIOS), as in the PVH memory map.
inline constexpr GuestAddr kE820LowRamEnd = 0x9'FC00;

// What the loader tells the kernel in the setup header.
inline constexpr uint8_t kTypeOfLoaderUndefined = 0xff;        // no assigned boot loader ID
inline constexpr uint16_t kVidModeNormal = 0xffff;             // "normal" VGA: ask nothing of video
inline constexpr uint32_t kDefaultInitrdAddrMax = 0x7fff'ffff; // x86-64 kernels' value
inline constexpr uint32_t kDefaultKernelAlignment = 0x100'0000; // 16 MiB, Linux's default

// The header for a vmlinux, which carries none: the magic numbers, protocol 2.12, LOADED_HIGH,
// XLF_KERNEL_64, initrd_addr_max 0x7fffffff, kernel_alignment 16 MiB, cmdline_size
// `cmdline_max` (without the NUL).
[[nodiscard]] setup_header default_setup_header(uint32_t cmdline_max);

// The memory map: RAM [0, 0x9fc00), reserved [0x9fc00, 1 MiB), then each region of guest RAM
// from 1 MiB on. The 32-bit MMIO gap is left out (a hole), as in the PVH map. Sorted.
[[nodiscard]] Result<std::vector<boot_e820_entry>> build_e820(const GuestMemory& memory);

struct ZeroPageConfig {
    GuestAddr cmdline_addr = 0; // 0: no command line
    uint32_t cmdline_size = 0;  // bytes without the NUL
    GuestAddr initrd_addr = 0;  // 0: no initrd
    uint64_t initrd_size = 0;
    std::vector<boot_e820_entry> e820; // at most E820_MAX_ENTRIES_ZEROPAGE
    GuestAddr rsdp_addr = 0;           // acpi_rsdp_addr; 0: none
};

// A zero page: zero except the setup header `header` (what the kernel asked for) with the
// loader's fields set (type_of_loader, vid_mode, cmd_line_ptr, ramdisk_image/size and their
// ext_ high halves), acpi_rsdp_addr and the E820 map. Everything else (screen_info, setup_data,
// sentinel) is zero: no video, no setup_data chain.
[[nodiscard]] boot_params make_zero_page(const setup_header& header, const ZeroPageConfig& config);

} // namespace ember::boot
