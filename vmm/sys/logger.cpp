#include "vmm/sys/logger.hpp"

#include <unistd.h>

#include <array>
#include <atomic>

namespace ember::log {
namespace {

std::atomic<Level> g_level{Level::kWarn};
std::atomic<int> g_fd{STDERR_FILENO};

constexpr std::array<std::string_view, 4> kNames{"error", "warn", "info", "debug"};

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

void write_line(Level l, std::string_view text) {
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), "ember: {}: {}\n", kNames.at(static_cast<size_t>(l)),
                   text);
    // One write per line keeps lines from different threads whole.
    // Nowhere to report a failure to log; the line is lost.
    [[maybe_unused]] const ssize_t r =
        ::write(g_fd.load(std::memory_order_relaxed), line.data(), line.size());
}

} // namespace ember::log
