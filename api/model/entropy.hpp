// PUT /entropy and the config file's "entropy": a virtio-rng device (virtio/rng/rng_device.hpp;
// VmConfigBuilder::build() maps it onto VmConfig::entropy).
//
//   {"rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100}}}
#pragma once

#include "api/model/rate_limiter.hpp"
#include "vmm/sys/result.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ember::api::model {

struct Entropy {
    std::optional<RateLimiter> rate_limiter;

    bool operator==(const Entropy&) const = default;
};

Result<Entropy> parse_entropy(std::string_view body);
[[nodiscard]] std::string to_json(const Entropy& entropy);

} // namespace ember::api::model
