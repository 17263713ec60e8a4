// BootTimer: Firecracker's --boot-timer device. A guest that writes the byte 123 at offset 0 of
// the device's window says "I have booted": ember logs the time since the start mark (process
// start, or the InstanceStart request under the API) and the CPU time ember used, and keeps
// the figure for the metrics. Guests written for Firecracker find it where Firecracker puts it
// on x86_64: the first 4 KiB MMIO window, 0xd0000000 (the virtio devices then start one window
// higher). Every other access is ignored; reads return 0.
#pragma once

#include "vmm/core/bus_device.hpp"

#include <atomic>
#include <cstdint>
#include <optional>
#include <span>

namespace ember::devices {

inline constexpr uint8_t kBootTimerMagic = 123;

struct BootTime {
    uint64_t wall_us = 0; // since the start mark
    uint64_t cpu_us = 0;  // ember's process CPU time (user + system) by then
};

class BootTimer final : public BusDevice {
public:
    // `start_ns`: CLOCK_MONOTONIC nanoseconds the boot time counts from.
    explicit BootTimer(uint64_t start_ns) : start_ns_(start_ns) {}

    void read(uint64_t offset, std::span<std::byte> data) override;
    void write(uint64_t offset, std::span<const std::byte> data) override;

    // The first boot signal's time; nullopt until the guest sent one. Any thread.
    [[nodiscard]] std::optional<BootTime> boot_time() const;

private:
    uint64_t start_ns_;
    std::atomic<bool> claimed_{false}; // the first signal is being recorded
    std::atomic<bool> ready_{false};   // ... and its figures are stored
    std::atomic<uint64_t> wall_us_{0};
    std::atomic<uint64_t> cpu_us_{0};
};

} // namespace ember::devices
