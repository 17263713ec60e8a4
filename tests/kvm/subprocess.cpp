#include "tests/kvm/subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>

namespace ember::test {

namespace {

// What run_process and run_process_until share: `marker` (if not null) is watched for on stdout
// and answered with `sig`.
ProcessResult run(const std::vector<std::string>& argv, int timeout_ms,
                  const std::string* stdin_data, const std::string* marker, int sig) {
    ProcessResult result;
    std::array<int, 2> out{};
    std::array<int, 2> err{};
    std::array<int, 2> in{};
    if (::pipe2(out.data(), O_CLOEXEC) != 0 || ::pipe2(err.data(), O_CLOEXEC) != 0 ||
        ::pipe2(in.data(), O_CLOEXEC) != 0)
        return result;
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str())); // NOLINT
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (stdin_data != nullptr) {
            ::dup2(in[0], STDIN_FILENO);
        } else {
            const int devnull = ::open("/dev/null", O_RDONLY);
            ::dup2(devnull, STDIN_FILENO);
        }
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    ::close(in[0]);
    if (stdin_data != nullptr && ::write(in[1], stdin_data->data(), stdin_data->size()) !=
                                     static_cast<ssize_t>(stdin_data->size()))
        result.err = "test harness: short write to the child's stdin\n";
    ::close(in[1]);

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::array<pollfd, 2> fds{pollfd{out[0], POLLIN, 0}, pollfd{err[0], POLLIN, 0}};
    int open_fds = 2;
    std::array<char, 65536> buf{};
    while (open_fds > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              deadline - std::chrono::steady_clock::now())
                              .count();
        if (left <= 0) {
            result.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        if (::poll(fds.data(), fds.size(), static_cast<int>(left)) <= 0) continue;
        for (size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
            if (n <= 0) {
                fds[i].fd = -1;
                --open_fds;
                continue;
            }
            (i == 0 ? result.out : result.err).append(buf.data(), static_cast<size_t>(n));
            if (i == 0 && marker != nullptr && !result.marker_seen &&
                result.out.find(*marker) != std::string::npos) {
                result.marker_seen = true;
                ::kill(pid, sig);
            }
        }
    }
    ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

} // namespace

ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms,
                          const std::string* stdin_data) {
    return run(argv, timeout_ms, stdin_data, nullptr, 0);
}

ProcessResult run_process_until(const std::vector<std::string>& argv, const std::string& marker,
                                int timeout_ms, int sig) {
    return run(argv, timeout_ms, nullptr, &marker, sig);
}

} // namespace ember::test
