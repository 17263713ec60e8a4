// The ACPI table layouts ember writes (ACPI 6.5, chapter 5.2), as packed little-endian structs.
// Built on the host, copied into guest memory with memcpy: never accessed through a guest pointer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace ember::boot::acpi {

#pragma pack(push, 1)

// 5.2.5.3 Root System Description Pointer, revision 2 (ACPI 2.0+).
struct Rsdp {
    std::array<char, 8> signature{};   //  0: "RSD PTR "
    uint8_t checksum = 0;              //  8: bytes 0..19 sum to 0
    std::array<char, 6> oem_id{};      //  9
    uint8_t revision = 0;              // 15: 2
    uint32_t rsdt_address = 0;         // 16: 0, ember has only an XSDT
    uint32_t length = 0;               // 20: 36
    uint64_t xsdt_address = 0;         // 24
    uint8_t extended_checksum = 0;     // 32: all 36 bytes sum to 0
    std::array<uint8_t, 3> reserved{}; // 33
};
static_assert(sizeof(Rsdp) == 36);
static_assert(offsetof(Rsdp, checksum) == 8);
static_assert(offsetof(Rsdp, oem_id) == 9);
static_assert(offsetof(Rsdp, revision) == 15);
static_assert(offsetof(Rsdp, rsdt_address) == 16);
static_assert(offsetof(Rsdp, length) == 20);
static_assert(offsetof(Rsdp, xsdt_address) == 24);
static_assert(offsetof(Rsdp, extended_checksum) == 32);
inline constexpr size_t kRsdpV1Size = 20; // what the first checksum covers

// 5.2.6 System Description Table Header, the start of every table but the RSDP.
struct TableHeader {
    std::array<char, 4> signature{};    //  0
    uint32_t length = 0;                //  4: the whole table, header included
    uint8_t revision = 0;               //  8
    uint8_t checksum = 0;               //  9: the whole table sums to 0
    std::array<char, 6> oem_id{};       // 10
    std::array<char, 8> oem_table_id{}; // 16
    uint32_t oem_revision = 0;          // 24
    std::array<char, 4> creator_id{};   // 28
    uint32_t creator_revision = 0;      // 32
};
static_assert(sizeof(TableHeader) == 36);
static_assert(offsetof(TableHeader, length) == 4);
static_assert(offsetof(TableHeader, revision) == 8);
static_assert(offsetof(TableHeader, checksum) == 9);
static_assert(offsetof(TableHeader, oem_id) == 10);
static_assert(offsetof(TableHeader, oem_table_id) == 16);
static_assert(offsetof(TableHeader, oem_revision) == 24);
static_assert(offsetof(TableHeader, creator_id) == 28);
static_assert(offsetof(TableHeader, creator_revision) == 32);

// 5.2.3.2 Generic Address Structure.
enum class AddressSpace : uint8_t { kSystemMemory = 0, kSystemIo = 1 };
enum class AccessSize : uint8_t { kUndefined = 0, kByte = 1, kWord = 2, kDWord = 3, kQWord = 4 };
struct GenericAddress {
    AddressSpace space = AddressSpace::kSystemMemory; // 0
    uint8_t bit_width = 0;                            // 1
    uint8_t bit_offset = 0;                           // 2
    AccessSize access_size = AccessSize::kUndefined;  // 3
    uint64_t address = 0;                             // 4
};
static_assert(sizeof(GenericAddress) == 12);
static_assert(offsetof(GenericAddress, address) == 4);

