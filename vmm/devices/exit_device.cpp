#include "vmm/devices/exit_device.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>

namespace ember::devices {

ExitDevice::ExitDevice(ExitReporter report_exit) : report_exit_(std::move(report_exit)) {}

void ExitDevice::read(uint64_t /*offset*/, std::span<std::byte> data) {
    std::ranges::fill(data, std::byte{0});
}

void ExitDevice::write(uint64_t /*offset*/, std::span<const std::byte> data) {
    if (data.size() != 1 && data.size() != 2 && data.size() != 4) {
        bad_accesses_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    uint32_t value = 0; // little-endian, like the x86 `out` that wrote it
    for (size_t i = 0; i < data.size(); ++i)
        value |= std::to_integer<uint32_t>(data[i]) << (8 * i);
    if (!report_exit_) return;
    const auto status = static_cast<int>(value & 0xff);
    std::string detail = fmt::format("guest exited with status {}", value);
    if (value > 0xff) detail += fmt::format(" (process exit status {}: its low byte)", status);
    report_exit_(
        GuestExit{.kind = GuestExit::Kind::kStatus, .status = status, .detail = std::move(detail)});
}

} // namespace ember::devices
