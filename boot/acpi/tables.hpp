// ACPI tables for x86 guests: a hardware-reduced ACPI 6.5 platform described by RSDP, XSDT,
// FADT, MADT and DSDT, written below 1 MiB where Linux looks for them (docs/acpi.md).
//
// The builders are pure (bytes in, bytes out) so that tests can check every field;
// write_acpi_tables() validates the whole configuration first, then writes every table, so a
// configuration it refuses never touches guest memory.
#pragma once

#include "vmm/core/guest_memory.hpp"
#include "vmm/sys/result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ember::boot::acpi {

// The fixed placement inside the BIOS area [0xE0000, 0x100000), which ember's memory map reports
// reserved. The RSDP sits at the start of the area Linux scans for "RSD PTR " (16-byte aligned).
inline constexpr GuestAddr kAcpiAreaStart = 0xE'0000;
inline constexpr GuestAddr kAcpiAreaEnd = 0x10'0000;
inline constexpr GuestAddr kRsdpAddr = 0xE'0000;
inline constexpr GuestAddr kXsdtAddr = 0xE'0040;
inline constexpr GuestAddr kFadtAddr = 0xE'0080;
inline constexpr GuestAddr kMadtAddr = 0xE'0200; // up to 2 KiB (254 vCPUs take 2088 bytes)
inline constexpr GuestAddr kDsdtAddr = 0xE'1000; // grows with the device count, to kAcpiAreaEnd

// The power-management port: one byte-wide I/O port that is at once the FADT's
// SLEEP_CONTROL_REG, SLEEP_STATUS_REG and RESET_REG. The VMM emulates it:
//   write (v & kSleepEnable) != 0 with SLP_TYP (v & kSleepTypeMask) >> 2 == kS5SleepType:
//        the guest powers off (Linux writes kS5PowerOffValue = 0x34)
//   write kResetValue (0x01): the guest resets (Linux `reboot` tries this first)
//   write anything else (Linux writes 0x80, WAK_STS, to the status register before sleeping):
//        ignore;  read: 0
inline constexpr uint16_t kPmPort = 0x600;
inline constexpr uint8_t kSleepTypeMask = 0x1C; // SLP_TYPx, bits 4:2
inline constexpr uint8_t kSleepEnable = 0x20;   // SLP_EN, bit 5
inline constexpr uint8_t kWakeStatus = 0x80;    // WAK_STS, bit 7 of the status register
inline constexpr uint8_t kS5SleepType = 5;      // \_S5_ in the DSDT
inline constexpr uint8_t kS5PowerOffValue = (kS5SleepType << 2) | kSleepEnable;
inline constexpr uint8_t kResetValue = 0x01;

// What identifies ember in every table header.
inline constexpr char kOemId[] = "EMBER ";
inline constexpr char kOemTableId[] = "EMBERVM ";
inline constexpr char kCreatorId[] = "EMBR";

// A virtio-mmio transport as the DSDT describes it: a "LNRO0005" device with one register
// window and one edge-triggered, active-high interrupt.
struct VirtioMmioDevice {
    uint64_t base = 0; // below 4 GiB, with base + size too (Memory32Fixed)
    uint64_t size = 0; // non-zero
    uint32_t gsi = 0;  // an IOAPIC pin: below kIoapicPins (24)
};

struct AcpiConfig {
    uint32_t vcpus = 1;                    // 1..kMaxTableVcpus (254); APIC ID = index
    std::vector<VirtioMmioDevice> devices; // _UID = index, in this order
};

// Where write_acpi_tables() put each table. rsdp goes to hvm_start_info.rsdp_paddr (PVH) or
// boot_params.acpi_rsdp_addr (Linux boot protocol); a guest that is told neither finds it by
// scanning 0xE0000..0xFFFFF.
struct AcpiTables {
    GuestAddr rsdp = 0;
    GuestAddr xsdt = 0;
    GuestAddr fadt = 0;
    GuestAddr madt = 0;
    GuestAddr dsdt = 0;
    uint64_t dsdt_size = 0;
};

// The byte that makes `table` (with its checksum byte zero) sum to 0 modulo 256.
[[nodiscard]] uint8_t checksum(std::span<const std::byte> table);

// Checks vCPU count, device windows and GSIs; errors are Errc::kInvalidArgument and name the
// value and the allowed range.
Result<void> validate(const AcpiConfig& config);

// Each builder returns the complete table, lengths and checksums filled in. Inputs are assumed
// valid (validate()).
[[nodiscard]] std::vector<std::byte> build_rsdp(GuestAddr xsdt);
[[nodiscard]] std::vector<std::byte> build_xsdt(std::span<const GuestAddr> tables);
[[nodiscard]] std::vector<std::byte> build_fadt(GuestAddr dsdt);
[[nodiscard]] std::vector<std::byte> build_madt(uint32_t vcpus);
[[nodiscard]] std::vector<std::byte> build_dsdt(std::span<const VirtioMmioDevice> devices);

// Validates, builds every table, checks they fit their slots, then writes them to `memory`.
Result<AcpiTables> write_acpi_tables(const GuestMemory& memory, const AcpiConfig& config);

} // namespace ember::boot::acpi
