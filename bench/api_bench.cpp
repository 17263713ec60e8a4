// api_bench: what the REST API costs, against ember without it and QEMU microvm, in one run.
//
// (a) socket: spawn `ember --api-sock S` and connect() to S in a loop until it succeeds (a try
//     every 10 µs, --poll-us); the time from spawn to the first successful connect, N runs,
//     median and p90 (target ≤ 1 ms). As a floor, the same spawn of `ember --version` until it
//     exits.
// (b) launches per second of the whole API flow on the hello guest: spawn `ember --api-sock S`,
//     then on one keep-alive connection PUT /boot-source, PUT /machine-config, PUT /actions
//     InstanceStart, and wait for ember to exit with the guest's status 0 (its output must hold
//     the greeting). Sequentially for T seconds, and with 2 launch loops in parallel (target
//     ≥ 200 launches/s).
// (c) the peers, the same way: `ember --kernel hello.elf` (no API: the API's cost) and, where
//     qemu-system-x86_64 exists, QEMU microvm booting the same image; ratios are printed.
//
// Rounds alternate the peers so host drift hits all alike; medians over rounds are printed.
//
//   api_bench --ember build/vmm/ember --kernel build/resources/guests/hello.elf
//             [--qemu PATH] [--runs 50] [--seconds 3] [--rounds 3] [--parallel 2]
//             [--poll-us 10] [--ember-arg ARG]...   (ARG: added to every ember command line)
#include "bench/bench_common.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern char** environ; // NOLINT: posix_spawn's environment

namespace {

using namespace ember::bench;

constexpr int kSkipped = 77; // CTest's SKIP_RETURN_CODE for the smoke test
constexpr double kStartTimeoutS = 5.0;
constexpr int kIoTimeoutMs = 10'000;
constexpr std::string_view kGreeting = "Hello from ember!";

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

// A child process with its stdout on a pipe (or /dev/null) and stderr on /dev/null.
struct Child {
    pid_t pid = -1;
    int out = -1; // read end of its stdout, or -1
};

// Spawns argv (posix_spawn: vfork-like, so the spawn itself is cheap and not what we measure).
std::optional<Child> spawn(const std::vector<std::string>& argv, bool capture_stdout) {
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str())); // NOLINT: posix_spawn's signature
    args.push_back(nullptr);
    std::array<int, 2> pipe_fds{-1, -1};
    if (capture_stdout && ::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) return std::nullopt;
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (capture_stdout)
        ::posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    else
        ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    ::posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    Child child;
    const int rc = ::posix_spawn(&child.pid, args[0], &actions, nullptr, args.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    if (capture_stdout) ::close(pipe_fds[1]);
    if (rc != 0) {
        if (capture_stdout) ::close(pipe_fds[0]);
        return std::nullopt;
    }
    child.out = pipe_fds[0];
    return child;
}

// Waits for the child; returns its exit status (-1 when killed by a signal) and its output.
std::pair<int, std::string> reap(Child& child) {
    std::string output;
    if (child.out >= 0) {
        std::array<char, 4096> buf{};
        ssize_t n = 0;
        while ((n = ::read(child.out, buf.data(), buf.size())) > 0)
            output.append(buf.data(), static_cast<size_t>(n));
        ::close(child.out);
        child.out = -1;
    }
    int status = 0;
    while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// Connects to the Unix socket at `path`, retrying until it works, the child exits or
// kStartTimeoutS passes: every `poll_us` microseconds, or in a pure spin for 0. A pure spin on a
// busy 2-core host keeps a core from the child it waits for (medians ~3 ms against ~1.5 ms with
// a 10 µs pause; docs/benchmarks.md), so it measures the scheduler more than ember.
int connect_when_ready(const std::string& path, pid_t child, unsigned poll_us, std::string& error) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const double deadline = now_s() + kStartTimeoutS;
    for (unsigned tries = 0;; ++tries) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        // Safety: sockaddr_un is the sockaddr connect() takes for AF_UNIX.
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
        ::close(fd);
        if (poll_us > 0) ::usleep(poll_us);
        if (tries % 64 == 63) {
            int status = 0;
            if (::waitpid(child, &status, WNOHANG) == child) {
                error = fmt::format("ember exited ({}) before listening on {}",
                                    WIFEXITED(status) ? WEXITSTATUS(status) : -1, path);
                return -1;
            }
            if (now_s() > deadline) {
                error = fmt::format("{} was not listening after {} s", path, kStartTimeoutS);
                return -1;
            }
        }
    }
}

