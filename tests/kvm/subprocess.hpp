// Runs a program with captured stdout/stderr and a timeout (tests only).
#pragma once

#include <csignal>
#include <string>
#include <vector>

namespace ember::test {

struct ProcessResult {
    int status = -1; // exit status, or 128 + signal
    bool timed_out = false;
    std::string out;
    std::string err;
    bool marker_seen = false; // run_process_until: the marker appeared on stdout
};

// Runs argv (argv[0] is a path) with stdin from /dev/null unless `stdin_data` is given.
ProcessResult run_process(const std::vector<std::string>& argv, int timeout_ms = 20000,
                          const std::string* stdin_data = nullptr);

// Runs argv (stdin from /dev/null) and watches its stdout: as soon as `marker` has appeared
// there, sends `sig` (SIGKILL by default) to the child, then collects what is left and its
// status (128 + sig when it died of it). Without the marker it runs to exit or the timeout.
ProcessResult run_process_until(const std::vector<std::string>& argv, const std::string& marker,
                                int timeout_ms = 20000, int sig = SIGKILL);

} // namespace ember::test
