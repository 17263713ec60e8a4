// DeviceFaults: how an ember virtio device reports what its guest did wrong. A hostile guest
// can fault on every request, so messages are counted and logged only at powers of two (1st,
// 2nd, 4th, ...), each with the count so far; a fault the device cannot get past (a ring the
// rules forbid, a dead back end) breaks the device: logged, and DEVICE_NEEDS_RESET raised once.
#pragma once

#include "virtio/virtio_device.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace ember::virtio {

class DeviceFaults final {
public:
    // `device_name` prefixes every line and must outlive this object.
    explicit DeviceFaults(const std::string& device_name) : name_(device_name) {}

    // Counts a guest fault; logs it at powers of two.
    void log(std::string_view message);
    // Marks the device broken (`broken` becomes true), logs why and raises DEVICE_NEEDS_RESET
    // through `interrupt` (if any). False, doing nothing, when `broken` was already true.
    bool mark_broken(bool& broken, std::string_view why, VirtioInterrupt* interrupt);

    [[nodiscard]] uint64_t count() const { return faults_; }

private:
    const std::string& name_;
    uint64_t faults_ = 0;
};

} // namespace ember::virtio
