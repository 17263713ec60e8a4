// The Intel MultiProcessor Specification 1.4 table: how a guest booted without ACPI (acpi=off,
// or a kernel without ACPI) finds its CPUs and IOAPIC (docs/acpi.md).
//
// The floating pointer and the configuration table sit together in the first KiB of the EBDA,
// [0x9FC00, 0xA0000), which ember's memory map reports reserved and Linux scans ("_MP_" on a
// 16-byte boundary). The interrupt wiring is KVM's default routing: ISA IRQ n -> IOAPIC pin n.
#pragma once

#include "vmm/core/guest_memory.hpp"
#include "vmm/sys/result.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace ember::boot {

inline constexpr GuestAddr kMpTableAddr = 0x9'FC00; // the floating pointer
inline constexpr GuestAddr kMpTableEnd = 0xA'0000;  // the configuration table must end here
inline constexpr uint8_t kMpSpecRevision = 4;       // MP specification 1.4
inline constexpr uint8_t kMpIsaBusId = 0;

#pragma pack(push, 1)

// MP spec 4.1: the MP Floating Pointer Structure, 16 bytes.
struct MpFloatingPointer {
    std::array<char, 4> signature{};     //  0: "_MP_"
    uint32_t config_table = 0;           //  4: physical address of the configuration table
    uint8_t length = 1;                  //  8: in 16-byte paragraphs
    uint8_t spec_rev = kMpSpecRevision;  //  9
    uint8_t checksum = 0;                // 10: all 16 bytes sum to 0
    uint8_t feature1 = 0;                // 11: 0, a configuration table is present
    uint8_t feature2 = 0;                // 12: bit 7 IMCRP clear: virtual-wire mode
    std::array<uint8_t, 3> feature3_5{}; // 13
};
static_assert(sizeof(MpFloatingPointer) == 16);
static_assert(offsetof(MpFloatingPointer, config_table) == 4);
static_assert(offsetof(MpFloatingPointer, checksum) == 10);
static_assert(offsetof(MpFloatingPointer, feature2) == 12);

// MP spec 4.2: the configuration table header, 44 bytes; the base table entries follow.
struct MpConfigHeader {
    std::array<char, 4> signature{};     //  0: "PCMP"
    uint16_t base_table_length = 0;      //  4: header and entries
    uint8_t spec_rev = kMpSpecRevision;  //  6
    uint8_t checksum = 0;                //  7: the base table sums to 0
    std::array<char, 8> oem_id{};        //  8
    std::array<char, 12> product_id{};   // 16
    uint32_t oem_table = 0;              // 28
    uint16_t oem_table_size = 0;         // 32
    uint16_t entry_count = 0;            // 34
    uint32_t local_apic_address = 0;     // 36
    uint16_t extended_table_length = 0;  // 40
    uint8_t extended_table_checksum = 0; // 42
    uint8_t reserved = 0;                // 43
};
static_assert(sizeof(MpConfigHeader) == 44);
static_assert(offsetof(MpConfigHeader, base_table_length) == 4);
static_assert(offsetof(MpConfigHeader, checksum) == 7);
static_assert(offsetof(MpConfigHeader, oem_id) == 8);
static_assert(offsetof(MpConfigHeader, product_id) == 16);
static_assert(offsetof(MpConfigHeader, entry_count) == 34);
static_assert(offsetof(MpConfigHeader, local_apic_address) == 36);
static_assert(offsetof(MpConfigHeader, extended_table_length) == 40);

enum class MpEntryType : uint8_t {
    kProcessor = 0,
    kBus = 1,
    kIoApic = 2,
    kIoInterrupt = 3,
    kLocalInterrupt = 4,
};
enum class MpInterruptType : uint8_t { kInt = 0, kNmi = 1, kSmi = 2, kExtInt = 3 };

