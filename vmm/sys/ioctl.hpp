// Checked ioctl: every KVM call goes through here so that a failure names the request.
#pragma once

#include "vmm/sys/result.hpp"

#include <sys/ioctl.h>

namespace ember {

// Calls ioctl(fd, request, arg), retrying on EINTR; returns its non-negative result or an
// Errc::kOsError naming `what`.
template <class Arg>
Result<int> checked_ioctl(int fd, unsigned long request, Arg arg, const char* what) {
    for (;;) {
        // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): ioctl is variadic by definition
        const int r = ::ioctl(fd, request, arg);
        if (r >= 0) return r;
        if (errno != EINTR) return sys_error(Errc::kOsError, "{} failed", what);
    }
}

} // namespace ember
