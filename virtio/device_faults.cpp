#include "virtio/device_faults.hpp"

#include "vmm/sys/logger.hpp"

#include <bit>

namespace ember::virtio {

void DeviceFaults::log(std::string_view message) {
    ++faults_;
    if (std::has_single_bit(faults_))
        log::warn("{}: {} ({} faults so far; logged at powers of two)", name_, message, faults_);
}

bool DeviceFaults::mark_broken(bool& broken, std::string_view why, VirtioInterrupt* interrupt) {
    if (broken) return false;
    broken = true;
    log(fmt::format("{}; the device needs a reset (DEVICE_NEEDS_RESET)", why));
    if (interrupt != nullptr) interrupt->report_broken();
    return true;
}

} // namespace ember::virtio
