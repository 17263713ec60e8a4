#include "vmm/teardown.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <climits>
#include <vector>

namespace ember {
namespace {

// Closes every fd except those in `keep` (sorted). Async-signal-safe: runs in a forked child of
// a multi-threaded process.
void close_all_but(const std::vector<int>& keep) {
    int from = 0;
    for (const int fd : keep) {
        if (fd > from) (void)::syscall(SYS_close_range, from, fd - 1, 0);
        from = fd + 1;
    }
    (void)::syscall(SYS_close_range, from, INT_MAX, 0);
}

[[noreturn]] void child(std::vector<int> keep, int ready_fd, int parent_gone_fd) {
    keep.push_back(ready_fd);
    keep.push_back(parent_gone_fd);
    std::sort(keep.begin(), keep.end());
    close_all_but(keep);
    const char ok = 1;
    [[maybe_unused]] const ssize_t w = ::write(ready_fd, &ok, 1);
    (void)::close(ready_fd);
    // Returns 0 (end of file) when the parent has exited and its write end is closed.
    char byte = 0;
    while (::read(parent_gone_fd, &byte, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0); // the kernel destroys the VM as this process drops the last references
}

} // namespace

Result<void> hand_off_teardown(std::span<const int> keep_fds) {
    std::array<int, 2> ready{};    // child -> parent: "I hold only the VM now"
    std::array<int, 2> lifeline{}; // parent holds the write end until it exits
    if (::pipe2(ready.data(), O_CLOEXEC) != 0) return sys_error(Errc::kOsError, "pipe2");
    if (::pipe2(lifeline.data(), O_CLOEXEC) != 0) {
        ::close(ready[0]);
        ::close(ready[1]);
        return sys_error(Errc::kOsError, "pipe2");
    }
    std::vector<int> keep(keep_fds.begin(), keep_fds.end()); // allocated before fork
    keep.reserve(keep.size() + 2);
    const pid_t pid = ::fork();
    if (pid < 0) {
        for (int fd : {ready[0], ready[1], lifeline[0], lifeline[1]})
            ::close(fd);
        return sys_error(Errc::kOsError, "fork for the background teardown");
    }
    if (pid == 0) child(std::move(keep), ready[1], lifeline[0]);
    ::close(ready[1]);
    ::close(lifeline[0]);
    char ok = 0;
    ssize_t n = 0;
    while ((n = ::read(ready[0], &ok, 1)) < 0 && errno == EINTR) {
    }
    ::close(ready[0]);
    // lifeline[1] stays open (close-on-exec) until this process exits.
    if (n != 1) return make_error(Errc::kOsError, "the teardown child failed to start");
    return {};
}

} // namespace ember