// 5.2.9 Fixed ACPI Description Table, revision 6 (276 bytes). The legacy PM blocks stay zero:
// ember is a hardware-reduced ACPI platform.
struct Fadt {
    TableHeader header;                    //   0: "FACP", revision 6
    uint32_t firmware_ctrl = 0;            //  36: no FACS (optional when hardware-reduced)
    uint32_t dsdt = 0;                     //  40
    uint8_t reserved0 = 0;                 //  44
    uint8_t preferred_pm_profile = 0;      //  45
    uint16_t sci_int = 0;                  //  46
    uint32_t smi_cmd = 0;                  //  48
    uint8_t acpi_enable = 0;               //  52
    uint8_t acpi_disable = 0;              //  53
    uint8_t s4bios_req = 0;                //  54
    uint8_t pstate_cnt = 0;                //  55
    std::array<uint32_t, 8> legacy_blks{}; //  56: PM1a/b EVT, PM1a/b CNT, PM2 CNT, PM TMR, GPE0/1
    std::array<uint8_t, 7> legacy_lens{};  //  88: PM1 EVT .. GPE1 BASE
    uint8_t cst_cnt = 0;                   //  95
    uint16_t p_lvl2_lat = 0;               //  96
    uint16_t p_lvl3_lat = 0;               //  98
    uint16_t flush_size = 0;               // 100
    uint16_t flush_stride = 0;             // 102
    uint8_t duty_offset = 0;               // 104
    uint8_t duty_width = 0;                // 105
    uint8_t day_alrm = 0;                  // 106
    uint8_t mon_alrm = 0;                  // 107
    uint8_t century = 0;                   // 108
    uint16_t iapc_boot_arch = 0;           // 109
    uint8_t reserved1 = 0;                 // 111
    uint32_t flags = 0;                    // 112
    GenericAddress reset_reg;              // 116
    uint8_t reset_value = 0;               // 128
    uint16_t arm_boot_arch = 0;            // 129
    uint8_t minor_version = 0;             // 131
    uint64_t x_firmware_ctrl = 0;          // 132
    uint64_t x_dsdt = 0;                   // 140
    std::array<GenericAddress, 8> x_legacy_blks{}; // 148: X_PM1a_EVT_BLK .. X_GPE1_BLK
    GenericAddress sleep_control_reg;              // 244
    GenericAddress sleep_status_reg;               // 256
    uint64_t hypervisor_vendor_id = 0;             // 268
};
static_assert(sizeof(Fadt) == 276);
static_assert(offsetof(Fadt, firmware_ctrl) == 36);
static_assert(offsetof(Fadt, dsdt) == 40);
static_assert(offsetof(Fadt, preferred_pm_profile) == 45);
static_assert(offsetof(Fadt, sci_int) == 46);
static_assert(offsetof(Fadt, legacy_blks) == 56);
static_assert(offsetof(Fadt, legacy_lens) == 88);
static_assert(offsetof(Fadt, cst_cnt) == 95);
static_assert(offsetof(Fadt, century) == 108);
static_assert(offsetof(Fadt, iapc_boot_arch) == 109);
static_assert(offsetof(Fadt, flags) == 112);
static_assert(offsetof(Fadt, reset_reg) == 116);
static_assert(offsetof(Fadt, reset_value) == 128);
static_assert(offsetof(Fadt, arm_boot_arch) == 129);
static_assert(offsetof(Fadt, minor_version) == 131);
static_assert(offsetof(Fadt, x_firmware_ctrl) == 132);
static_assert(offsetof(Fadt, x_dsdt) == 140);
static_assert(offsetof(Fadt, x_legacy_blks) == 148);
static_assert(offsetof(Fadt, sleep_control_reg) == 244);
static_assert(offsetof(Fadt, sleep_status_reg) == 256);
static_assert(offsetof(Fadt, hypervisor_vendor_id) == 268);

// FADT flags (Table 5.10) and IA-PC boot architecture flags (Table 5.11) that ember sets.
inline constexpr uint32_t kFadtPwrButton = 1U << 4;      // no fixed power button
inline constexpr uint32_t kFadtSlpButton = 1U << 5;      // no fixed sleep button
inline constexpr uint32_t kFadtResetRegSup = 1U << 10;   // RESET_REG is valid
inline constexpr uint32_t kFadtHwReducedAcpi = 1U << 20; // no PM1/GPE blocks, no SCI
inline constexpr uint16_t kBootArch8042 = 1U << 1;       // an i8042 at 0x60/0x64
inline constexpr uint16_t kBootArchVgaNotPresent = 1U << 2;
inline constexpr uint16_t kBootArchCmosRtcNotPresent = 1U << 5;

// 5.2.12 Multiple APIC Description Table: header, then interrupt controller structures.
struct MadtHeader {
    TableHeader header;              //  0: "APIC"
    uint32_t local_apic_address = 0; // 36
    uint32_t flags = 0;              // 40: PCAT_COMPAT (bit 0) clear
};
static_assert(sizeof(MadtHeader) == 44);
static_assert(offsetof(MadtHeader, local_apic_address) == 36);
static_assert(offsetof(MadtHeader, flags) == 40);

enum class MadtType : uint8_t { kLocalApic = 0, kIoApic = 1, kInterruptSourceOverride = 2 };

// 5.2.12.2 Processor Local APIC structure.
struct MadtLocalApic {
    MadtType type = MadtType::kLocalApic; // 0
    uint8_t length = 8;                   // 1
    uint8_t processor_uid = 0;            // 2
    uint8_t apic_id = 0;                  // 3
    uint32_t flags = 0;                   // 4: bit 0 enabled
};
static_assert(sizeof(MadtLocalApic) == 8);
static_assert(offsetof(MadtLocalApic, flags) == 4);
inline constexpr uint32_t kMadtLocalApicEnabled = 1U << 0;

// 5.2.12.3 I/O APIC structure.
struct MadtIoApic {
    MadtType type = MadtType::kIoApic; // 0
    uint8_t length = 12;               // 1
    uint8_t io_apic_id = 0;            // 2
    uint8_t reserved = 0;              // 3
    uint32_t address = 0;              // 4
    uint32_t gsi_base = 0;             // 8
};
static_assert(sizeof(MadtIoApic) == 12);
static_assert(offsetof(MadtIoApic, address) == 4);
static_assert(offsetof(MadtIoApic, gsi_base) == 8);

#pragma pack(pop)

} // namespace ember::boot::acpi
