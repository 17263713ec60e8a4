// The x86 PVH boot ABI: the start-of-day structures a PVH kernel finds through %ebx.
//
// No installed header carries these (they live in Xen's public headers,
// xen/include/public/arch-x86/hvm/start_info.h), so they are written out here from the
// protocol's description. All fields are little-endian; an address of 0 means "not present".
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::boot {

// The start info magic: "xEn3" with the 0x80 bit of the "E" set.
inline constexpr uint32_t kXenHvmStartMagic = 0x336e'c578;
// Version 1 adds the memory map (memmap_paddr, memmap_entries).
inline constexpr uint32_t kXenHvmStartInfoVersion = 1;
// ELF note type (owner "Xen") whose descriptor is the 32-bit physical PVH entry point.
inline constexpr uint32_t kXenElfnotePhys32Entry = 18;

// Memory map entry types; the values are the E820 ones.
enum class HvmMemmapType : uint32_t {
    kRam = 1,
    kReserved = 2,
    kAcpi = 3,
    kNvs = 4,
    kUnusable = 5,
    kDisabled = 6,
    kPmem = 7,
};

struct HvmStartInfo {
    uint32_t magic = kXenHvmStartMagic; //  0: kXenHvmStartMagic
    uint32_t version = 0;               //  4: 1 when the memmap fields are valid
    uint32_t flags = 0;                 //  8: SIF_* flags (none for an HVM/PVH domU)
    uint32_t nr_modules = 0;            // 12: entries at modlist_paddr
    uint64_t modlist_paddr = 0;         // 16: array of HvmModlistEntry
    uint64_t cmdline_paddr = 0;         // 24: NUL-terminated ASCII command line
    uint64_t rsdp_paddr = 0;            // 32: ACPI RSDP (0: none, the guest may search)
    uint64_t memmap_paddr = 0;          // 40: array of HvmMemmapTableEntry (version >= 1)
    uint32_t memmap_entries = 0;        // 48: entries at memmap_paddr (version >= 1)
    uint32_t reserved = 0;              // 52: must be zero
};
static_assert(sizeof(HvmStartInfo) == 56);
static_assert(offsetof(HvmStartInfo, nr_modules) == 12);
static_assert(offsetof(HvmStartInfo, modlist_paddr) == 16);
static_assert(offsetof(HvmStartInfo, cmdline_paddr) == 24);
static_assert(offsetof(HvmStartInfo, rsdp_paddr) == 32);
static_assert(offsetof(HvmStartInfo, memmap_paddr) == 40);
static_assert(offsetof(HvmStartInfo, memmap_entries) == 48);
static_assert(offsetof(HvmStartInfo, reserved) == 52);

struct HvmModlistEntry {
    uint64_t paddr = 0;         //  0: guest-physical address of the module
    uint64_t size = 0;          //  8: size in bytes
    uint64_t cmdline_paddr = 0; // 16: the module's own command line (0: none)
    uint64_t reserved = 0;      // 24: must be zero
};
static_assert(sizeof(HvmModlistEntry) == 32);
static_assert(offsetof(HvmModlistEntry, size) == 8);
static_assert(offsetof(HvmModlistEntry, cmdline_paddr) == 16);
static_assert(offsetof(HvmModlistEntry, reserved) == 24);

struct HvmMemmapTableEntry {
    uint64_t addr = 0;                        //  0: base address
    uint64_t size = 0;                        //  8: length in bytes
    HvmMemmapType type = HvmMemmapType::kRam; // 16: see HvmMemmapType
    uint32_t reserved = 0;                    // 20: must be zero
};
static_assert(sizeof(HvmMemmapTableEntry) == 24);
static_assert(offsetof(HvmMemmapTableEntry, size) == 8);
static_assert(offsetof(HvmMemmapTableEntry, type) == 16);
static_assert(offsetof(HvmMemmapTableEntry, reserved) == 20);

} // namespace ember::boot
