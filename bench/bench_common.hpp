// What the benchmarks share: a monotonic clock, the VMM's own CPU time from /proc, medians and
// list splitting. Header-only: each benchmark is one program (bench/CMakeLists.txt).
#pragma once

#include <fmt/format.h>

#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace ember::bench {

inline double now_s() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Per thread of the VMM: utime + stime and guest_time in seconds (fields 14, 15 and 43 of
// /proc/<pid>/task/<tid>/stat, counted after the parenthesised command name).
struct ThreadCpu {
    double total = 0;
    double guest = 0;
};
using CpuSample = std::map<std::string, ThreadCpu>; // by thread id

inline std::optional<ThreadCpu> read_thread_cpu(const std::string& stat_path) {
    std::ifstream in(stat_path);
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream fields(line.substr(paren + 2));
    std::vector<std::string> f;
    for (std::string s; fields >> s;)
        f.push_back(s);
    // f[0] is field 3 (state): field n is f[n - 3].
    if (f.size() < 41) return std::nullopt;
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double utime = std::strtod(f[11].c_str(), nullptr);
    const double stime = std::strtod(f[12].c_str(), nullptr);
    const double guest = std::strtod(f[40].c_str(), nullptr);
    return ThreadCpu{(utime + stime) / tick, guest / tick};
}

// Every thread of `pid` now (empty once the process is gone).
inline CpuSample read_cpu(pid_t pid) {
    CpuSample sample;
    const std::string dir = fmt::format("/proc/{}/task", pid);
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
        if (auto t = read_thread_cpu(entry.path().string() + "/stat"))
            sample[entry.path().filename().string()] = *t;
    return sample;
}

// The VMM's own CPU between two samples, in seconds: per thread Δ(utime + stime − guest_time),
// at least 0. Linux counts a vCPU thread's time in guest mode in both utime and guest_time, so
// the difference is what the VMM burnt itself (exits handled on the vCPU thread, its device
// threads, workers, system calls) without the guest's own work. Per thread because on a PVM host
// a vCPU thread's guest_time can exceed its utime + stime (the guest's ring-3 time is counted in
// both, unevenly), which summed over the process would eat into the device thread's figure. A
// thread that came or went between the samples counts what it had at the one it appears in.
inline double vmm_cpu(const CpuSample& before, const CpuSample& after) {
    double sum = 0;
    for (const auto& [tid, a] : after) {
        const auto it = before.find(tid);
        const ThreadCpu b = it == before.end() ? ThreadCpu{} : it->second;
        sum += std::max(0.0, (a.total - b.total) - (a.guest - b.guest));
    }
    return sum;
}

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    if (n == 0) return 0;
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

// "a,b,,c" → {"a", "b", "c"}.
inline std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string part; std::getline(in, part, sep);)
        if (!part.empty()) out.push_back(part);
    return out;
}

} // namespace ember::bench
