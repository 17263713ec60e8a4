// Runs a program with captured stdout/stderr and a timeout (tests only).
#pragma once

#include <string>
#include <vector>

namespace ember::test {

struct ProcessResult {
    int status = -1; // exit status, or 128 + signal
    bool timed_out = false;
    std::string out;
    std::string err;
};

// Runs argv (argv[0] is a path) with stdin from /dev/null unless `stdin_data` is given.
ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms = 20000,
                          const std::string* stdin_data = nullptr);

} // namespace ember::test