// MP spec 4.3.1: Processor entry, 20 bytes.
struct MpProcessor {
    MpEntryType type = MpEntryType::kProcessor; //  0
    uint8_t local_apic_id = 0;                  //  1
    uint8_t local_apic_version = 0;             //  2
    uint8_t cpu_flags = 0;                      //  3: bit 0 EN, bit 1 BP
    uint32_t cpu_signature = 0;                 //  4: family/model/stepping
    uint32_t feature_flags = 0;                 //  8: CPUID.1:EDX
    std::array<uint32_t, 2> reserved{};         // 12
};
static_assert(sizeof(MpProcessor) == 20);
static_assert(offsetof(MpProcessor, cpu_flags) == 3);
static_assert(offsetof(MpProcessor, cpu_signature) == 4);
static_assert(offsetof(MpProcessor, feature_flags) == 8);
inline constexpr uint8_t kMpCpuEnabled = 1U << 0;
inline constexpr uint8_t kMpCpuBootProcessor = 1U << 1;
inline constexpr uint32_t kMpCpuSignature = 0x600;        // family 6
inline constexpr uint32_t kMpCpuFeatures = 0x200 | 0x001; // APIC, FPU

// MP spec 4.3.2: Bus entry, 8 bytes.
struct MpBus {
    MpEntryType type = MpEntryType::kBus; // 0
    uint8_t bus_id = 0;                   // 1
    std::array<char, 6> bus_type{};       // 2: "ISA   "
};
static_assert(sizeof(MpBus) == 8);

// MP spec 4.3.3: I/O APIC entry, 8 bytes.
struct MpIoApic {
    MpEntryType type = MpEntryType::kIoApic; // 0
    uint8_t id = 0;                          // 1
    uint8_t version = 0;                     // 2
    uint8_t flags = 0;                       // 3: bit 0 EN
    uint32_t address = 0;                    // 4
};
static_assert(sizeof(MpIoApic) == 8);
static_assert(offsetof(MpIoApic, address) == 4);

// MP spec 4.3.4/4.3.5: I/O and local interrupt assignment entries, 8 bytes each. flags 0:
// polarity and trigger conform to the bus (ISA: active high, edge).
struct MpInterrupt {
    MpEntryType type = MpEntryType::kIoInterrupt;      // 0
    MpInterruptType interrupt = MpInterruptType::kInt; // 1
    uint16_t flags = 0;                                // 2
    uint8_t source_bus_id = 0;                         // 4
    uint8_t source_bus_irq = 0;                        // 5
    uint8_t dest_apic_id = 0;                          // 6: 0xFF: every local APIC
    uint8_t dest_pin = 0;                              // 7: IOAPIC INTIN or local LINTIN
};
static_assert(sizeof(MpInterrupt) == 8);
static_assert(offsetof(MpInterrupt, source_bus_id) == 4);
static_assert(offsetof(MpInterrupt, dest_pin) == 7);

#pragma pack(pop)

struct MpTableConfig {
    uint32_t vcpus = 1; // 1..kMaxTableVcpus, as far as the table fits (see write_mptable)
    // GSIs of devices beyond ISA IRQs 0-15 (virtio-mmio): each gets an I/O interrupt entry
    // (ISA bus IRQ n -> IOAPIC pin n); values below 16 and duplicates are already covered.
    std::vector<uint32_t> extra_gsis;
};

// The bytes of the floating pointer followed by the configuration table, for `base`.
// Inputs are assumed valid (write_mptable checks them).
[[nodiscard]] std::vector<std::byte> build_mptable(const MpTableConfig& config, GuestAddr base);

// Checks the configuration (vCPUs 1..254, GSIs below 24) and that the table fits in
// [kMpTableAddr, kMpTableEnd) — up to 37 vCPUs even with all 24 pins listed — then writes it.
// Errors are Errc::kInvalidArgument. Returns the address of the floating pointer.
Result<GuestAddr> write_mptable(const GuestMemory& memory, const MpTableConfig& config);

} // namespace ember::boot
