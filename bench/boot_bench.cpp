// boot_bench: ember vs QEMU microvm on the same guest image, in one run, alternating.
//
// For each run: wall time from fork() to the child's exit (process start -> exit) and the
// child's peak RSS (wait4's ru_maxrss). Prints medians for both VMMs and the ratios. Each run's
// serial output is checked for the guest's greeting, so a VMM that fails to boot cannot look
// fast.
//
//   boot_bench --ember build/vmm/ember --kernel build/resources/guests/hello.elf [--runs 20]
#include "bench/bench_common.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace ember::bench;

struct Sample {
    double wall_ms;
    double rss_mib;
};

struct RunResult {
    std::optional<Sample> sample;
    std::string error;
};

double now_ms() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Runs argv with stdout to a pipe; returns its wall time and peak RSS, or why it failed.
RunResult run_once(const std::vector<std::string>& argv, int expected_status,
                   const std::string& expected_output) {
    std::array<int, 2> pipe_fds{};
    if (::pipe2(pipe_fds.data(), O_CLOEXEC) != 0) return {{}, "pipe failed"};
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str())); // NOLINT
    args.push_back(nullptr);
    const double start = now_ms();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(pipe_fds[1], STDOUT_FILENO);
        const int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(devnull, STDIN_FILENO);
        ::dup2(devnull, STDERR_FILENO);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    std::string output;
    std::array<char, 4096> buf{};
    ssize_t n = 0;
    while ((n = ::read(pipe_fds[0], buf.data(), buf.size())) > 0)
        output.append(buf.data(), static_cast<size_t>(n));
    ::close(pipe_fds[0]);
    int status = 0;
    rusage usage{};
    ::wait4(pid, &status, 0, &usage);
    const double wall = now_ms() - start;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != expected_status)
        return {{},
                fmt::format("{} exited with {} (expected {})", argv[0],
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1, expected_status)};
    if (output.find(expected_output) == std::string::npos)
        return {{},
                fmt::format("{} did not print '{}'; it printed: {}", argv[0], expected_output,
                            output.substr(0, 200))};
    return {Sample{wall, static_cast<double>(usage.ru_maxrss) / 1024.0}, {}};
}

struct Peer {
    std::string name;
    std::vector<std::string> argv;
    int expected_status;
    std::vector<double> wall;
    std::vector<double> rss;
};

constexpr int kSkipped = 77; // CTest's SKIP_RETURN_CODE for the smoke test

int usage() {
    fmt::print(stderr, "usage: boot_bench --ember PATH --kernel HELLO.elf [--qemu PATH] "
                       "[--runs N]\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    std::string ember;
    std::string kernel;
    std::string qemu = "/usr/bin/qemu-system-x86_64";
    int runs = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--ember")
            ember = value;
        else if (flag == "--kernel")
            kernel = value;
        else if (flag == "--qemu")
            qemu = value;
        else if (flag == "--runs")
            runs = std::atoi(value.c_str());
        else
            return usage();
    }
    if (ember.empty() || kernel.empty() || runs < 1) return usage();
    if (::access("/dev/kvm", R_OK | W_OK) != 0) {
        fmt::print("boot_bench: skipped: /dev/kvm is not usable here ({})\n", std::strerror(errno));
        return kSkipped;
    }

    const std::string greeting = "Hello from ember!";
    std::vector<Peer> peers{
        {"ember", {ember, "--kernel", kernel, "--cmdline", "bench"}, 0, {}, {}},
        // The same, destroying the VM before exiting (teardown.hpp): what a caller that waits
        // for the VM's kernel resources to be gone would see.
        {"ember sync",
         {ember, "--kernel", kernel, "--cmdline", "bench", "--sync-teardown"},
         0,
         {},
         {}},
        // isa-debug-exit turns the guest's status 0 into QEMU exit status (0 << 1) | 1.
        {"qemu microvm",
         // microvm trimmed of option ROMs, PIT, PIC and RTC: the fastest QEMU we could find.
         // (-cpu host is refused on some KVM hosts: QEMU aborts setting MSR 0x10a.)
         {qemu, "-M", "microvm,x-option-roms=off,pit=off,pic=off,rtc=off", "-accel", "kvm", "-m",
          "128M", "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-device",
          "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", kernel, "-append", "bench"},
         1,
         {},
         {}},
    };
    for (int r = 0; r < runs; ++r) {
        for (auto& p : peers) { // alternate, so drift on the host hits both alike
            RunResult result = run_once(p.argv, p.expected_status, greeting);
            if (!result.sample) {
                fmt::print(stderr, "boot_bench: {} run {}: {}\n", p.name, r, result.error);
                return 1;
            }
            p.wall.push_back(result.sample->wall_ms);
            p.rss.push_back(result.sample->rss_mib);
        }
    }
    fmt::print("boot benchmark: {} runs each, alternating; guest {}\n", runs, kernel);
    fmt::print("{:<14} {:>18} {:>14} {:>16}\n", "VMM", "median start->exit", "min",
               "median peak RSS");
    for (const auto& p : peers)
        fmt::print("{:<14} {:>15.2f} ms {:>11.2f} ms {:>12.2f} MiB\n", p.name, median(p.wall),
                   *std::min_element(p.wall.begin(), p.wall.end()), median(p.rss));
    const Peer& qemu_peer = peers.back();
    for (size_t i = 0; i + 1 < peers.size(); ++i)
        fmt::print("ratio qemu / {}: time {:.1f}x, peak RSS {:.1f}x\n", peers[i].name,
                   median(qemu_peer.wall) / median(peers[i].wall),
                   median(qemu_peer.rss) / median(peers[i].rss));
    return 0;
}
