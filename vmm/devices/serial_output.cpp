#include "vmm/devices/serial_output.hpp"

#include "vmm/sys/logger.hpp"
#include "vmm/sys/result.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace ember::devices {

void SerialOutput::write(std::span<const std::byte> bytes) {
    if (fd_ < 0) return;
    std::span<const std::byte> rest = bytes;
    bool may_wait = true;
    // Each pass writes at least one byte, or retries after EINTR, or waits (once per call), or
    // ends: the loop is bounded by the bytes and that one wait.
    while (!rest.empty()) {
        if (write_once(rest, may_wait) == Outcome::kDrop) return;
    }
}

SerialOutput::Outcome SerialOutput::write_once(std::span<const std::byte>& rest, bool& may_wait) {
    const ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n > 0) {
        const auto done = static_cast<size_t>(n);
        written_.fetch_add(done, std::memory_order_relaxed);
        stalled_.store(false, std::memory_order_relaxed);
        rest = rest.subspan(done);
        return Outcome::kProgress;
    }
    const int err = n < 0 ? errno : EIO; // write(2) of a non-empty buffer never returns 0
    if (err == EINTR) return Outcome::kRetry;
    if ((err == EAGAIN || err == EWOULDBLOCK) && std::exchange(may_wait, false) && wait_for_room())
        return Outcome::kRetry;
    drop(rest.size(), err);
    return Outcome::kDrop;
}

bool SerialOutput::wait_for_room() {
    if (stalled_.load(std::memory_order_relaxed)) return false;
    pollfd pfd{.fd = fd_, .events = POLLOUT, .revents = 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(kStallTimeout.count()));
    if (ready == 1 && (pfd.revents & POLLOUT) != 0) return true;
    stalled_.store(true, std::memory_order_relaxed);
    return false;
}

void SerialOutput::drop(size_t count, int err) {
    dropped_.fetch_add(count, std::memory_order_relaxed);
    if (warned_.exchange(true, std::memory_order_relaxed)) return;
    const bool full = err == EAGAIN || err == EWOULDBLOCK;
    const Error e(
        Errc::kOsError,
        full ? fmt::format("serial: output fd {} stays full (its reader is not keeping "
                           "up); dropping guest output",
                           fd_)
             : fmt::format("serial: writing guest output to fd {} failed; dropping it", fd_),
        err);
    log::warn("{} (further losses are counted, not logged)", e.describe());
}

} // namespace ember::devices
