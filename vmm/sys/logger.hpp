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

// Where a log call was written. SourceLocation would do, but clang 14 (the fuzz and
// sanitizer builds) cannot compile libstdc++'s; the builtins behind it work in both compilers.
struct SourceLocation {
    const char* file = "";
    unsigned line = 0;
    static constexpr SourceLocation current(const char* file = __builtin_FILE(),
                                            unsigned line = __builtin_LINE()) {
        return SourceLocation{file, line};
    }
};

void set_level(Level level);
[[nodiscard]] Level level();
// Where lines go (stderr until set). The caller keeps the fd open.
void set_fd(int fd);
void set_show_level(bool show);
void set_show_origin(bool show);
[[nodiscard]] bool show_level();
[[nodiscard]] bool show_origin();
void write_line(Level level, std::string_view text,
                SourceLocation where = SourceLocation::current());
// Lines not written because their RateLimitedLog was out of tokens (for the metrics).
[[nodiscard]] uint64_t suppressed_lines();

// A format string that remembers where it was written (for --show-log-origin).
template <class... Args> struct FormatAt {
    template <class S>
    requires std::convertible_to<const S&, std::string_view>
    consteval FormatAt(const S& text, // NOLINT(google-explicit-constructor): a format string
                       SourceLocation at = SourceLocation::current())
        : format(text), where(at) {}
    fmt::format_string<Args...> format;
    SourceLocation where;
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
