// EventFd: an eventfd(2) counter used for wake-ups between threads and, registered with KVM, as
// an ioeventfd (guest write -> host wake-up) or irqfd (host write -> guest interrupt).
#pragma once

#include "vmm/sys/result.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <cstdint>

namespace ember {

class EventFd final {
public:
    // Non-blocking, close-on-exec.
    static Result<EventFd> create();

    [[nodiscard]] int fd() const { return fd_.get(); }
    // Adds `n` to the counter. Never blocks; a saturated counter is already signalled.
    void signal(uint64_t n = 1) const;
    // Reads and resets the counter; 0 when it was not signalled.
    uint64_t consume() const;

private:
    explicit EventFd(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

} // namespace ember
