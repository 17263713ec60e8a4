// The PVH loader: puts a PVH ELF kernel, its command line, an optional initrd and the
// hvm_start_info structures into guest memory (docs/boot.md).
//
// Two phases, so that a bad input never touches guest memory:
//   plan_pvh()  checks everything (the entry note, segment placement, the command line, the
//               initrd) and decides every address; it reads no guest memory and writes none.
//   load_pvh()  carries the plan out: copies, then writes the boot structures.
// The vCPU then starts in 32-bit protected mode at PvhBoot::entry with %ebx = start_info_addr
// (boot/x86_64/entry_state.hpp).
#pragma once

#include "boot/elf/elf64.hpp"
#include "boot/kernel_image.hpp"
#include "boot/x86_64/hvm_start_info.hpp"
#include "vmm/core/guest_memory.hpp"
#include "vmm/core/layout.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ember::boot {

// The boot structures share one guest page: start info, then the module list, then the map.
inline constexpr GuestAddr kPvhStartInfoAddr = layout::kStartInfoAddr;
inline constexpr GuestAddr kPvhModlistAddr = kPvhStartInfoAddr + 0x40;
inline constexpr GuestAddr kPvhMemmapAddr = kPvhStartInfoAddr + 0x80;
inline constexpr size_t kPvhMaxMemmapEntries = 16;
static_assert(kPvhModlistAddr >= kPvhStartInfoAddr + sizeof(HvmStartInfo));
static_assert(kPvhMemmapAddr >= kPvhModlistAddr + sizeof(HvmModlistEntry));
static_assert(kPvhMemmapAddr + kPvhMaxMemmapEntries * sizeof(HvmMemmapTableEntry) <=
              kPvhStartInfoAddr + layout::kPageSize);

// The top of conventional memory reported as RAM: the rest of the first MiB (where a PC has its
// EBDA, VGA memory and BIOS) is reported reserved, as on real hardware and other VMMs.
inline constexpr GuestAddr kPvhLowRamEnd = 0x9'FC00;

struct PvhConfig {
    // Without a NUL; at most layout::kCmdlineMax - 1 bytes and none of them NUL. Empty: the
    // start info says "no command line" and the command-line page is never touched.
    std::string_view cmdline;
    // Passed as module 0; nullptr: none. Must outlive load_pvh().
    const KernelImage* initrd = nullptr;
    // Where the ACPI RSDP is (hvm_start_info.rsdp_paddr); 0: no ACPI tables.
    GuestAddr rsdp_addr = 0;
};

// One PT_LOAD to carry out: copy `data` to `addr`, then make the next zero_size bytes zero.
struct PvhSegmentLoad {
    uint16_t phdr_index = 0;
    GuestAddr addr = 0;
    std::span<const std::byte> data; // in the kernel image
    uint64_t zero_size = 0;
};

// Everything load_pvh() does, decided by plan_pvh(). Points into the kernel and initrd images.
struct PvhPlan {
    std::string context; // "kernel 'x.elf'", for messages
    uint32_t entry = 0;
    std::vector<PvhSegmentLoad> segments;
    GuestAddr kernel_end = 0; // end of the highest segment
    std::string cmdline;      // without its NUL; empty: none
    std::span<const std::byte> initrd;
    GuestAddr initrd_addr = 0;
    std::vector<HvmMemmapTableEntry> memmap;
    GuestAddr rsdp_addr = 0;
};

// What the vCPU setup needs once the guest is loaded.
struct PvhBoot {
    uint64_t entry = 0;           // 32-bit physical entry point: the initial %eip
    uint64_t start_info_addr = 0; // HvmStartInfo: the initial %ebx
    uint64_t cmdline_addr = 0;    // 0: no command line
    uint64_t initrd_addr = 0;     // 0: no initrd
    uint64_t initrd_size = 0;
};

// Checks `elf` and `config` against `memory` and decides where everything goes. Errors are
// Errc::kInvalidInput (a kernel or initrd that cannot boot here) or Errc::kInvalidArgument
// (a command line that is too long, guest memory that is too small), and name what to change.
[[nodiscard]] Result<PvhPlan> plan_pvh(const Elf64& elf, const GuestMemory& memory,
                                       const PvhConfig& config);

// Carries out `plan` in `memory` (the memory it was planned for). Touches only the pages the
// guest needs: the segments' bytes, bss pages that are not already zero, the boot-structure page,
// the command line and the initrd.
[[nodiscard]] Result<PvhBoot> load_pvh(const PvhPlan& plan, const GuestMemory& memory);

} // namespace ember::boot
