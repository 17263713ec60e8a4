#include "vmm/devices/acpi_pm.hpp"

#include <algorithm>

namespace ember::devices {
namespace {

// Bit layout of the sleep control register (ACPI 6.4, 4.8.3.7); values from docs/acpi.md and
// boot/acpi/tables.hpp, repeated here because devices do not depend on the boot layer.
constexpr uint8_t kSleepEnable = 0x20;   // SLP_EN
constexpr uint8_t kSleepTypeMask = 0x1c; // SLP_TYPx, bits 4:2
constexpr uint8_t kS5SleepType = 5;
constexpr uint8_t kResetValue = 0x01;

} // namespace

void AcpiPm::read(uint64_t /*offset*/, std::span<std::byte> data) {
    std::fill(data.begin(), data.end(), std::byte{0});
}

void AcpiPm::write(uint64_t offset, std::span<const std::byte> data) {
    if (offset != 0 || data.size() != 1) {
        ++ignored_writes_;
        return;
    }
    const auto value = std::to_integer<uint8_t>(data[0]);
    if ((value & kSleepEnable) != 0 && ((value & kSleepTypeMask) >> 2) == kS5SleepType) {
        report_exit_(GuestExit{GuestExit::Kind::kPowerOff, 0, "guest powered off (ACPI S5)"});
        return;
    }
    if (value == kResetValue) {
        report_exit_(GuestExit{GuestExit::Kind::kReset, 0,
                               "guest requested a reset through the ACPI reset register"});
        return;
    }
    ++ignored_writes_;
}

} // namespace ember::devices
