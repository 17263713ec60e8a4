// ExitDevice: lets a guest end the VM with a status, like QEMU's
// `-device isa-debug-exit,iobase=0xf4,iosize=4`, so the same test guest runs on both.
//
// A write of 1, 2 or 4 bytes of value V (little-endian, at any offset of the 4 ports) reports
// GuestExit{kStatus, V & 0xff, "guest exited with status V"}: ember's process exits with
// V & 0xff, so a guest's 0 means success. QEMU exits with (V << 1) | 1 for the same write (never
// 0); scripts running a guest under both compare accordingly (docs/devices.md). Reads return 0.
#pragma once

#include "vmm/core/bus_device.hpp"
#include "vmm/core/guest_exit.hpp"

#include <atomic>
#include <cstdint>
#include <span>

namespace ember::devices {

inline constexpr uint16_t kExitDeviceBase = 0xf4;
inline constexpr uint16_t kExitDevicePortCount = 4; // 0xf4..0xf7

class ExitDevice final : public BusDevice {
public:
    // `report_exit` is called on the vCPU thread that wrote the status.
    explicit ExitDevice(ExitReporter report_exit);

    void read(uint64_t offset, std::span<std::byte> data) override;
    void write(uint64_t offset, std::span<const std::byte> data) override;

    // Writes of another width than 1, 2 or 4 bytes (ignored).
    [[nodiscard]] uint64_t bad_accesses() const {
        return bad_accesses_.load(std::memory_order_relaxed);
    }

private:
    ExitReporter report_exit_;
    std::atomic<uint64_t> bad_accesses_{0};
};

} // namespace ember::devices
