#include "tests/jail/child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

namespace ember::test {
namespace {

int ms_left(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Reads what is there; false at EOF or on an error.
bool drain(int fd, std::string& into) {
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    into.append(buf, static_cast<size_t>(n));
    return true;
}

} // namespace

Child::Child(const std::vector<std::string>& argv) {
    int in[2];
    int pout[2];
    int perr[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(pout, O_CLOEXEC) != 0 ||
        ::pipe2(perr, O_CLOEXEC) != 0)
        return;
    pid_ = ::fork();
    if (pid_ == 0) {
        ::dup2(in[0], 0);
        ::dup2(pout[1], 1);
        ::dup2(perr[1], 2);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(pout[1]);
    ::close(perr[1]);
    in_ = in[1];
    out_fd_ = pout[0];
    err_fd_ = perr[0];
}

Child::~Child() {
    if (pid_ > 0) (void)finish(1000);
}

std::string Child::read_until(const std::string& marker, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (out.find(marker) == std::string::npos) {
        pollfd p{out_fd_, POLLIN, 0};
        if (::poll(&p, 1, ms_left(deadline)) <= 0 || !drain(out_fd_, out)) break;
    }
    return out;
}

int Child::finish(int timeout_ms) {
    if (pid_ <= 0) return -1;
    if (in_ >= 0) ::close(in_);
    in_ = -1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    bool timed_out = false;
    while (out_fd_ >= 0 || err_fd_ >= 0) {
        pollfd p[2]{{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
        if (::poll(p, 2, ms_left(deadline)) <= 0) {
            timed_out = true;
            ::kill(pid_, SIGKILL);
            break;
        }
        for (int i = 0; i < 2; ++i) {
            int& fd = i == 0 ? out_fd_ : err_fd_;
            if (p[i].revents != 0 && !drain(fd, i == 0 ? out : err)) {
                ::close(fd);
                fd = -1;
            }
        }
    }
    for (int* fd : {&out_fd_, &err_fd_})
        if (*fd >= 0) ::close(*fd);
    out_fd_ = err_fd_ = -1;
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (timed_out) return -1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

} // namespace ember::test