// A minimal HTTP/1.1 client on one keep-alive connection: sends a request, reads one reply
// (status line, headers, Content-Length body) and returns the status code.
class HttpClient final {
public:
    explicit HttpClient(int fd) : fd_(fd) {}
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;
    ~HttpClient() { ::close(fd_); }

    int request(std::string_view method, std::string_view path, std::string_view body,
                std::string& error) {
        const std::string text =
            fmt::format("{} {} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                        "Content-Length: {}\r\n\r\n{}",
                        method, path, body.size(), body);
        for (size_t sent = 0; sent < text.size();) {
            const ssize_t n = ::send(fd_, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) {
                error = fmt::format("{} {}: send: {}", method, path, std::strerror(errno));
                return -1;
            }
            sent += static_cast<size_t>(n);
        }
        size_t header_end = 0;
        while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos)
            if (!fill(method, path, error)) return -1;
        const int status = std::atoi(buffer_.c_str() + std::strlen("HTTP/1.1 "));
        size_t length = 0;
        const std::string headers = lower(buffer_.substr(0, header_end));
        if (const auto at = headers.find("\r\ncontent-length:"); at != std::string::npos)
            length = std::strtoul(headers.c_str() + at + 17, nullptr, 10);
        while (buffer_.size() < header_end + 4 + length)
            if (!fill(method, path, error)) return -1;
        buffer_.erase(0, header_end + 4 + length);
        return status;
    }

private:
    static std::string lower(std::string s) {
        for (char& c : s)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return s;
    }

    bool fill(std::string_view method, std::string_view path, std::string& error) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, kIoTimeoutMs) != 1) {
            error = fmt::format("{} {}: no reply within {} ms", method, path, kIoTimeoutMs);
            return false;
        }
        std::array<char, 4096> buf{};
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n <= 0) {
            error = fmt::format("{} {}: connection closed before the reply", method, path);
            return false;
        }
        buffer_.append(buf.data(), static_cast<size_t>(n));
        return true;
    }

    int fd_;
    std::string buffer_;
};

struct Options {
    std::string ember;
    std::string kernel;
    std::string qemu = "/usr/bin/qemu-system-x86_64";
    int runs = 50;
    double seconds = 3;
    int rounds = 3;
    int parallel = 2;
    unsigned poll_us = 10;               // --poll-us: the pause between connect() tries; 0 spins
    std::vector<std::string> ember_args; // --ember-arg, repeatable: added to every ember
};

// The argv of `ember --api-sock sock` with the extra arguments.
std::vector<std::string> api_argv(const Options& o, const std::string& sock) {
    std::vector<std::string> argv{o.ember, "--api-sock", sock};
    argv.insert(argv.end(), o.ember_args.begin(), o.ember_args.end());
    return argv;
}

// One launch, from spawn to exit. `sock` is the worker's API socket path. Returns false (with
// the reason) when the VMM did not boot the guest and exit cleanly.
using Launch = std::function<bool(const std::string& sock, std::string& error)>;

bool check_exit(int status, int expected, const std::string& output, std::string& error) {
    if (status != expected) {
        error = fmt::format("exited with {} (expected {})", status, expected);
        return false;
    }
    if (output.find(kGreeting) == std::string::npos) {
        error = fmt::format("did not print '{}'; it printed: {}", kGreeting, output.substr(0, 200));
        return false;
    }
    return true;
}

