// The guest-physical address map of an x86-64 ember VM. One place, so that the loaders, the
// memory builder and the devices agree.
//
//   0x0000_0000 .. 0x0009_FFFF   RAM (low 640 KiB): boot structures live here
//   0x000A_0000 .. 0x000F_FFFF   legacy hole (VGA, BIOS), reported reserved
//   0x0010_0000 .. kMmioGapStart RAM (kernels load at 1 MiB)
//   kMmioGapStart .. 4 GiB       32-bit MMIO gap: IOAPIC, LAPIC, virtio-mmio, KVM's TSS pages
//   4 GiB ..                     RAM beyond what fits below the gap
#pragma once

#include <cstdint>

namespace ember::layout {

inline constexpr uint64_t kPageSize = 0x1000;
inline constexpr uint64_t kMiB = 1ULL << 20;
inline constexpr uint64_t kGiB = 1ULL << 30;

inline constexpr uint64_t kLowRamEnd = 0xA0000;        // end of conventional memory
inline constexpr uint64_t kHighMemoryStart = 0x100000; // 1 MiB: where kernels load
inline constexpr uint64_t kMmioGapStart = 3 * kGiB;
inline constexpr uint64_t kMmioGapEnd = 4 * kGiB;
inline constexpr uint64_t kMmioGapSize = kMmioGapEnd - kMmioGapStart;

// Boot structures (PVH start info, memory map, command line) in low memory, below the EBDA.
inline constexpr uint64_t kStartInfoAddr = 0x6000;
inline constexpr uint64_t kCmdlineAddr = 0x20000;
inline constexpr uint64_t kCmdlineMax = 0x10000; // 64 KiB including the NUL

// KVM needs three pages for the real-mode TSS on Intel (KVM_SET_TSS_ADDR) and one for the
// identity map; both inside the gap, away from IOAPIC (0xFEC0_0000) and LAPIC (0xFEE0_0000).
inline constexpr uint64_t kKvmTssAddr = 0xFFFB'D000;
inline constexpr uint64_t kKvmIdentityMapAddr = 0xFFFB'C000;

// Upper bound on --mem-mib: 1 TiB, which every KVM host we target can address.
inline constexpr uint64_t kMaxMemMib = 1024ULL * 1024;

} // namespace ember::layout
