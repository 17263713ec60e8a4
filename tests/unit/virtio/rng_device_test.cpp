// RngDevice driven by hand: a queue in test memory, random bytes from getrandom or a fake source.
#include "virtio/rng/rng_device.hpp"

#include "tests/unit/virtio/virtqueue_builder.hpp"

#include <gtest/gtest.h>
#include <linux/virtio_ids.h>
#include <poll.h>

#include <algorithm>
#include <atomic>
#include <vector>

namespace ember::virtio::rng {
namespace {

class CountingIrq final : public IrqLine {
public:
    void trigger() override { count.fetch_add(1); }
    std::atomic<int> count{0};
};

constexpr uint64_t kFeatures = kFeatureVersion1 | feature_bit(VIRTIO_RING_F_EVENT_IDX) |
                               feature_bit(VIRTIO_RING_F_INDIRECT_DESC);

// Writes 0xa5 everywhere: what the guest gets is recognisable.
Result<void> fake_source(std::span<std::byte> out) {
    std::fill(out.begin(), out.end(), std::byte{0xa5});
    return {};
}

class RngDeviceTest : public ::testing::Test {
protected:
    void create(RateLimiterConfig limits = {}, EntropySource source = getrandom_fill) {
        auto dev = RngDevice::create(
            RngOptions{.name = "test-rng", .queue_size = 16, .rate_limiter = limits},
            std::move(source));
        ASSERT_TRUE(dev) << dev.error().message();
        device = std::move(*dev);
    }
    void activate(uint64_t features = kFeatures) {
        const QueueConfig config = q.config();
        ASSERT_TRUE(device->activate(ActivationContext{.memory = q.memory(),
                                                       .features = features,
                                                       .queues = std::span(&config, 1),
                                                       .queue_events = {},
                                                       .interrupt = interrupt}));
    }
    void run(std::initializer_list<uint16_t> heads) {
        for (uint16_t h : heads)
            q.publish(h);
        device->on_queue_notify();
    }
    // The bytes of the buffer of descriptor `index`.
    std::vector<uint8_t> buffer(uint16_t index) {
        auto d = q.memory().read_obj<Descriptor>(VirtqueueBuilder::kDescAddr + 16U * index);
        EXPECT_TRUE(d);
        std::vector<uint8_t> out(d->len);
        EXPECT_TRUE(q.memory().read(d->addr, std::as_writable_bytes(std::span(out))));
        return out;
    }

