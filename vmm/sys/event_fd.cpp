#include "vmm/sys/event_fd.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

namespace ember {

Result<EventFd> EventFd::create() {
    const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return sys_error(Errc::kOsError, "eventfd");
    return EventFd(UniqueFd(fd));
}

void EventFd::signal(uint64_t n) const {
    // EAGAIN means the counter is at its maximum: the reader is already woken.
    [[maybe_unused]] const ssize_t r = ::write(fd_.get(), &n, sizeof n);
}

uint64_t EventFd::consume() const {
    uint64_t value = 0;
    if (::read(fd_.get(), &value, sizeof value) != static_cast<ssize_t>(sizeof value)) return 0;
    return value;
}

} // namespace ember
