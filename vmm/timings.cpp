#include "vmm/timings.hpp"

#include <fmt/format.h>

#include <ctime>

namespace ember {

uint64_t monotonic_ns() {
    timespec ts{};
    (void)::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {
double ms(uint64_t from, uint64_t to) {
    return to >= from ? static_cast<double>(to - from) / 1e6 : 0.0;
}
} // namespace

std::string Timings::summary() const {
    return fmt::format(
        "setup {:.3f} ms (parse {:.3f}, kvm+memory {:.3f}, load {:.3f}, devices "
        "{:.3f}, vcpus {:.3f}), guest {:.3f} ms, teardown {:.3f} ms, total {:.3f} ms",
        ms(start, vcpus_ready), ms(start, kernel_read), ms(kernel_read, vm_created),
        ms(vm_created, loaded), ms(loaded, devices), ms(devices, vcpus_ready),
        ms(vcpus_ready, guest_exit), ms(guest_exit, end), ms(start, end));
}

} // namespace ember
