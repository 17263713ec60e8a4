// Logger: one line per event on stderr or a file (--log-path, PUT /logger), with a level
// filter. Lines look like `ember: warn: serial: output failed: ...`; --show-level off drops the
// level, --show-log-origin adds the source file and line (`ember: warn: [serial.cpp:42] ...`).
// Thread-safe: each line is one write(2).
//
// Messages a guest can trigger (a bad descriptor, a bad register access) go through a
// RateLimitedLog, so a hostile guest cannot flood the log or slow ember down with it.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <string_view>
#include <type_traits>

namespace ember::log {

enum class Level { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_level(Level level);
[[nodiscard]] Level level();
// Where lines go (stderr until set). The caller keeps the fd open.
void set_fd(int fd);
void set_show_level(bool show);
void set_show_origin(bool show);
[[nodiscard]] bool show_level();
[[nodiscard]] bool show_origin();
// Where a line was logged from. Not std::source_location: clang 14 (the fuzz build's compiler)
// lacks the builtin libstdc++'s <source_location> needs. __builtin_FILE/LINE, each a default
// argument of its own (gcc gives the declaration's line to one nested in a braced init), take
// the caller's location in both gcc and clang.
struct Origin {
    const char* file = "";
    unsigned line = 0;
};
void write_line(Level level, std::string_view text, Origin where);
inline void write_line(Level level, std::string_view text, const char* file = __builtin_FILE(),
                       unsigned line = __builtin_LINE()) {
    write_line(level, text, Origin{file, line});
}
// Lines not written because their RateLimitedLog was out of tokens (for the metrics).
[[nodiscard]] uint64_t suppressed_lines();

// A format string that remembers where it was written (for --show-log-origin).
template <class... Args> struct FormatAt {
    template <class S>
    requires std::convertible_to<const S&, std::string_view>
    consteval FormatAt(const S& text, // NOLINT(google-explicit-constructor): a format string
                       const char* file = __builtin_FILE(), unsigned line = __builtin_LINE())
        : format(text), where{file, line} {}
    fmt::format_string<Args...> format;
    Origin where;
};
template <class... Args> using Format = FormatAt<std::type_identity_t<Args>...>;

template <class... Args> void error(Format<Args...> f, Args&&... args) {
    write_line(Level::kError, fmt::format(f.format, std::forward<Args>(args)...), f.where);
}
template <class... Args> void warn(Format<Args...> f, Args&&... args) {
    if (level() >= Level::kWarn)
        write_line(Level::kWarn, fmt::format(f.format, std::forward<Args>(args)...), f.where);
}
template <class... Args> void info(Format<Args...> f, Args&&... args) {
    if (level() >= Level::kInfo)
        write_line(Level::kInfo, fmt::format(f.format, std::forward<Args>(args)...), f.where);
}
template <class... Args> void debug(Format<Args...> f, Args&&... args) {
    if (level() >= Level::kDebug)
        write_line(Level::kDebug, fmt::format(f.format, std::forward<Args>(args)...), f.where);
}

// A token bucket for one source of guest-triggered messages: `burst` lines at once, then one
// per `period_ns`; what is dropped is counted and reported with the next line that gets
// through ("... (12 similar lines suppressed)"). Lock-free; any thread.
class RateLimitedLog final {
public:
    explicit RateLimitedLog(uint32_t burst = 10, uint64_t period_ns = 1'000'000'000)
        : burst_(burst), period_ns_(period_ns) {}

    template <class... Args> void warn(Format<Args...> f, Args&&... args) {
        if (level() < Level::kWarn) return;
        uint64_t dropped = 0;
        if (!admit(dropped)) return;
        std::string text = fmt::format(f.format, std::forward<Args>(args)...);
        if (dropped != 0) text += fmt::format(" ({} similar lines suppressed)", dropped);
        write_line(Level::kWarn, text, f.where);
    }

private:
    // True when a line may be written; `dropped` gets the lines suppressed since the last one.
    bool admit(uint64_t& dropped);

    uint32_t burst_;
    uint64_t period_ns_;
    std::atomic<uint64_t> next_ns_{0}; // when the next token arrives (0: bucket full)
    std::atomic<uint32_t> tokens_used_{0};
    std::atomic<uint64_t> dropped_{0};
};

} // namespace ember::log
