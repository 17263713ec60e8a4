// PUT /logger and the config file's "logger".
//
//   {"log_path": "/tmp/ember.log", "level": "Debug", "show_level": true,
//    "show_log_origin": true}
//
// level is case-insensitive, as in Firecracker: Error, Warning (or Warn), Info, Debug, Trace.
// ember has no level below Debug, so Trace logs what Debug does. Refused: "Off" (ember always
// logs errors) and `module` (ember's log lines carry no Rust module paths to filter on).
#pragma once

#include "vmm/sys/logger.hpp"
#include "vmm/sys/result.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ember::api::model {

enum class LogLevel { kError, kWarn, kInfo, kDebug, kTrace };

struct Logger {
    std::optional<std::string> log_path; // a file or named pipe; absent: stderr
    std::optional<LogLevel> level;       // absent: unchanged
    std::optional<bool> show_level;
    std::optional<bool> show_log_origin;

    bool operator==(const Logger&) const = default;
};

Result<Logger> parse_logger(std::string_view body);
[[nodiscard]] std::string to_json(const Logger& logger);

// ember's level for `level` (Trace is Debug).
[[nodiscard]] log::Level to_log_level(LogLevel level);

} // namespace ember::api::model
