#include "api/model/rate_limiter.hpp"

#include "api/model/codec.hpp"

namespace ember::api::model {
namespace {

TokenBucketConfig bucket_config(const std::optional<TokenBucket>& bucket) {
    if (!bucket) return {};
    return TokenBucketConfig{bucket->size, bucket->one_time_burst.value_or(0),
                             bucket->size == 0 ? 0 : bucket->refill_time};
}

std::optional<TokenBucket> bucket_model(const TokenBucketConfig& config) {
    if (config.unlimited()) return std::nullopt;
    TokenBucket bucket{config.size, std::nullopt, config.refill_time_ms};
    if (config.one_time_burst != 0) bucket.one_time_burst = config.one_time_burst;
    return bucket;
}

} // namespace

RateLimiterConfig to_config(const std::optional<RateLimiter>& limiter) {
    if (!limiter) return {};
    return RateLimiterConfig{bucket_config(limiter->bandwidth), bucket_config(limiter->ops)};
}

RateLimiterUpdate to_update(const RateLimiter& limiter) {
    RateLimiterUpdate update;
    if (limiter.bandwidth) update.bandwidth = bucket_config(limiter.bandwidth);
    if (limiter.ops) update.ops = bucket_config(limiter.ops);
    return update;
}

std::optional<RateLimiter> from_config(const RateLimiterConfig& config) {
    RateLimiter limiter{bucket_model(config.bandwidth), bucket_model(config.ops)};
    if (!limiter.bandwidth && !limiter.ops) return std::nullopt;
    return limiter;
}

std::optional<TokenBucket> read_token_bucket(ObjectReader& parent, std::string_view key) {
    const Json* value = parent.optional_object(key);
    if (value == nullptr) return std::nullopt;
    ObjectReader r = parent.nested(key, *value, {"size", "one_time_burst", "refill_time"});
    TokenBucket bucket;
    bucket.size = r.required_uint("size", {});
    bucket.one_time_burst = r.optional_uint("one_time_burst", {});
    bucket.refill_time = r.required_uint("refill_time", {});
    if (r.ok() && bucket.size > 0 &&
        (bucket.refill_time == 0 || bucket.refill_time > kMaxRefillTimeMs))
        r.fail("{} {} is out of range when size is {}; use 1..{} (milliseconds), or size 0 for "
               "no limit",
               r.name("refill_time"), bucket.refill_time, bucket.size, kMaxRefillTimeMs);
    if (r.ok() && bucket.size == 0 && bucket.one_time_burst.value_or(0) != 0)
        r.fail("{} {} needs a size above 0 (size 0 means no limit)", r.name("one_time_burst"),
               *bucket.one_time_burst);
    return parent.take(r.finish().map([&] { return bucket; }));
}

std::optional<RateLimiter> read_rate_limiter(ObjectReader& parent, std::string_view key) {
    const Json* value = parent.optional_object(key);
    if (value == nullptr) return std::nullopt;
    ObjectReader r = parent.nested(key, *value, {"bandwidth", "ops"});
    RateLimiter limiter;
    limiter.bandwidth = read_token_bucket(r, "bandwidth");
    limiter.ops = read_token_bucket(r, "ops");
    return parent.take(r.finish().map([&] { return limiter; }));
}

Json encode(const TokenBucket& bucket) {
    Json j{{"size", bucket.size}, {"refill_time", bucket.refill_time}};
    if (bucket.one_time_burst) j["one_time_burst"] = *bucket.one_time_burst;
    return j;
}

Json encode(const RateLimiter& limiter) {
    Json j = Json::object();
    if (limiter.bandwidth) j["bandwidth"] = encode(*limiter.bandwidth);
    if (limiter.ops) j["ops"] = encode(*limiter.ops);
    return j;
}

} // namespace ember::api::model
