#include "vmm/devices/boot_timer.hpp"

#include "vmm/sys/logger.hpp"

#include <algorithm>
#include <ctime>

namespace ember::devices {
namespace {

uint64_t clock_ns(clockid_t clock) {
    timespec ts{};
    if (::clock_gettime(clock, &ts) != 0) return 0;
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

} // namespace

void BootTimer::read(uint64_t /*offset*/, std::span<std::byte> data) {
    std::ranges::fill(data, std::byte{0});
}

void BootTimer::write(uint64_t offset, std::span<const std::byte> data) {
    if (offset != 0 || data.size() != 1 || std::to_integer<uint8_t>(data[0]) != kBootTimerMagic)
        return;
    const uint64_t now = clock_ns(CLOCK_MONOTONIC);
    const uint64_t wall_us = now > start_ns_ ? (now - start_ns_) / 1000 : 0;
    const uint64_t cpu_us = clock_ns(CLOCK_PROCESS_CPUTIME_ID) / 1000;
    // A guest may signal more than once (each init that knows the convention): the first counts,
    // and only it is logged, so a guest cannot flood the log through this device.
    if (claimed_.exchange(true)) return;
    wall_us_.store(wall_us);
    cpu_us_.store(cpu_us);
    ready_.store(true, std::memory_order_release);
    // Asked for with --boot-timer, so written whatever the log level.
    log::write_line(log::Level::kInfo,
                    fmt::format("Guest-boot-time = {:>6} us {} ms, {:>6} CPU us {} CPU ms", wall_us,
                                wall_us / 1000, cpu_us, cpu_us / 1000));
}

std::optional<BootTime> BootTimer::boot_time() const {
    if (!ready_.load(std::memory_order_acquire)) return std::nullopt;
    return BootTime{wall_us_.load(), cpu_us_.load()};
}

} // namespace ember::devices
