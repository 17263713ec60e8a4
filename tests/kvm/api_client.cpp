#include "tests/kvm/api_client.hpp"

#include "tests/kvm/subprocess.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace ember::test {
namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

template <class Pred> bool poll_until(Pred pred, int timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

} // namespace

HttpResult curl(const std::string& socket, const std::string& method, const std::string& path,
                const std::string& body) {
    std::vector<std::string> argv{"/usr/bin/curl",
                                  "-s",
                                  "--unix-socket",
                                  socket,
                                  "-X",
                                  method,
                                  "-w",
                                  "\n%{http_code}",
                                  "http://localhost" + path};
    if (!body.empty()) {
        argv.emplace_back("-H");
        argv.emplace_back("Content-Type: application/json");
        argv.emplace_back("--data-binary");
        argv.push_back(body);
    }
    const ProcessResult r = run_process(argv, 10000);
    HttpResult result;
    const size_t nl = r.out.rfind('\n');
    if (nl == std::string::npos) return result;
    result.body = r.out.substr(0, nl);
    result.status = std::atoi(r.out.c_str() + nl + 1);
    return result;
}

BackgroundEmber::BackgroundEmber(const std::vector<std::string>& args,
                                 const std::filesystem::path& dir)
    : out_path_(dir / "ember.out"), err_path_(dir / "ember.err") {
    std::array<int, 2> in{};
    if (::pipe2(in.data(), O_CLOEXEC) != 0) return;
    std::vector<char*> argv;
    for (const auto& a : args)
        argv.push_back(const_cast<char*>(a.c_str())); // NOLINT
    argv.push_back(nullptr);
    const int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
        ::dup2(in[0], STDIN_FILENO);
        ::dup2(out, STDOUT_FILENO);
        ::dup2(err, STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out);
    ::close(err);
    stdin_fd_ = in[1];
}

BackgroundEmber::~BackgroundEmber() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    if (pid_ > 0 && status_ < 0) {
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
    }
}

bool BackgroundEmber::wait_for_file(const std::filesystem::path& path, int timeout_ms) const {
    return poll_until([&] { return std::filesystem::exists(path); }, timeout_ms);
}

bool BackgroundEmber::wait_for_output(const std::string& marker, int timeout_ms) const {
    return poll_until([&] { return out().find(marker) != std::string::npos; }, timeout_ms);
}

void BackgroundEmber::write_stdin(const std::string& data) const {
    [[maybe_unused]] const ssize_t n = ::write(stdin_fd_, data.data(), data.size());
}

int BackgroundEmber::wait(int timeout_ms) {
    if (status_ >= 0) return status_;
    int st = 0;
    const bool done = poll_until([&] { return ::waitpid(pid_, &st, WNOHANG) == pid_; }, timeout_ms);
    if (!done) return -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
}

void BackgroundEmber::signal(int sig) const {
    ::kill(pid_, sig);
}

std::string BackgroundEmber::out() const {
    return slurp(out_path_);
}

std::string BackgroundEmber::err() const {
    return slurp(err_path_);
}

} // namespace ember::test
