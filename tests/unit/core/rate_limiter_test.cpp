#include "vmm/core/rate_limiter.hpp"

#include "vmm/core/event_loop.hpp"

#include <sys/timerfd.h>

#include <gtest/gtest.h>

namespace ember {
namespace {

constexpr uint64_t kMs = 1'000'000;

TokenBucket make_bucket(uint64_t size, uint64_t burst, uint64_t refill_ms) {
    return TokenBucket::create({size, burst, refill_ms}, 0).value();
}

RateLimiter make_limiter(const RateLimiterConfig& config, const Clock& clock) {
    return RateLimiter::create(config, clock).value();
}

// What the kernel thinks is left on the timer: proves the fd itself was armed.
uint64_t timer_remaining_ns(int fd) {
    itimerspec spec{};
    EXPECT_EQ(::timerfd_gettime(fd, &spec), 0);
    return static_cast<uint64_t>(spec.it_value.tv_sec) * 1'000'000'000 +
           static_cast<uint64_t>(spec.it_value.tv_nsec);
}

TEST(TokenBucketConfig, ValidatesWithMessagesThatSayWhatToDo) {
    EXPECT_TRUE(validate(TokenBucketConfig{}, "bandwidth").has_value());
    EXPECT_TRUE(validate(TokenBucketConfig{0, 0, 1000}, "bandwidth").has_value());
    EXPECT_TRUE(validate(TokenBucketConfig{100, 5, 1000}, "bandwidth").has_value());

    auto no_refill = validate(TokenBucketConfig{100, 0, 0}, "bandwidth");
    ASSERT_FALSE(no_refill.has_value());
    EXPECT_EQ(no_refill.error().code(), Errc::kInvalidArgument);
    EXPECT_EQ(no_refill.error().message(),
              "bandwidth rate limiter: refill_time must be > 0 ms when "
              "size is 100 (set size to 0 for no limit)");

    auto burst_only = validate(TokenBucketConfig{0, 10, 0}, "ops");
    ASSERT_FALSE(burst_only.has_value());
    EXPECT_NE(burst_only.error().message().find("ops rate limiter: one_time_burst 10"),
              std::string::npos);

    auto huge = validate(TokenBucketConfig{1, 0, UINT64_MAX}, "ops");
    ASSERT_FALSE(huge.has_value());
    EXPECT_NE(huge.error().message().find("too large"), std::string::npos);

    auto both = RateLimiter::create({{1, 0, 1}, {5, 0, 0}});
    ASSERT_FALSE(both.has_value());
    EXPECT_NE(both.error().message().find("ops rate limiter"), std::string::npos);
}

TEST(TokenBucket, StartsFullAndRefillsAtSizePerRefillTime) {
    auto b = make_bucket(1000, 0, 1000); // 1 token per ms
    EXPECT_EQ(b.budget(), 1000U);
    EXPECT_EQ(b.reduce(1000, 0), Reduction::kSuccess);
    EXPECT_EQ(b.budget(), 0U);
    EXPECT_EQ(b.reduce(251, 250 * kMs), Reduction::kFailure);
    EXPECT_EQ(b.budget(), 250U); // the failure consumed nothing
    EXPECT_EQ(b.reduce(250, 250 * kMs), Reduction::kSuccess);
    EXPECT_EQ(b.budget(), 0U);
    b.refill(10'000 * kMs); // never above size
    EXPECT_EQ(b.budget(), 1000U);
}

TEST(TokenBucket, CarriesFractionsOfATokenBetweenRefills) {
    auto b = make_bucket(3, 0, 10); // one token every 3.33 ms
    ASSERT_EQ(b.reduce(3, 0), Reduction::kSuccess);
    b.refill(5 * kMs); // 1.5 tokens: 1 now, 0.5 carried
    EXPECT_EQ(b.budget(), 1U);
    b.refill(7 * kMs); // 0.5 + 0.6: a second token, which 2 ms alone would not make
    EXPECT_EQ(b.budget(), 2U);
    EXPECT_EQ(b.wait_ns(3, 7 * kMs), 10 * kMs - 7 * kMs + 2); // 3rd token at 10 ms (rounded up)
}

TEST(TokenBucket, OneTimeBurstIsSpentFirstAndNeverRefilled) {
    auto b = make_bucket(100, 50, 1000);
    EXPECT_EQ(b.reduce(40, 0), Reduction::kSuccess);
    EXPECT_EQ(b.one_time_burst(), 10U);
    EXPECT_EQ(b.budget(), 100U);
    EXPECT_EQ(b.reduce(30, 0), Reduction::kSuccess); // 10 from the burst, 20 from the bucket
    EXPECT_EQ(b.one_time_burst(), 0U);
    EXPECT_EQ(b.budget(), 80U);
    b.refill(60'000 * kMs);
    EXPECT_EQ(b.budget(), 100U);
    EXPECT_EQ(b.one_time_burst(), 0U);
    EXPECT_EQ(b.reduce(101, 60'000 * kMs), Reduction::kOverConsumption);
}

TEST(TokenBucket, OversizeRequestDrainsTheBucketAndOwesTheRest) {
    auto b = make_bucket(1000, 0, 1000);
    ASSERT_EQ(b.reduce(400, 0), Reduction::kSuccess);
    EXPECT_EQ(b.reduce(2500, 0), Reduction::kOverConsumption); // 600 paid, 1900 owed
    EXPECT_EQ(b.budget(), 0U);
    EXPECT_EQ(b.wait_ns(0, 0), 1900 * kMs);
    b.refill(1900 * kMs); // the debt is repaid, nothing credited yet
    EXPECT_EQ(b.budget(), 0U);
    b.refill(2000 * kMs);
    EXPECT_EQ(b.budget(), 100U);

    auto with_burst = make_bucket(1000, 500, 1000);
    EXPECT_EQ(with_burst.reduce(1500, 0), Reduction::kSuccess); // fits burst + bucket
    auto over = make_bucket(1000, 500, 1000);
    EXPECT_EQ(over.reduce(1600, 0), Reduction::kOverConsumption); // 1100 > size after burst
    EXPECT_EQ(over.wait_ns(0, 0), 100 * kMs);
}

TEST(TokenBucket, ReplenishRepaysDebtThenFillsBurstOrBudget) {
    auto b = make_bucket(1000, 0, 1000);
    ASSERT_EQ(b.reduce(1500, 0), Reduction::kOverConsumption);
    b.replenish(200, 0);
    EXPECT_EQ(b.wait_ns(0, 0), 300 * kMs);
    b.replenish(1000, 0); // 300 repay the debt, 700 return to the budget
    EXPECT_EQ(b.wait_ns(0, 0), 0U);
    EXPECT_EQ(b.budget(), 700U);
    b.replenish(5000, 0);
    EXPECT_EQ(b.budget(), 1000U);

    auto burst = make_bucket(100, 50, 1000);
    ASSERT_EQ(burst.reduce(30, 0), Reduction::kSuccess);
    burst.replenish(100, 0);
    EXPECT_EQ(burst.one_time_burst(), 50U);
    EXPECT_EQ(burst.budget(), 100U);
}

TEST(RateLimiter, ExhaustionArmsTheTimerForWhenTokensWillExist) {
    ManualClock clock;
    auto rl = make_limiter({{1000, 0, 1000}, {}}, clock);
    EXPECT_TRUE(rl.consume_bytes(1000));
    EXPECT_FALSE(rl.blocked());
    EXPECT_EQ(rl.armed_ns(), 0U);
    EXPECT_FALSE(rl.consume_bytes(500));
    EXPECT_TRUE(rl.blocked());
    EXPECT_EQ(rl.armed_ns(), 500 * kMs);
    const uint64_t remaining = timer_remaining_ns(rl.fd());
    EXPECT_GT(remaining, 400 * kMs);
    EXPECT_LE(remaining, 500 * kMs);
    clock.advance_ms(500);
    EXPECT_FALSE(rl.consume_bytes(1)); // blocked until the timer is handled
    EXPECT_FALSE(rl.on_timer());       // the real timer has not expired yet: spurious
    EXPECT_TRUE(rl.blocked());
}

TEST(RateLimiter, ExactWaitIncludesTheCarriedFraction) {
    ManualClock clock;
    auto rl = make_limiter({{3, 0, 10}, {}}, clock);
    ASSERT_TRUE(rl.consume_bytes(3));
    clock.advance_ms(5); // 1 token credited at 3.333334 ms
    EXPECT_FALSE(rl.consume_bytes(2));
    EXPECT_EQ(rl.armed_ns(), 6'666'668 - 5 * kMs);
}

TEST(RateLimiter, TimerFiresThroughTheEventLoopAndUnblocks) {
    ManualClock clock;
    auto rl = make_limiter({{1'000'000, 0, 1000}, {}}, clock); // 1 token per us
    ASSERT_TRUE(rl.consume_bytes(1'000'000));
    EXPECT_FALSE(rl.consume_bytes(100)); // 100 us needed: rounded up to the minimum
    EXPECT_EQ(rl.armed_ns(), RateLimiter::kMinTimerNs);

    auto loop = EventLoop::create().value();
    int fired = 0;
    ASSERT_TRUE(
        loop.add(rl.fd(), EPOLLIN, [&](uint32_t) { fired += rl.on_timer() ? 1 : 0; }).has_value());
    EXPECT_EQ(loop.run_once(1000).value(), 1);
    EXPECT_EQ(fired, 1);
    EXPECT_FALSE(rl.blocked());
    clock.advance_ns(100'000);
    EXPECT_TRUE(rl.consume_bytes(100));
    EXPECT_EQ(rl.bandwidth()->budget(), 0U);
}

TEST(RateLimiter, OversizeRequestPassesAndBlocksForTheDebt) {
    ManualClock clock;
    auto rl = make_limiter({{1000, 0, 1000}, {}}, clock);
    EXPECT_TRUE(rl.consume_bytes(2500));
    EXPECT_TRUE(rl.blocked());
    EXPECT_EQ(rl.armed_ns(), 1500 * kMs);
    EXPECT_FALSE(rl.consume_bytes(1));
}

TEST(RateLimiter, RequestNeedsBothAnOpAndItsBytes) {
    ManualClock clock;
    auto rl = make_limiter({{4096, 0, 1000}, {2, 0, 1000}}, clock);
    EXPECT_TRUE(rl.consume_request(1000));
    EXPECT_TRUE(rl.consume_request(1000));
    EXPECT_FALSE(rl.consume_request(1000)); // out of ops
    EXPECT_EQ(rl.armed_ns(), 500 * kMs);    // one op at 2 per second
    EXPECT_EQ(rl.bandwidth()->budget(), 2096U);

    ManualClock clock2;
    auto rl2 = make_limiter({{1000, 0, 1000}, {10, 0, 1000}}, clock2);
    EXPECT_TRUE(rl2.consume_request(600));
    EXPECT_FALSE(rl2.consume_request(600)); // out of bytes: the op is given back
    EXPECT_EQ(rl2.ops()->budget(), 9U);
    EXPECT_EQ(rl2.bandwidth()->budget(), 400U);
    EXPECT_EQ(rl2.armed_ns(), 200 * kMs);
}

TEST(RateLimiter, UnlimitedBucketsNeverBlock) {
    ManualClock clock;
    auto rl = make_limiter({}, clock);
    EXPECT_TRUE(rl.unlimited());
    EXPECT_GE(rl.fd(), 0); // exists already, for a later update()
    EXPECT_TRUE(rl.consume_bytes(UINT64_MAX));
    EXPECT_TRUE(rl.consume_request(1ULL << 40));
    EXPECT_FALSE(rl.blocked());

    auto ops_only = make_limiter({{}, {1, 0, 1000}}, clock);
    EXPECT_TRUE(ops_only.consume_bytes(1ULL << 40));
    EXPECT_TRUE(ops_only.consume_op());
    EXPECT_FALSE(ops_only.consume_op());
    EXPECT_EQ(ops_only.armed_ns(), 1000 * kMs);
}

TEST(RateLimiter, ManualReplenishUndoesAConsume) {
    ManualClock clock;
    auto rl = make_limiter({{100, 0, 1000}, {}}, clock);
    ASSERT_TRUE(rl.consume_bytes(100));
    rl.manual_replenish(40, TokenType::kBytes);
    EXPECT_EQ(rl.bandwidth()->budget(), 40U);
    rl.manual_replenish(1000, TokenType::kBytes);
    EXPECT_EQ(rl.bandwidth()->budget(), 100U);
    rl.manual_replenish(5, TokenType::kOps); // unlimited: nothing to do
    EXPECT_FALSE(rl.ops().has_value());
}

TEST(RateLimiter, UpdateReplacesBucketsAtRuntime) {
    ManualClock clock;
    auto rl = make_limiter({}, clock);
    ASSERT_TRUE(rl.update({TokenBucketConfig{100, 0, 1000}, std::nullopt}).has_value());
    EXPECT_TRUE(rl.consume_bytes(100));
    EXPECT_FALSE(rl.consume_bytes(1));
    EXPECT_EQ(rl.armed_ns(), 10 * kMs);

    // An invalid update changes nothing.
    EXPECT_FALSE(rl.update({TokenBucketConfig{5, 0, 0}, std::nullopt}).has_value());
    EXPECT_EQ(rl.config().bandwidth, (TokenBucketConfig{100, 0, 1000}));

    // Leaving bandwidth out keeps its state; the blocked owner is woken to retry soon.
    ASSERT_TRUE(rl.update({std::nullopt, TokenBucketConfig{10, 2, 100}}).has_value());
    EXPECT_EQ(rl.bandwidth()->budget(), 0U);
    EXPECT_EQ(rl.ops()->one_time_burst(), 2U);
    EXPECT_EQ(rl.armed_ns(), RateLimiter::kMinTimerNs);

    ASSERT_TRUE(rl.update({TokenBucketConfig{}, std::nullopt}).has_value()); // size 0: unlimited
    EXPECT_FALSE(rl.bandwidth().has_value());
    EXPECT_EQ(rl.config(), (RateLimiterConfig{{}, {10, 2, 100}}));
    auto loop = EventLoop::create().value();
    ASSERT_TRUE(loop.add(rl.fd(), EPOLLIN, [&](uint32_t) { rl.on_timer(); }).has_value());
    EXPECT_EQ(loop.run_once(1000).value(), 1);
    EXPECT_FALSE(rl.blocked());
    EXPECT_TRUE(rl.consume_bytes(1'000'000));

    // A replaced bucket starts full.
    ASSERT_TRUE(rl.update({TokenBucketConfig{50, 0, 1000}, std::nullopt}).has_value());
    EXPECT_EQ(rl.bandwidth()->budget(), 50U);
}

} // namespace
} // namespace ember
