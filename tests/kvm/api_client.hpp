// Test helpers for the REST API: ember running in the background with a socket, and requests
// sent with the real curl (`curl --unix-socket`), as users script it.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace ember::test {

struct HttpResult {
    int status = 0; // the HTTP status; 0 when curl could not get an answer
    std::string body;
};

// `curl --unix-socket socket -X method http://localhost<path> [-d body]`.
HttpResult curl(const std::string& socket, const std::string& method, const std::string& path,
                const std::string& body = {});

// ember started with `args` in the background: stdin a pipe the test writes, stdout and stderr
// into files under `dir`. Killed (SIGKILL) by the destructor if still running.
class BackgroundEmber final {
public:
    BackgroundEmber(const std::vector<std::string>& args, const std::filesystem::path& dir);
    ~BackgroundEmber();
    BackgroundEmber(const BackgroundEmber&) = delete;
    BackgroundEmber& operator=(const BackgroundEmber&) = delete;
    BackgroundEmber(BackgroundEmber&&) = delete;
    BackgroundEmber& operator=(BackgroundEmber&&) = delete;

    // Waits until `path` exists (the API socket), up to timeout_ms.
    bool wait_for_file(const std::filesystem::path& path, int timeout_ms = 5000) const;
    // Waits until stdout contains `marker`.
    bool wait_for_output(const std::string& marker, int timeout_ms = 10000) const;
    void write_stdin(const std::string& data) const;
    // The exit status (128 + signal when killed); -1 on timeout.
    int wait(int timeout_ms = 20000);
    void signal(int sig) const;
    [[nodiscard]] std::string out() const;
    [[nodiscard]] std::string err() const;
    [[nodiscard]] pid_t pid() const { return pid_; }

private:
    std::filesystem::path out_path_;
    std::filesystem::path err_path_;
    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int status_ = -1;
};

} // namespace ember::test
