// RateLimiter: Firecracker-compatible token-bucket limiting for device back ends (virtio-blk,
// virtio-net, virtio-rng, serial). One limiter has two optional buckets, bandwidth (bytes) and
// operations; each is configured as Firecracker's API does: {size, one_time_burst, refill_time}.
//
// Semantics (checked against Firecracker's src/vmm/src/rate_limiter/mod.rs):
// - A bucket starts full. Tokens refill continuously at size / refill_time, never above `size`;
//   fractions of a token carry over between calls, so a fast caller loses nothing to rounding.
// - one_time_burst is an extra budget spent before the bucket itself; it never refills.
// - A request that does not fit the tokens available now fails and consumes nothing; the caller
//   keeps it and retries when the limiter's timerfd fires. (Firecracker drops the burst it had
//   already taken on that path; we keep it.)
// - A request bigger than the bucket can ever hold (what is left after one_time_burst > size)
//   succeeds: it drains the bucket and leaves a debt, and the limiter blocks until refilling has
//   repaid the debt, i.e. for debt * refill_time / size. That is Firecracker's "OverConsumption",
//   with the debt carried exactly instead of refilling the bucket while the caller waits.
// - While blocked, every consume() on a limited bucket fails at once (Firecracker's rule: one
//   timer per limiter, and a blocked owner stops processing its queue until the timer fires).
// - On failure the timerfd is armed for the moment enough tokens will exist (at least
//   kMinTimerNs, so a stream of tiny requests cannot spin the event loop), not a fixed 100 ms.
// - A bucket with size 0 is unlimited. refill_time 0 with size > 0 is a configuration error
//   (Firecracker silently disables such a bucket; we say so instead), and so is a
//   one_time_burst on an unlimited bucket.
// - update() replaces buckets at runtime (PATCH /drives after boot); new buckets start full.
//
// The clock is injectable so tests are deterministic; the timerfd itself always runs on
// CLOCK_MONOTONIC, which is what the default clock reads.
#pragma once

#include "vmm/sys/result.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace ember {

// A source of monotonic nanoseconds.
class Clock {
public:
    Clock() = default;
    virtual ~Clock() = default;
    Clock(const Clock&) = delete;
    Clock& operator=(const Clock&) = delete;
    Clock(Clock&&) = delete;
    Clock& operator=(Clock&&) = delete;
    [[nodiscard]] virtual uint64_t now_ns() const = 0;
};

// CLOCK_MONOTONIC; lives for the whole process.
const Clock& monotonic_clock();

// A clock that moves only when told to (tests, and replaying a snapshot deterministically).
class ManualClock final : public Clock {
public:
    explicit ManualClock(uint64_t start_ns = 0) : now_(start_ns) {}
    [[nodiscard]] uint64_t now_ns() const override { return now_; }
    void advance_ns(uint64_t ns) { now_ += ns; }
    void advance_ms(uint64_t ms) { now_ += ms * 1'000'000; }

private:
    uint64_t now_;
};

struct TokenBucketConfig {
    uint64_t size = 0;           // tokens the bucket holds; 0: unlimited
    uint64_t one_time_burst = 0; // extra tokens spent first, never refilled
    uint64_t refill_time_ms = 0; // time to refill an empty bucket completely

    [[nodiscard]] bool unlimited() const { return size == 0; }
    bool operator==(const TokenBucketConfig&) const = default;
};

// Checks one bucket; `what` names it in the message ("bandwidth", "ops").
Result<void> validate(const TokenBucketConfig& config, std::string_view what);

enum class Reduction {
    kFailure,         // not enough tokens now; nothing consumed
    kSuccess,         // consumed
    kOverConsumption, // consumed more than the bucket holds; the bucket owes the rest
};

class TokenBucket final {
public:
    // `config` must be limited (size > 0) and valid.
    static Result<TokenBucket> create(const TokenBucketConfig& config, uint64_t now_ns);

    // Takes `tokens`: first from one_time_burst, then from the refilled budget.
    Reduction reduce(uint64_t tokens, uint64_t now_ns);
    // Gives tokens back (undoing a reduce): repays debt first, then the burst if it is still
    // being spent, else the budget; never above the configured amounts.
    void replenish(uint64_t tokens, uint64_t now_ns);
    // Nanoseconds from now until `tokens` can be reduced (0: now). Valid right after reduce()
    // or refill() at the same `now_ns`.
    [[nodiscard]] uint64_t wait_ns(uint64_t tokens, uint64_t now_ns) const;
    // Adds what time has produced since the last update.
    void refill(uint64_t now_ns);

