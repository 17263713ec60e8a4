// PUT /metrics and the config file's "metrics".
//
//   {"metrics_path": "/tmp/ember.metrics"}
//
// Refused: emit_id true (ember is not given an instance id) and a non-empty `properties`
// (extra key-value pairs on each line); false and {} are accepted.
#pragma once

#include "vmm/sys/result.hpp"

#include <string>
#include <string_view>

namespace ember::api::model {

struct Metrics {
    std::string metrics_path; // a file or named pipe; one JSON object per line

    bool operator==(const Metrics&) const = default;
};

Result<Metrics> parse_metrics(std::string_view body);
[[nodiscard]] std::string to_json(const Metrics& metrics);

} // namespace ember::api::model
