// TerminalGuard: puts a TTY stdin into raw mode for an interactive guest console and restores
// the saved settings when destroyed. Does nothing when stdin is not a terminal.
#pragma once

#include <termios.h>

namespace ember {

class TerminalGuard final {
public:
    explicit TerminalGuard(int fd);
    ~TerminalGuard();
    TerminalGuard(const TerminalGuard&) = delete;
    TerminalGuard& operator=(const TerminalGuard&) = delete;
    TerminalGuard(TerminalGuard&&) = delete;
    TerminalGuard& operator=(TerminalGuard&&) = delete;

    [[nodiscard]] bool active() const { return active_; }

private:
    int fd_;
    bool active_ = false;
    termios saved_{};
};

} // namespace ember
