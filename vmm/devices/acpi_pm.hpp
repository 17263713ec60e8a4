// AcpiPm: the hardware-reduced ACPI power-management port (docs/acpi.md). One byte-wide I/O
// port that the FADT names as SLEEP_CONTROL_REG, SLEEP_STATUS_REG and RESET_REG:
//   a write with SLP_EN set and SLP_TYP = 5 (S5; Linux `poweroff` writes 0x34) powers off:
//     the VM ends with status 0;
//   a write of the reset value 0x01 (Linux `reboot` tries it first) resets: the VM ends with
//     status 0, as an i8042 reset does;
//   other writes (Linux clears WAK_STS with 0x80 before sleeping) are ignored; reads return 0.
#pragma once

#include "vmm/core/bus_device.hpp"
#include "vmm/core/guest_exit.hpp"

#include <cstdint>

namespace ember::devices {

class AcpiPm final : public BusDevice {
public:
    explicit AcpiPm(ExitReporter report_exit) : report_exit_(std::move(report_exit)) {}

    void read(uint64_t offset, std::span<std::byte> data) override;
    void write(uint64_t offset, std::span<const std::byte> data) override;

    [[nodiscard]] uint64_t ignored_writes() const { return ignored_writes_; }

private:
    ExitReporter report_exit_;
    uint64_t ignored_writes_ = 0; // written by vCPU threads; a statistic only
};

} // namespace ember::devices
