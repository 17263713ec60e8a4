#include "vmm/core/rate_limiter.hpp"

#include "vmm/sys/logger.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <limits>
#include <numeric>

namespace ember {
namespace {

constexpr uint64_t kNsPerMs = 1'000'000;
constexpr uint64_t kNsPerSec = 1'000'000'000;
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

// Products of a token count and a time in ns overflow 64 bits; 128 bits hold any of them.
__extension__ using Wide = unsigned __int128;

uint64_t saturate(Wide v) {
    return v > kMaxU64 ? kMaxU64 : static_cast<uint64_t>(v);
}

uint64_t saturating_add(uint64_t a, uint64_t b) {
    return b > kMaxU64 - a ? kMaxU64 : a + b;
}

class MonotonicClock final : public Clock {
public:
    [[nodiscard]] uint64_t now_ns() const override {
        timespec ts{};
        ::clock_gettime(CLOCK_MONOTONIC, &ts);
        return static_cast<uint64_t>(ts.tv_sec) * kNsPerSec + static_cast<uint64_t>(ts.tv_nsec);
    }
};

} // namespace

const Clock& monotonic_clock() {
    static const MonotonicClock clock;
    return clock;
}

Result<void> validate(const TokenBucketConfig& config, std::string_view what) {
    if (config.size == 0) {
        if (config.one_time_burst != 0)
            return make_error(Errc::kInvalidArgument,
                              "{} rate limiter: one_time_burst {} needs a bucket size > 0 (size 0 "
                              "means unlimited)",
                              what, config.one_time_burst);
        return {};
    }
    if (config.refill_time_ms == 0)
        return make_error(Errc::kInvalidArgument,
                          "{} rate limiter: refill_time must be > 0 ms when size is {} (set size "
                          "to 0 for no limit)",
                          what, config.size);
    if (config.refill_time_ms > kMaxU64 / kNsPerMs)
        return make_error(Errc::kInvalidArgument,
                          "{} rate limiter: refill_time {} ms is too large (at most {} ms)", what,
                          config.refill_time_ms, kMaxU64 / kNsPerMs);
    return {};
}

Result<void> validate(const RateLimiterConfig& config) {
    EMBER_TRY_VOID(validate(config.bandwidth, "bandwidth"));
    EMBER_TRY_VOID(validate(config.ops, "ops"));
    return {};
}

// --- TokenBucket ---

TokenBucket::TokenBucket(const TokenBucketConfig& config, uint64_t now_ns)
    : config_(config), burst_(config.one_time_burst), budget_(config.size),
      last_update_ns_(now_ns) {
    const uint64_t refill_ns = config.refill_time_ms * kNsPerMs;
    const uint64_t divisor = std::gcd(config.size, refill_ns);
    rate_tokens_ = config.size / divisor;
    rate_ns_ = refill_ns / divisor;
}

Result<TokenBucket> TokenBucket::create(const TokenBucketConfig& config, uint64_t now_ns) {
    EMBER_TRY_VOID(validate(config, "token bucket"));
    if (config.unlimited())
        return make_error(Errc::kInternal, "token bucket: an unlimited bucket has no state");
    return TokenBucket(config, now_ns);
}

uint64_t TokenBucket::time_for(uint64_t tokens) const {
    const Wide product = Wide{tokens} * rate_ns_;
    return saturate((product + rate_tokens_ - 1) / rate_tokens_);
}

void TokenBucket::refill(uint64_t now_ns) {
    if (now_ns <= last_update_ns_) return; // nothing new, or still repaying a debt
    const uint64_t elapsed = now_ns - last_update_ns_;
    if (elapsed >= config_.refill_time_ms * kNsPerMs) {
        budget_ = config_.size;
        last_update_ns_ = now_ns;
        return;
    }
    // elapsed < refill time, so fewer than `size` tokens: the cast cannot truncate.
    const auto tokens = static_cast<uint64_t>(Wide{elapsed} * rate_tokens_ / rate_ns_);
    if (tokens == 0) return;
    budget_ = std::min(budget_ + tokens, config_.size);
    // Credit only the time those whole tokens took; the fraction of the next one carries over.
    // A full bucket cannot store what keeps arriving, so its clock restarts now.
    last_update_ns_ = budget_ == config_.size ? now_ns : last_update_ns_ + time_for(tokens);
}

Reduction TokenBucket::reduce(uint64_t tokens, uint64_t now_ns) {
    refill(now_ns);
    if (tokens <= burst_) {
        burst_ -= tokens;
        return Reduction::kSuccess;
    }
    const uint64_t need = tokens - burst_;
    if (need <= budget_) {
        burst_ = 0;
        budget_ -= need;
        return Reduction::kSuccess;
    }
    if (need <= config_.size) return Reduction::kFailure; // fits later: the caller waits
    // Bigger than the bucket can ever hold: let it through and owe the rest. Crediting starts
    // only once refilling has produced the debt.
    const uint64_t debt = need - budget_;
    burst_ = 0;
    budget_ = 0;
    last_update_ns_ = saturating_add(last_update_ns_, time_for(debt));
    return Reduction::kOverConsumption;
}

void TokenBucket::replenish(uint64_t tokens, uint64_t now_ns) {
    refill(now_ns);
    if (last_update_ns_ > now_ns) {
        const uint64_t debt_ns = last_update_ns_ - now_ns;
        const uint64_t pay_ns = time_for(tokens);
        if (pay_ns <= debt_ns) {
            last_update_ns_ -= pay_ns;
            return;
        }
        const auto debt_tokens = static_cast<uint64_t>(Wide{debt_ns} * rate_tokens_ / rate_ns_);
        tokens -= std::min(tokens, debt_tokens);
        last_update_ns_ = now_ns;
    }
    // While the burst is still being spent the budget is full, so the tokens go back there.
    if (burst_ > 0) {
        burst_ = std::min(saturating_add(burst_, tokens), config_.one_time_burst);
        return;
    }
    budget_ = std::min(saturating_add(budget_, tokens), config_.size);
}

uint64_t TokenBucket::wait_ns(uint64_t tokens, uint64_t now_ns) const {
    // A burst remains only while no debt was ever taken, so it is usable at once.
    if (burst_ > 0 && tokens <= burst_) return 0;
    const uint64_t need = tokens - std::min(tokens, burst_);
    const uint64_t missing = need > budget_ ? need - budget_ : 0;
    const uint64_t ready_ns = saturating_add(last_update_ns_, missing != 0 ? time_for(missing) : 0);
    return ready_ns > now_ns ? ready_ns - now_ns : 0;
}

// --- RateLimiter ---

Result<RateLimiter> RateLimiter::create(const RateLimiterConfig& config, const Clock& clock) {
    EMBER_TRY_VOID(validate(config));
    const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return sys_error(Errc::kOsError, "rate limiter: timerfd_create");
    RateLimiter limiter(UniqueFd(fd), clock);
    EMBER_TRY_VOID(limiter.update({config.bandwidth, config.ops}));
    return limiter;
}

bool RateLimiter::consume(uint64_t tokens, TokenType type) {
    auto& b = bucket(type);
    if (!b) return true;
    if (blocked_) return false;
    const uint64_t now = clock_->now_ns();
    switch (b->reduce(tokens, now)) {
    case Reduction::kSuccess:
        return true;
    case Reduction::kOverConsumption:
        block_for(b->wait_ns(0, now)); // until the debt is repaid
        return true;
    case Reduction::kFailure:
        block_for(b->wait_ns(tokens, now));
        return false;
    }
    return false;
}

bool RateLimiter::consume_request(uint64_t bytes) {
    if (!consume(1, TokenType::kOps)) return false;
    if (consume(bytes, TokenType::kBytes)) return true;
    manual_replenish(1, TokenType::kOps);
    return false;
}

void RateLimiter::manual_replenish(uint64_t tokens, TokenType type) {
    if (auto& b = bucket(type)) b->replenish(tokens, clock_->now_ns());
}

void RateLimiter::block_for(uint64_t ns) {
    ns = std::max(ns, kMinTimerNs);
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(ns / kNsPerSec);
    spec.it_value.tv_nsec = static_cast<long>(ns % kNsPerSec);
    if (::timerfd_settime(timer_.get(), 0, &spec, nullptr) != 0) {
        // Cannot happen with a valid fd and these values; blocking without a timer would stall
        // the owner forever, so stay open instead.
        log::error("rate limiter: timerfd_settime failed: errno {}", errno);
        return;
    }
    blocked_ = true;
    armed_ns_ = ns;
}

bool RateLimiter::on_timer() {
    uint64_t expirations = 0;
    if (::read(timer_.get(), &expirations, sizeof expirations) !=
        static_cast<ssize_t>(sizeof expirations))
        return false; // EAGAIN: the timer has not expired (or was re-armed since)
    blocked_ = false;
    return true;
}

Result<void> RateLimiter::update(const RateLimiterUpdate& update) {
    if (update.bandwidth) EMBER_TRY_VOID(validate(*update.bandwidth, "bandwidth"));
    if (update.ops) EMBER_TRY_VOID(validate(*update.ops, "ops"));
    // Validated above, so building the new buckets cannot fail half-way.
    const uint64_t now = clock_->now_ns();
    auto replace = [now](std::optional<TokenBucket>& slot, const TokenBucketConfig& config) {
        slot.reset();
        if (config.unlimited()) return;
        if (auto bucket = TokenBucket::create(config, now)) slot = *bucket;
    };
    if (update.bandwidth) replace(bandwidth_, *update.bandwidth);
    if (update.ops) replace(ops_, *update.ops);
    // The owner resumes only on a timer event; fire soon so it retries under the new limits.
    if (blocked_) block_for(0);
    return {};
}

RateLimiterConfig RateLimiter::config() const {
    RateLimiterConfig config;
    if (bandwidth_) config.bandwidth = bandwidth_->config();
    if (ops_) config.ops = ops_->config();
    return config;
}

} // namespace ember