Launch api_launch(const Options& o) {
    return [&o](const std::string& sock, std::string& error) {
        ::unlink(sock.c_str());
        auto child = spawn(api_argv(o, sock), true);
        if (!child) {
            error = "spawn failed";
            return false;
        }
        const int fd = connect_when_ready(sock, child->pid, o.poll_us, error);
        bool ok = fd >= 0;
        if (ok) {
            HttpClient http(fd);
            const std::array<std::pair<std::string_view, std::string>, 3> requests{{
                {"/boot-source",
                 fmt::format(R"({{"kernel_image_path":"{}","boot_args":"bench"}})", o.kernel)},
                {"/machine-config", R"({"vcpu_count":1,"mem_size_mib":128})"},
                {"/actions", R"({"action_type":"InstanceStart"})"},
            }};
            for (const auto& [path, body] : requests) {
                const int status = http.request("PUT", path, body, error);
                if (status != 204) {
                    if (status > 0) error = fmt::format("PUT {} answered {}", path, status);
                    ok = false;
                    break;
                }
            }
        }
        if (!ok) ::kill(child->pid, SIGKILL);
        const auto [status, output] = reap(*child);
        return ok && check_exit(status, 0, output, error);
    };
}

Launch argv_launch(std::vector<std::string> argv, int expected_status) {
    return [argv = std::move(argv), expected_status](const std::string&, std::string& error) {
        auto child = spawn(argv, true);
        if (!child) {
            error = "spawn failed";
            return false;
        }
        const auto [status, output] = reap(*child);
        return check_exit(status, expected_status, output, error);
    };
}

struct Peer {
    std::string name;
    Launch launch;
    std::vector<double> seq_rate;  // launches/s per round, one loop
    std::vector<double> par_rate;  // launches/s per round, `parallel` loops
    std::vector<double> latency_s; // each sequential launch, spawn to exit
};

// Runs `workers` launch loops for `seconds`; returns launches/s, or nullopt (error set) when a
// launch failed. Each loop's launch times go to `latency` (when given).
std::optional<double> run_loops(const Peer& p, const std::string& dir, int workers, double seconds,
                                std::vector<double>* latency, std::string& error) {
    std::atomic<bool> failed{false};
    std::vector<size_t> counts(static_cast<size_t>(workers), 0);
    std::vector<std::vector<double>> times(static_cast<size_t>(workers));
    std::vector<std::string> errors(static_cast<size_t>(workers));
    const double start = now_s();
    const double end = start + seconds;
    auto loop = [&](size_t w) {
        const std::string sock = fmt::format("{}/w{}.sock", dir, w);
        do {
            const double t0 = now_s();
            if (!p.launch(sock, errors[w])) {
                failed = true;
                return;
            }
            times[w].push_back(now_s() - t0);
            ++counts[w];
        } while (now_s() < end && !failed);
    };
    std::vector<std::thread> threads;
    for (size_t w = 1; w < counts.size(); ++w)
        threads.emplace_back(loop, w);
    loop(0);
    for (auto& t : threads)
        t.join();
    const double elapsed = now_s() - start;
    if (failed) {
        for (const auto& e : errors)
            if (!e.empty()) error = e;
        return std::nullopt;
    }
    size_t total = 0;
    for (size_t w = 0; w < counts.size(); ++w) {
        total += counts[w];
        if (latency != nullptr) latency->insert(latency->end(), times[w].begin(), times[w].end());
    }
    return static_cast<double>(total) / elapsed;
}