    VirtqueueBuilder q{16};
    CountingIrq irq;
    VirtioInterrupt interrupt{irq};
    std::unique_ptr<RngDevice> device;
};

TEST_F(RngDeviceTest, IdentityAndNoConfigSpace) {
    create();
    EXPECT_EQ(device->device_type(), uint32_t{VIRTIO_ID_RNG});
    EXPECT_EQ(device->available_features(),
              feature_bit(VIRTIO_RING_F_EVENT_IDX) | feature_bit(VIRTIO_RING_F_INDIRECT_DESC));
    ASSERT_EQ(device->queue_max_sizes().size(), 1U);
    EXPECT_EQ(device->queue_max_sizes()[0], 16);
    std::array<std::byte, 4> out{};
    device->read_config(0, out);
    EXPECT_EQ(out, (std::array<std::byte, 4>{}));
}

TEST_F(RngDeviceTest, FillsWritableChainsWithRandomBytes) {
    create();
    activate();
    const uint16_t a = q.add_chain({{256, true}});
    const uint16_t b = q.add_chain({{100, true}, {28, true}}); // two segments
    const uint16_t c = q.add_indirect_chain({{64, true}});
    run({a, b, c});
    ASSERT_EQ(q.used_idx(), 3);
    EXPECT_EQ(q.used_elem(0).id, a);
    EXPECT_EQ(q.used_elem(0).len, 256U);
    EXPECT_EQ(q.used_elem(1).id, b);
    EXPECT_EQ(q.used_elem(1).len, 128U);
    EXPECT_EQ(q.used_elem(2).id, c);
    EXPECT_EQ(q.used_elem(2).len, 64U);
    const auto bytes = buffer(a);
    // 256 random bytes are all equal (or all zero) with probability 2^-2040.
    EXPECT_NE(std::count(bytes.begin(), bytes.end(), bytes[0]), 256);
    const auto second = buffer(static_cast<uint16_t>(b + 1));
    EXPECT_NE(std::count(second.begin(), second.end(), uint8_t{0}), 28);
    EXPECT_EQ(device->metrics().requests, 3U);
    EXPECT_EQ(device->metrics().bytes, 448U);
    EXPECT_EQ(irq.count.load(), 1) << "one interrupt for the batch";
}

TEST_F(RngDeviceTest, UsesTheInjectedSourceAndCapsARequest) {
    create({}, fake_source);
    activate();
    // 96 KiB in two buffers: only the first 64 KiB are filled.
    const uint16_t a = q.add_chain({{64 * 1024 - 16, true}, {32 * 1024 + 16, true}});
    run({a});
    ASSERT_EQ(q.used_idx(), 1);
    EXPECT_EQ(q.used_elem(0).len, RngDevice::kMaxRequestBytes);
    const auto tail = buffer(static_cast<uint16_t>(a + 1));
    EXPECT_EQ(tail[15], 0xa5);
    EXPECT_EQ(tail[16], 0) << "past the cap the buffer is untouched";
}

TEST_F(RngDeviceTest, ReadableBuffersAreRefusedWithZeroBytes) {
    create({}, fake_source);
    activate();
    const uint16_t bad = q.add_chain({{16, false}, {16, true}});
    const uint16_t good = q.add_chain({{8, true}});
    run({bad, good});
    ASSERT_EQ(q.used_idx(), 2);
    EXPECT_EQ(q.used_elem(0).len, 0U);
    EXPECT_EQ(buffer(static_cast<uint16_t>(bad + 1))[0], 0) << "nothing written";
    EXPECT_EQ(q.used_elem(1).len, 8U);
    EXPECT_EQ(device->metrics().bad_requests, 1U);
    EXPECT_EQ(device->metrics().broken, 0U);
    EXPECT_FALSE(interrupt.needs_reset());
}

TEST_F(RngDeviceTest, SourceFailureReturnsZeroBytes) {
    create({}, [](std::span<std::byte>) -> Result<void> {
        return make_error(Errc::kOsError, "no entropy today");
    });
    activate();
    run({q.add_chain({{32, true}})});
    ASSERT_EQ(q.used_idx(), 1);
    EXPECT_EQ(q.used_elem(0).len, 0U);
    EXPECT_EQ(device->metrics().source_errors, 1U);
}

TEST_F(RngDeviceTest, BadDescriptorSetsNeedsResetUntilReset) {
    create();
    activate();
    // A buffer far outside guest RAM.
    q.set_desc(0, {0xffff'ffff'0000ULL, 64, kWrite, 0});
    run({0});
    EXPECT_TRUE(interrupt.needs_reset());
    EXPECT_EQ(device->metrics().broken, 1U);
    EXPECT_EQ(q.used_idx(), 0);
    // Ignored until reset.
    q.set_desc(1, {VirtqueueBuilder::kDataAddr, 8, kWrite, 0});
    run({1});
    EXPECT_EQ(q.used_idx(), 0);
    EXPECT_TRUE(device->reset());
    VirtqueueBuilder fresh{16};
    const QueueConfig config = fresh.config();
    interrupt.clear();
    ASSERT_TRUE(device->activate(ActivationContext{.memory = fresh.memory(),
                                                   .features = kFeatures,
                                                   .queues = std::span(&config, 1),
                                                   .queue_events = {},
                                                   .interrupt = interrupt}));
    fresh.publish(fresh.add_chain({{8, true}}));
    device->on_queue_notify();
    EXPECT_EQ(fresh.used_idx(), 1);
    EXPECT_EQ(fresh.used_elem(0).len, 8U);
}

TEST_F(RngDeviceTest, LoopingChainBreaksOnlyTheDevice) {
    create();
    activate();
    q.set_desc(0, {VirtqueueBuilder::kDataAddr, 8, static_cast<uint16_t>(kWrite | kNext), 1});
    q.set_desc(1, {VirtqueueBuilder::kDataAddr, 8, static_cast<uint16_t>(kWrite | kNext), 0});
    run({0});
    EXPECT_TRUE(interrupt.needs_reset());
    EXPECT_EQ(q.used_idx(), 0);
}

TEST_F(RngDeviceTest, NothingHappensBeforeActivation) {
    create();
    run({q.add_chain({{8, true}})});
    EXPECT_EQ(q.used_idx(), 0);
    activate();
    device->on_queue_notify();
    EXPECT_EQ(q.used_idx(), 1);
}

TEST_F(RngDeviceTest, RateLimiterHoldsRequestsBackUntilItsTimer) {
    // 64 bytes per 5 ms: the first request takes them all.
    ManualClock clock(1'000'000'000);
    auto dev = RngDevice::create(
        RngOptions{
            .name = "limited",
            .queue_size = 16,
            .rate_limiter = {.bandwidth = {.size = 64, .one_time_burst = 0, .refill_time_ms = 5},
                             .ops = {}}},
        fake_source, clock);
    ASSERT_TRUE(dev) << dev.error().message();
    device = std::move(*dev);
    activate();
    const uint16_t a = q.add_chain({{64, true}});
    const uint16_t b = q.add_chain({{64, true}});
    run({a, b});
    EXPECT_EQ(q.used_idx(), 1);
    EXPECT_EQ(device->metrics().throttled, 1U);
    device->on_queue_notify(); // a kick while throttled changes nothing
    EXPECT_EQ(q.used_idx(), 1);
    // Time passes (for the buckets, and for the real timerfd the device armed).
    clock.advance_ms(5);
    // Deliberately no timing assertion: wait for the timerfd's event, however long it takes.
    auto wait_for_timer = [&] {
        auto loop = EventLoop::create();
        EXPECT_TRUE(loop);
        auto kick = EventFd::create();
        EXPECT_TRUE(kick);
        EXPECT_TRUE(device->attach(*loop, std::span(&*kick, 1)));
        bool ran = false;
        for (int i = 0; i < 100 && q.used_idx() < 2; ++i)
            ran = loop->run_once(100).value_or(0) > 0 || ran;
        device->detach(*loop);
        return ran;
    };
    EXPECT_TRUE(wait_for_timer());
    EXPECT_EQ(q.used_idx(), 2);
    EXPECT_EQ(q.used_elem(1).id, b);
    EXPECT_EQ(q.used_elem(1).len, 64U);
    device.reset(); // before the clock it uses
}

TEST_F(RngDeviceTest, YieldsToTheEventLoopAfterABatch) {
    VirtqueueBuilder big{1024};
    auto dev = RngDevice::create(RngOptions{.name = "fair", .queue_size = 1024, .rate_limiter = {}},
                                 fake_source);
    ASSERT_TRUE(dev);
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto kick = EventFd::create();
    ASSERT_TRUE(kick);
    ASSERT_TRUE((*dev)->attach(*loop, std::span(&*kick, 1)));
    const QueueConfig config = big.config();
    ASSERT_TRUE((*dev)->activate(ActivationContext{.memory = big.memory(),
                                                   .features = kFeatures,
                                                   .queues = std::span(&config, 1),
                                                   .queue_events = std::span(&*kick, 1),
                                                   .interrupt = interrupt}));
    (void)kick->consume();
    for (int i = 0; i < 300; ++i)
        big.publish(big.add_chain({{4, true}}));
    (*dev)->on_queue_notify();
    EXPECT_EQ(big.used_idx(), 256);
    EXPECT_NE(kick->consume(), 0U) << "the device did not kick itself to finish the batch";
    (*dev)->on_queue_notify();
    EXPECT_EQ(big.used_idx(), 300);
    (*dev)->detach(*loop);
}

TEST(RngDeviceCreate, RefusesBadQueueSizeAndLimiter) {
    auto bad = RngDevice::create(RngOptions{.name = "x", .queue_size = 12, .rate_limiter = {}});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("power of two"), std::string::npos);
    auto limiter = RngDevice::create(RngOptions{
        .name = "y",
        .queue_size = 16,
        .rate_limiter = {.bandwidth = {.size = 10, .one_time_burst = 0, .refill_time_ms = 0},
                         .ops = {}}});
    ASSERT_FALSE(limiter);
    EXPECT_NE(limiter.error().message().find("y:"), std::string::npos);
}

TEST(RngGetrandom, FillsEveryByte) {
    std::vector<std::byte> a(4096, std::byte{0});
    ASSERT_TRUE(getrandom_fill(a));
    EXPECT_LT(std::count(a.begin(), a.end(), std::byte{0}), 4096 / 16);
}

} // namespace
} // namespace ember::virtio::rng
