#include "jail/seccomp_violation.hpp"

#include "vmm/sys/exit_code.hpp"

#include <seccomp.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <ctime>
#include <mutex>

namespace ember::jail {
namespace {

// x86_64 has ~460 system calls; numbers past the table print without a name.
constexpr long kNamedSyscalls = 512;
// The signal handler can reach only globals.
// NOLINTBEGIN(cppcoreguidelines-avoid-non-const-global-variables)
std::array<const char*, kNamedSyscalls> g_names{};
std::atomic<bool> g_installed{false};
std::mutex g_install_mutex;
thread_local const char* t_kind = "unfiltered";
std::atomic<int> g_metrics_fd{-1};
// NOLINTEND(cppcoreguidelines-avoid-non-const-global-variables)

// Appends `text` to out[at..]; async-signal-safe (no allocation, no locale).
size_t append(std::span<char> out, size_t at, std::string_view text) {
    for (const char c : text) {
        if (at >= out.size()) break;
        out[at++] = c;
    }
    return at;
}

size_t append_number(std::span<char> out, size_t at, long value) {
    std::array<char, 24> digits{};
    size_t n = 0;
    auto v = static_cast<unsigned long>(value < 0 ? -value : value);
    do {
        digits.at(n++) = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < digits.size());
    if (value < 0) at = append(out, at, "-");
    while (n > 0)
        at = append(out, at, std::string_view(&digits.at(--n), 1));
    return at;
}

void on_sigsys(int /*signo*/, siginfo_t* info, void* /*context*/) {
    const long nr = info->si_syscall;
    const char* name =
        nr >= 0 && nr < kNamedSyscalls ? g_names.at(static_cast<size_t>(nr)) : nullptr;
    std::array<char, 512> line{};
    const size_t n = format_violation(line, t_kind, nr, name);
    [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, line.data(), n);
    if (const int fd = g_metrics_fd.load(); fd >= 0) {
        timespec now{}; // clock_gettime is async-signal-safe
        ::clock_gettime(CLOCK_REALTIME, &now);
        const auto ms = static_cast<uint64_t>(now.tv_sec) * 1000 +
                        static_cast<uint64_t>(now.tv_nsec) / 1'000'000;
        const size_t m = format_violation_metrics(line, ms, t_kind, nr, name);
        [[maybe_unused]] const ssize_t wm = ::write(fd, line.data(), m);
    }
    ::_exit(to_int(ExitCode::kSeccompViolation));
}

} // namespace

size_t format_violation(std::span<char> out, std::string_view kind, long nr, const char* name) {
    size_t at = append(out, 0, "ember: error: seccomp: the ");
    at = append(out, at, kind);
    at = append(out, at, " thread made a forbidden system call: ");
    at = append_number(out, at, nr);
    at = append(out, at, " (");
    at = append(out, at, name != nullptr ? std::string_view(name) : "unknown");
    at = append(out, at,
                "); if ember needs it there, allow it in jail/filters/ (docs/seccomp.md). "
                "Exiting with ");
    at = append_number(out, at, to_int(ExitCode::kSeccompViolation));
    return append(out, at, "\n");
}

void set_violation_metrics_fd(int fd) {
    g_metrics_fd.store(fd);
}

size_t format_violation_metrics(std::span<char> out, uint64_t utc_ms, std::string_view kind,
                                long nr, const char* name) {
    size_t at = append(out, 0, "{\"utc_timestamp_ms\":");
    at = append_number(out, at, static_cast<long>(utc_ms));
    at = append(out, at, ",\"seccomp\":{\"violations\":1,\"thread\":\"");
    at = append(out, at, kind);
    at = append(out, at, "\",\"syscall\":");
    at = append_number(out, at, nr);
    at = append(out, at, ",\"name\":\"");
    at = append(out, at, name != nullptr ? std::string_view(name) : "unknown");
    return append(out, at, "\"}}\n");
}

Result<void> install_violation_handler() {
    if (g_installed.load(std::memory_order_acquire)) return {};
    const std::lock_guard lock(g_install_mutex);
    if (g_installed.load(std::memory_order_relaxed)) return {};
    // Resolved now: the handler cannot allocate. The strings are libseccomp's, kept for good.
    for (long nr = 0; nr < kNamedSyscalls; ++nr)
        g_names.at(static_cast<size_t>(nr)) =
            seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, static_cast<int>(nr));
    struct sigaction sa {};
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    ::sigfillset(&sa.sa_mask); // nothing interrupts the report
    if (::sigaction(SIGSYS, &sa, nullptr) != 0)
        return sys_error(Errc::kOsError, "seccomp: cannot install the SIGSYS handler");
    g_installed.store(true, std::memory_order_release);
    return {};
}

void set_thread_kind(ThreadKind kind) {
    t_kind = thread_kind_name(kind).data(); // the names are string literals
    sigset_t sys;
    ::sigemptyset(&sys);
    ::sigaddset(&sys, SIGSYS);
    // A blocked SIGSYS would kill the process without the report (the kernel forces the
    // default action); the API thread blocks every signal.
    ::pthread_sigmask(SIG_UNBLOCK, &sys, nullptr);
}

} // namespace ember::jail
