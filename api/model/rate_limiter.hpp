// Firecracker's RateLimiter and TokenBucket bodies (the `rate_limiter`, `rx_rate_limiter` and
// `tx_rate_limiter` fields), and their mapping onto ember's limiter (vmm/core/rate_limiter.hpp).
//
//   {"bandwidth": {"size": 1048576, "one_time_burst": 0, "refill_time": 1000},
//    "ops": {"size": 100, "refill_time": 1000}}
//
// size and refill_time are required in a bucket. A bucket of size 0 is no limit. ember refuses
// two shapes Firecracker quietly turns into "no limit": refill_time 0 with a size above 0, and a
// one_time_burst on a bucket of size 0; the message says to use size 0.
#pragma once

#include "vmm/core/rate_limiter.hpp"

#include <cstdint>
#include <optional>

namespace ember::api::model {

struct TokenBucket {
    uint64_t size = 0;                      // tokens; 0: no limit
    std::optional<uint64_t> one_time_burst; // extra tokens, spent first, never refilled
    uint64_t refill_time = 0;               // milliseconds to refill an empty bucket

    bool operator==(const TokenBucket&) const = default;
};

struct RateLimiter {
    std::optional<TokenBucket> bandwidth; // bytes
    std::optional<TokenBucket> ops;       // operations

    bool operator==(const RateLimiter&) const = default;
};

// The largest refill_time ember's limiter takes (it counts in nanoseconds).
inline constexpr uint64_t kMaxRefillTimeMs = UINT64_MAX / 1'000'000;

// A limiter to build a device with; absent buckets are no limit.
[[nodiscard]] RateLimiterConfig to_config(const std::optional<RateLimiter>& limiter);
// A runtime change (PATCH): an absent bucket keeps its state, a bucket of size 0 lifts the limit.
[[nodiscard]] RateLimiterUpdate to_update(const RateLimiter& limiter);
// Back to the API's shape: unlimited buckets are left out, and no bucket at all is nullopt.
[[nodiscard]] std::optional<RateLimiter> from_config(const RateLimiterConfig& config);

} // namespace ember::api::model
