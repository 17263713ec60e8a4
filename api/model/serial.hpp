// PUT /serial (and, an ember extension, the config file's "serial"): where the guest's serial
// console output goes.
//
//   {"serial_out_path": "/tmp/console.log"}
//
// Without serial_out_path the output goes to ember's stdout. Refused: `rate_limiter` (ember's
// serial port has no limiter yet).
#pragma once

#include "vmm/config.hpp"
#include "vmm/sys/result.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ember::api::model {

struct Serial {
    std::optional<std::string> serial_out_path; // a file or named pipe

    bool operator==(const Serial&) const = default;
};

Result<Serial> parse_serial(std::string_view body);
[[nodiscard]] std::string to_json(const Serial& serial);

// ember's serial configuration: a file, or stdout.
[[nodiscard]] SerialConfig to_serial_config(const Serial& serial);

} // namespace ember::api::model
