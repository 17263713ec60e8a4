// Logger: one line per event on stderr (or a file, later), with a level filter.
// Lines look like `ember: warn: serial: output failed: ...`. Thread-safe: each line is one
// write(2).
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace ember::log {

enum class Level { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_level(Level level);
[[nodiscard]] Level level();
void set_fd(int fd);
void write_line(Level level, std::string_view text);

template <class... Args> void error(fmt::format_string<Args...> f, Args&&... args) {
    write_line(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args> void warn(fmt::format_string<Args...> f, Args&&... args) {
    if (level() >= Level::kWarn)
        write_line(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args> void info(fmt::format_string<Args...> f, Args&&... args) {
    if (level() >= Level::kInfo)
        write_line(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args> void debug(fmt::format_string<Args...> f, Args&&... args) {
    if (level() >= Level::kDebug)
        write_line(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}

} // namespace ember::log
