// x86 interrupt-controller facts that the ACPI tables (MADT) and the Intel MP table share, so the
// two descriptions of one machine cannot disagree (docs/acpi.md).
#pragma once

#include <cstdint>

namespace ember::boot {

// The local APIC of every vCPU and KVM's in-kernel IOAPIC, at their architectural addresses.
inline constexpr uint32_t kLocalApicAddr = 0xFEE0'0000;
inline constexpr uint32_t kIoapicAddr = 0xFEC0'0000;
// KVM's IOAPIC has 24 pins, GSIs 0..23 (GSI base 0). KVM's default routing wires GSI n to pin n
// (the PIT included, on pin 0), so no interrupt source override is needed.
inline constexpr uint32_t kIoapicPins = 24;
// The version register of KVM's IOAPIC (82093AA-compatible) and of an integrated local APIC.
inline constexpr uint8_t kIoapicVersion = 0x11;
inline constexpr uint8_t kLocalApicVersion = 0x14;

// APIC IDs are 8 bits in the MADT's Processor Local APIC entry and in the MP table, and 0xFF is
// the broadcast ID: vCPU i has APIC ID i, so at most 254 vCPUs leave one ID for the IOAPIC.
inline constexpr uint32_t kMaxTableVcpus = 254;

// The IOAPIC takes the first APIC ID no vCPU uses (the MP specification wants them distinct;
// 64-bit Linux does not care). The same in the MADT and the MP table.
[[nodiscard]] constexpr uint8_t ioapic_id(uint32_t vcpus) {
    return static_cast<uint8_t>(vcpus);
}

} // namespace ember::boot
