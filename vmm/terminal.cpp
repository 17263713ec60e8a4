#include "vmm/terminal.hpp"

#include <unistd.h>

namespace ember {

TerminalGuard::TerminalGuard(int fd) : fd_(fd) {
    if (::isatty(fd_) == 0 || ::tcgetattr(fd_, &saved_) != 0) return;
    termios raw = saved_;
    // Raw input: every key goes to the guest (Ctrl-C included); the guest echoes. Output
    // processing stays on so the guest's "\n" still returns the carriage.
    raw.c_iflag &=
        ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(fd_, TCSANOW, &raw) == 0;
}

TerminalGuard::~TerminalGuard() {
    if (active_) (void)::tcsetattr(fd_, TCSANOW, &saved_);
}

} // namespace ember