    [[nodiscard]] uint64_t budget() const { return budget_; }
    [[nodiscard]] uint64_t one_time_burst() const { return burst_; }
    [[nodiscard]] const TokenBucketConfig& config() const { return config_; }

private:
    TokenBucket(const TokenBucketConfig& config, uint64_t now_ns);
    // Time to produce `tokens`, rounded up; saturates.
    [[nodiscard]] uint64_t time_for(uint64_t tokens) const;

    TokenBucketConfig config_;
    uint64_t burst_;
    uint64_t budget_;
    // Time up to which tokens have been credited. Ahead of the clock while a debt is unpaid.
    uint64_t last_update_ns_;
    // size / (refill_time_ms * 1e6) reduced by their gcd, so products stay small.
    uint64_t rate_tokens_;
    uint64_t rate_ns_;
};

enum class TokenType { kBytes, kOps };

struct RateLimiterConfig {
    TokenBucketConfig bandwidth; // bytes
    TokenBucketConfig ops;       // operations
    bool operator==(const RateLimiterConfig&) const = default;
};
Result<void> validate(const RateLimiterConfig& config);

// A runtime change; a bucket left empty keeps its current state.
struct RateLimiterUpdate {
    std::optional<TokenBucketConfig> bandwidth;
    std::optional<TokenBucketConfig> ops;
};

class RateLimiter final {
public:
    // Waits shorter than this are rounded up to it.
    static constexpr uint64_t kMinTimerNs = 1'000'000;

    // Creates the timerfd even when both buckets are unlimited: update() may enable limiting
    // later, when seccomp no longer allows timerfd_create. `clock` must outlive the limiter.
    static Result<RateLimiter> create(const RateLimiterConfig& config,
                                      const Clock& clock = monotonic_clock());

    // True when `tokens` were taken (always, for an unlimited bucket). False: the limiter is
    // blocked; keep the request and retry after on_timer().
    bool consume(uint64_t tokens, TokenType type);
    bool consume_bytes(uint64_t bytes) { return consume(bytes, TokenType::kBytes); }
    bool consume_op() { return consume(1, TokenType::kOps); }
    // One operation and `bytes` together, all or nothing: what a block or net request costs.
    bool consume_request(uint64_t bytes);
    // Returns tokens, e.g. when the request they paid for could not be submitted.
    void manual_replenish(uint64_t tokens, TokenType type);

    [[nodiscard]] bool blocked() const { return blocked_; }
    // The timerfd to watch for EPOLLIN; call on_timer() when it is readable.
    [[nodiscard]] int fd() const { return timer_.get(); }
    // Reads the timerfd and unblocks. False: nothing had expired (a spurious wake-up).
    bool on_timer();

    // Replaces buckets (see RateLimiterUpdate). While blocked, the timer is re-armed to fire
    // at once so the owner retries under the new limits.
    Result<void> update(const RateLimiterUpdate& update);

    [[nodiscard]] bool unlimited() const { return !bandwidth_ && !ops_; }
    [[nodiscard]] RateLimiterConfig config() const;
    [[nodiscard]] const std::optional<TokenBucket>& bandwidth() const { return bandwidth_; }
    [[nodiscard]] const std::optional<TokenBucket>& ops() const { return ops_; }
    // How long the timer was last armed for; 0 if never.
    [[nodiscard]] uint64_t armed_ns() const { return armed_ns_; }

private:
    RateLimiter(UniqueFd timer, const Clock& clock) : timer_(std::move(timer)), clock_(&clock) {}
    std::optional<TokenBucket>& bucket(TokenType type) {
        return type == TokenType::kBytes ? bandwidth_ : ops_;
    }
    // Blocks and arms the timer for `ns` (at least kMinTimerNs).
    void block_for(uint64_t ns);

    std::optional<TokenBucket> bandwidth_;
    std::optional<TokenBucket> ops_;
    UniqueFd timer_;
    const Clock* clock_;
    bool blocked_ = false;
    uint64_t armed_ns_ = 0;
};

} // namespace ember
