// Child: a process with its stdin, stdout and stderr on pipes, for tests that talk to a jailed
// process while it runs (tests only).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ember::test {

class Child final {
public:
    explicit Child(const std::vector<std::string>& argv);
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }
    // Reads stdout until `marker` has appeared or `timeout_ms` passed; returns what was read.
    std::string read_until(const std::string& marker, int timeout_ms = 10000);
    // Closes stdin, reads stdout and stderr to EOF, reaps; returns the exit status (128 + signal;
    // -1 after a timeout, when the child is killed).
    int finish(int timeout_ms = 20000);

    std::string out;
    std::string err;

private:
    pid_t pid_ = -1;
    int in_ = -1;
    int out_fd_ = -1;
    int err_fd_ = -1;
};

} // namespace ember::test