// (a): spawn to the first successful connect(), `runs` times; and spawn to exit of
// `ember --version`, the exec floor.
bool socket_ready_times(const Options& o, const std::string& dir, std::vector<double>& ready,
                        std::vector<double>& floor) {
    const std::string sock = dir + "/ready.sock";
    for (int r = 0; r < o.runs; ++r) {
        ::unlink(sock.c_str());
        const double t0 = now_s();
        auto child = spawn(api_argv(o, sock), false);
        if (!child) return false;
        std::string error;
        const int fd = connect_when_ready(sock, child->pid, o.poll_us, error);
        const double t1 = now_s();
        if (fd < 0) {
            fmt::print(stderr, "api_bench: socket run {}: {}\n", r, error);
            ::kill(child->pid, SIGKILL);
            reap(*child);
            return false;
        }
        ::close(fd);
        ::kill(child->pid, SIGTERM);
        reap(*child);
        ready.push_back(t1 - t0);

        const double v0 = now_s();
        auto version = spawn({o.ember, "--version"}, false);
        if (!version || reap(*version).first != 0) return false;
        floor.push_back(now_s() - v0);
    }
    return true;
}

int usage() {
    fmt::print(stderr,
               "usage: api_bench --ember PATH --kernel hello.elf [--qemu PATH] [--runs N] "
               "[--seconds T] [--rounds R] [--parallel P] [--poll-us US] [--ember-arg ARG]...\n");
    return 2;
}

std::optional<Options> parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--ember")
            o.ember = value;
        else if (flag == "--kernel")
            o.kernel = value;
        else if (flag == "--qemu")
            o.qemu = value;
        else if (flag == "--runs")
            o.runs = std::atoi(value.c_str());
        else if (flag == "--seconds")
            o.seconds = std::atof(value.c_str());
        else if (flag == "--rounds")
            o.rounds = std::atoi(value.c_str());
        else if (flag == "--parallel")
            o.parallel = std::atoi(value.c_str());
        else if (flag == "--poll-us")
            o.poll_us = static_cast<unsigned>(std::atoi(value.c_str()));
        else if (flag == "--ember-arg")
            o.ember_args.push_back(value);
        else
            return std::nullopt;
    }
    if (argc % 2 == 0 || o.ember.empty() || o.kernel.empty() || o.runs < 1 || o.seconds <= 0 ||
        o.rounds < 1 || o.parallel < 1)
        return std::nullopt;
    return o;
}

std::vector<Peer> make_peers(const Options& o, bool with_qemu) {
    std::vector<Peer> peers;
    peers.push_back({"ember --api-sock", api_launch(o), {}, {}, {}});
    std::vector<std::string> cli{o.ember, "--kernel", o.kernel, "--cmdline", "bench"};
    cli.insert(cli.end(), o.ember_args.begin(), o.ember_args.end());
    peers.push_back({"ember --kernel", argv_launch(std::move(cli), 0), {}, {}, {}});
    if (with_qemu)
        // boot_bench's microvm, trimmed of what hello does not need (the strongest QEMU we
        // found); isa-debug-exit turns the guest's status 0 into QEMU's exit status 1.
        peers.push_back(
            {"qemu microvm",
             argv_launch({o.qemu, "-M", "microvm,x-option-roms=off,pit=off,pic=off,rtc=off",
                          "-accel", "kvm", "-m", "128M", "-nodefaults", "-no-user-config",
                          "-display", "none", "-serial", "stdio", "-device",
                          "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", o.kernel, "-append",
                          "bench"},
                         1),
             {},
             {},
             {}});
    return peers;
}

