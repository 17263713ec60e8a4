#include "vmm/sys/logger.hpp"

#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>

namespace ember::log {
namespace {

std::atomic<Level> g_level{Level::kWarn};
std::atomic<int> g_fd{STDERR_FILENO};
std::atomic<bool> g_show_level{true};
std::atomic<bool> g_show_origin{false};
std::atomic<uint64_t> g_suppressed{0};

constexpr std::array<std::string_view, 4> kNames{"error", "warn", "info", "debug"};

uint64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

std::string_view base_name(std::string_view path) {
    const size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

} // namespace

void set_level(Level l) {
    g_level.store(l, std::memory_order_relaxed);
}
Level level() {
    return g_level.load(std::memory_order_relaxed);
}
void set_fd(int fd) {
    g_fd.store(fd, std::memory_order_relaxed);
}
void set_show_level(bool show) {
    g_show_level.store(show, std::memory_order_relaxed);
}
void set_show_origin(bool show) {
    g_show_origin.store(show, std::memory_order_relaxed);
}
bool show_level() {
    return g_show_level.load(std::memory_order_relaxed);
}
bool show_origin() {
    return g_show_origin.load(std::memory_order_relaxed);
}
uint64_t suppressed_lines() {
    return g_suppressed.load(std::memory_order_relaxed);
}

void write_line(Level l, std::string_view text, Origin where) {
    fmt::memory_buffer line;
    auto out = std::back_inserter(line);
    fmt::format_to(out, "ember: ");
    if (show_level()) fmt::format_to(out, "{}: ", kNames.at(static_cast<size_t>(l)));
    if (show_origin()) fmt::format_to(out, "[{}:{}] ", base_name(where.file), where.line);
    fmt::format_to(out, "{}\n", text);
    // One write per line keeps lines from different threads whole.
    // Nowhere to report a failure to log; the line is lost.
    [[maybe_unused]] const ssize_t r =
        ::write(g_fd.load(std::memory_order_relaxed), line.data(), line.size());
}

bool RateLimitedLog::admit(uint64_t& dropped) {
    const uint64_t now = now_ns();
    // Refill: once the period since the last refill has passed, the bucket is full again.
    uint64_t next = next_ns_.load(std::memory_order_relaxed);
    if (next != 0 && now >= next && next_ns_.compare_exchange_strong(next, 0))
        tokens_used_.store(0, std::memory_order_relaxed);
    if (tokens_used_.fetch_add(1, std::memory_order_relaxed) >= burst_) {
        tokens_used_.fetch_sub(1, std::memory_order_relaxed);
        uint64_t expected = 0;
        (void)next_ns_.compare_exchange_strong(expected, now + period_ns_);
        dropped_.fetch_add(1, std::memory_order_relaxed);
        g_suppressed.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    dropped = dropped_.exchange(0, std::memory_order_relaxed);
    return true;
}

} // namespace ember::log
