// The vCPU state at a Linux x86-64 boot protocol entry ("64-bit boot protocol" in the kernel's
// Documentation/arch/x86/boot.rst): long mode, paging on with an identity map, a GDT holding
// __BOOT_CS (0x10) and __BOOT_DS (0x18) as flat 4 GiB segments, interrupts off, %rsi = the zero
// page (struct boot_params).
//
// Unlike PVH, long mode needs structures in guest memory: the GDT and the page tables. They go
// at fixed pages below the EBDA, clear of the PVH start info (0x6000), the zero page (0x7000,
// boot/linux/boot_params.hpp) and the command line (0x20000); docs/boot.md lists them.
#pragma once

#include "vmm/core/guest_memory.hpp"
#include "vmm/sys/result.hpp"

#include <linux/kvm.h>

#include <array>
#include <cstdint>

namespace ember::boot {

// Guest-physical addresses of the long-mode boot structures, one page each (the page directories
// take up to four consecutive pages).
inline constexpr GuestAddr kLongModeGdtAddr = 0x8000;
inline constexpr GuestAddr kLongModePml4Addr = 0x9000;
inline constexpr GuestAddr kLongModePdptAddr = 0xa000;
inline constexpr GuestAddr kLongModePdAddr = 0xb000;     // PD for [0, 1 GiB), then the next GiBs
inline constexpr size_t kLongModeMaxPdPages = 4;         // 4 x 512 x 2 MiB = the first 4 GiB
inline constexpr GuestAddr kLongModeStackTop = 0x1'0000; // %rsp: the page [0xf000, 0x10000)
static_assert(kLongModePdAddr + kLongModeMaxPdPages * 0x1000 <= kLongModeStackTop - 0x1000);

// Selectors: the kernel's __BOOT_CS and __BOOT_DS, which the protocol requires; then a TSS
// descriptor (16 bytes in long mode) that backs TR, which VM entry in long mode wants usable.
inline constexpr uint16_t kLongModeCodeSelector = 0x10;
inline constexpr uint16_t kLongModeDataSelector = 0x18;
inline constexpr uint16_t kLongModeTssSelector = 0x20;
inline constexpr size_t kLongModeGdtEntries = 6; // null, null, code, data, TSS (2 slots)

inline constexpr uint64_t kCr0Pg = 1ULL << 31;
inline constexpr uint64_t kCr4Pae = 1ULL << 5;
inline constexpr uint64_t kEferLme = 1ULL << 8;
inline constexpr uint64_t kEferLma = 1ULL << 10;

// The GDT that write_long_mode_tables() puts at kLongModeGdtAddr.
[[nodiscard]] std::array<uint64_t, kLongModeGdtEntries> long_mode_gdt();

// How many page-directory pages identity-map [0, map_end): one per GiB, at least 1, at most
// kLongModeMaxPdPages (map_end is capped at 4 GiB).
[[nodiscard]] size_t long_mode_pd_pages(uint64_t map_end);

// Writes the GDT and identity-mapping page tables (2 MiB pages) covering [0, map_end) rounded up
// to a GiB, at most 4 GiB. Touches 3 to 6 pages. Needs RAM at [kLongModeGdtAddr, stack top).
Result<void> write_long_mode_tables(const GuestMemory& memory, uint64_t map_end);

// General registers at the entry: %rip = entry, %rsi = boot_params, %rsp = kLongModeStackTop,
// RFLAGS = 0x2 (interrupts off); all others zero.
[[nodiscard]] kvm_regs linux_entry_regs(uint64_t entry, uint64_t boot_params_addr);

// Sets segments, GDTR, CR0/CR3/CR4 and EFER of `sregs` (what KVM_GET_SREGS returned) for
// 64-bit mode over the tables write_long_mode_tables() wrote. APIC base, IDT, CR2, CR8 and the
// interrupt bitmap are left as KVM set them: the kernel loads its own IDT with interrupts off.
void apply_long_mode_sregs(kvm_sregs& sregs);

} // namespace ember::boot