void print_results(const Options& o, const std::vector<Peer>& peers,
                   const std::vector<double>& ready, const std::vector<double>& floor) {
    fmt::print("api benchmark: guest {}; {} socket runs, a connect() try every {} us; {} round(s) "
               "of {} s per phase\n",
               o.kernel, o.runs, o.poll_us, o.rounds, o.seconds);
    const double ready_median = percentile(ready, 0.5) * 1e3;
    fmt::print("(a) spawn -> API socket accepts connect(): median {:.3f} ms, p90 {:.3f} ms, min "
               "{:.3f} ms (target <= 1 ms: {})\n",
               ready_median, percentile(ready, 0.9) * 1e3,
               *std::min_element(ready.begin(), ready.end()) * 1e3,
               ready_median <= 1.0 ? "met" : "MISSED");
    fmt::print("    floor: spawn -> exit of `ember --version`: median {:.3f} ms, p90 {:.3f} ms\n",
               percentile(floor, 0.5) * 1e3, percentile(floor, 0.9) * 1e3);
    fmt::print("(b, c) launches: spawn -> configure -> boot hello -> guest exit\n");
    fmt::print("{:<18} {:>14} {:>16} {:>16} {:>12}\n", "VMM", "launches/s x1",
               fmt::format("launches/s x{}", o.parallel), "median launch", "p90 launch");
    for (const auto& p : peers)
        fmt::print("{:<18} {:>14.1f} {:>16.1f} {:>13.2f} ms {:>9.2f} ms\n", p.name,
                   percentile(p.seq_rate, 0.5), percentile(p.par_rate, 0.5),
                   percentile(p.latency_s, 0.5) * 1e3, percentile(p.latency_s, 0.9) * 1e3);
    const Peer& api = peers.front();
    const double api_par = percentile(api.par_rate, 0.5);
    fmt::print("target >= 200 launches/s through the API (x{}): {}\n", o.parallel,
               api_par >= 200 ? "met" : "MISSED");
    for (size_t i = 1; i < peers.size(); ++i)
        fmt::print("ratio ember --api-sock / {}: x1 {:.2f}, x{} {:.2f}\n", peers[i].name,
                   percentile(api.seq_rate, 0.5) / percentile(peers[i].seq_rate, 0.5), o.parallel,
                   api_par / percentile(peers[i].par_rate, 0.5));
}

} // namespace

int main(int argc, char** argv) {
    const auto options = parse_args(argc, argv);
    if (!options) return usage();
    const Options& o = *options;
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        fmt::print("api_bench: skipped: /dev/kvm is not usable here ({})\n", std::strerror(errno));
        return kSkipped;
    }
    const bool with_qemu = ::access(o.qemu.c_str(), X_OK) == 0;
    if (!with_qemu) fmt::print("api_bench: {} is missing: no QEMU peer\n", o.qemu);
    std::string dir = "/tmp/ember-api-bench.XXXXXX";
    if (::mkdtemp(dir.data()) == nullptr) {
        fmt::print(stderr, "api_bench: mkdtemp: {}\n", std::strerror(errno));
        return 1;
    }
    std::vector<double> ready;
    std::vector<double> floor;
    const bool socket_ok = socket_ready_times(o, dir, ready, floor);
    std::vector<Peer> peers = make_peers(o, with_qemu);
    int rc = socket_ok ? 0 : 1;
    for (int r = 0; r < o.rounds && rc == 0; ++r) {
        for (auto& p : peers) { // alternate, so drift on the host hits every peer alike
            std::string error;
            const auto seq = run_loops(p, dir, 1, o.seconds, &p.latency_s, error);
            const auto par =
                seq ? run_loops(p, dir, o.parallel, o.seconds, nullptr, error) : std::nullopt;
            if (!seq || !par) {
                fmt::print(stderr, "api_bench: {} round {}: {}\n", p.name, r, error);
                rc = 1;
                break;
            }
            p.seq_rate.push_back(*seq);
            p.par_rate.push_back(*par);
        }
    }
    for (const char* name : {"ready.sock", "w0.sock", "w1.sock"})
        ::unlink(fmt::format("{}/{}", dir, name).c_str());
    ::rmdir(dir.c_str());
    if (rc != 0) return rc;
    print_results(o, peers, ready, floor);
    // Sanity (the smoke test): every phase launched something, every figure is a number.
    const bool sane = std::ranges::all_of(peers, [](const Peer& p) {
        return !p.seq_rate.empty() && percentile(p.seq_rate, 0.5) > 0 &&
               percentile(p.par_rate, 0.5) > 0 && !p.latency_s.empty();
    });
    if (!sane || ready.empty() || percentile(ready, 0.5) <= 0) {
        fmt::print(stderr, "api_bench: a phase produced no figure\n");
        return 1;
    }
    return 0;
}
