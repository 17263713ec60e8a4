#include "virtio/queue/queue.hpp"

#include "tests/unit/virtio/virtqueue_builder.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ember::virtio {
namespace {

using ::testing::HasSubstr;
using B = VirtqueueBuilder;

constexpr uint64_t kEventIdx = uint64_t{1} << VIRTIO_RING_F_EVENT_IDX;
constexpr uint64_t kIndirectDesc = uint64_t{1} << VIRTIO_RING_F_INDIRECT_DESC;

Queue make_queue(const VirtqueueBuilder& q, uint64_t features = 0, const QueueState& state = {}) {
    auto queue = Queue::create(q.config(), q.memory(), features, state);
    EXPECT_TRUE(queue) << queue.error().message();
    return std::move(*queue);
}

// Pops one chain that must be there.
DescriptorChain pop_one(Queue& queue) {
    auto chain = queue.pop();
    EXPECT_TRUE(chain) << chain.error().message;
    EXPECT_TRUE(chain && *chain) << "no chain available";
    return chain && *chain ? std::move(**chain) : DescriptorChain{};
}

void expect_config_error(const VirtqueueBuilder& q, const QueueConfig& config,
                         std::string_view text) {
    auto queue = Queue::create(config, q.memory(), 0);
    ASSERT_FALSE(queue);
    EXPECT_THAT(queue.error().message(), HasSubstr(text));
}

// --- creation ---

TEST(Queue, CreateTakesRingFeatures) {
    VirtqueueBuilder q(256);
    Queue plain = make_queue(q);
    EXPECT_EQ(plain.size(), 256);
    EXPECT_FALSE(plain.event_idx());
    EXPECT_FALSE(plain.indirect_desc());
    Queue both = make_queue(q, kEventIdx | kIndirectDesc | (uint64_t{1} << 32));
    EXPECT_TRUE(both.event_idx());
    EXPECT_TRUE(both.indirect_desc());
    EXPECT_EQ(both.config().used, B::kUsedAddr);
    EXPECT_EQ(both.state(), QueueState{});
}

TEST(Queue, ConfigSizesAreChecked) {
    VirtqueueBuilder q;
    QueueConfig c = q.config();
    c.ready = false;
    expect_config_error(q, c, "virtqueue is not ready");
    c = q.config();
    c.size = 0;
    expect_config_error(q, c,
                        "virtqueue size 0 is not a power of two between 1 and the maximum 16");
    c.size = 12;
    expect_config_error(q, c, "virtqueue size 12 is not a power of two");
    c.size = 32;
    expect_config_error(q, c,
                        "virtqueue size 32 is not a power of two between 1 and the maximum 16");
    c.max_size = 24;
    expect_config_error(q, c, "maximum size 24 is not a power of two between 1 and 32768");
    c.max_size = 0;
    expect_config_error(q, c, "maximum size 0");
}

TEST(Queue, ConfigAlignmentIsChecked) {
    VirtqueueBuilder q;
    QueueConfig c = q.config();
    c.desc += 8;
    expect_config_error(q, c, "descriptor table 0x1008 needs 16 bytes");
    c = q.config();
    c.avail += 1;
    expect_config_error(q, c, "available ring 0x5001 2");
    c = q.config();
    c.used += 2;
    expect_config_error(q, c, "used ring 0x6002 4");
}

TEST(Queue, RingsMustLieInGuestRam) {
    VirtqueueBuilder q;
    QueueConfig c = q.config();
    c.desc = B::kRamSize - 0x80; // 16 entries need 0x100 bytes
    expect_config_error(q, c, "descriptor table [0xfff80, +0x100) is not in guest RAM");
    c = q.config();
    c.avail = B::kRamSize - 0x20; // 6 + 2 * 16 = 0x26 bytes
    expect_config_error(q, c, "available ring [0xfffe0, +0x26) is not in guest RAM");
    c = q.config();
    c.used = B::kRamSize; // entirely outside
    expect_config_error(q, c, "used ring [0x100000, +0x86) is not in guest RAM");
    c.used = B::kRamSize - 0x84; // used_event's last 2 bytes stick out
    expect_config_error(q, c, "used ring [0xfff7c, +0x86)");
    c.used = B::kRamSize - 0x88;
    EXPECT_TRUE(Queue::create(c, q.memory(), 0));
}

TEST(Queue, LargestQueueSize) {
    VirtqueueBuilder q(32768);
    QueueConfig c = q.config();
    c.desc = 0x10000;  // 512 KiB
    c.avail = 0x90000; // 64 KiB + 6
    c.used = 0xb0000;  // 256 KiB + 6
    EXPECT_TRUE(Queue::create(c, q.memory(), 0));
}

// --- pop ---

TEST(Queue, PopOnEmptyQueueReturnsNothing) {
    VirtqueueBuilder q;
    Queue queue = make_queue(q);
    auto chain = queue.pop();
    ASSERT_TRUE(chain);
    EXPECT_FALSE(chain->has_value());
    EXPECT_EQ(queue.state().last_avail_idx, 0);
}

TEST(Queue, PopsChainsInAvailableOrder) {
    VirtqueueBuilder q;
    const uint16_t a = q.add_chain({{10}, {20, true}});
    const uint16_t b = q.add_chain({{30, true}});
    q.publish(b);
    q.publish(a);
    Queue queue = make_queue(q);
    DescriptorChain first = pop_one(queue);
    EXPECT_EQ(first.head(), 2);
    EXPECT_EQ(first.writable_bytes(), 30U);
    DescriptorChain second = pop_one(queue);
    EXPECT_EQ(second.head(), 0);
    EXPECT_EQ(second.readable_bytes(), 10U);
    auto none = queue.pop();
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
    EXPECT_EQ(queue.state().last_avail_idx, 2);
}

TEST(Queue, PopIntoReusesTheChain) {
    VirtqueueBuilder q;
    q.publish(q.add_chain({{10}, {20}, {30, true}}));
    q.publish(q.add_chain({{40, true}}));
    Queue queue = make_queue(q);
    DescriptorChain chain;
    auto got = queue.pop_into(chain);
    ASSERT_TRUE(got && *got);
    EXPECT_EQ(chain.segments().size(), 3U);
    got = queue.pop_into(chain);
    ASSERT_TRUE(got && *got);
    EXPECT_EQ(chain.head(), 3);
    EXPECT_EQ(chain.segments().size(), 1U);
    got = queue.pop_into(chain);
    ASSERT_TRUE(got);
    EXPECT_FALSE(*got);
}

TEST(Queue, IndirectChainsNeedTheFeature) {
    VirtqueueBuilder q;
    q.publish(q.add_indirect_chain({{16}, {32, true}}));
    Queue without = make_queue(q);
    auto bad = without.pop();
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().error, ChainError::kBadIndirect);
    Queue with = make_queue(q, kIndirectDesc);
    DescriptorChain chain = pop_one(with);
    EXPECT_EQ(chain.segments().size(), 2U);
    EXPECT_EQ(chain.writable_bytes(), 32U);
}

TEST(Queue, BadChainIsReportedAndConsumed) {
    VirtqueueBuilder q;
    q.set_desc(5, {0x30000, 8, kNext, 5}); // loops onto itself
    q.publish(5);
    q.publish(q.add_chain({{8}, {8, true}}));
    Queue queue = make_queue(q);
    auto bad = queue.pop();
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().error, ChainError::kLoop);
    EXPECT_THAT(bad.error().message, HasSubstr("virtqueue head 5, descriptor 5"));
    EXPECT_EQ(queue.state().last_avail_idx, 1);
    EXPECT_EQ(pop_one(queue).head(), 0);
    EXPECT_TRUE(queue.add_used(5, 0)); // a lenient device may hand the bad chain back
    EXPECT_EQ(q.used_idx(), 1);
    EXPECT_EQ(q.used_elem(0).id, 5U);
}

TEST(Queue, ChainLongerThanQueueSize) {
    VirtqueueBuilder q(4);
    q.publish(q.add_indirect_chain({{1}, {1}, {1}, {1}, {1}}));
    Queue queue = make_queue(q, kIndirectDesc);
    auto chain = queue.pop();
    ASSERT_FALSE(chain);
    EXPECT_EQ(chain.error().error, ChainError::kTooLong);
}

TEST(Queue, HeadOnRingOutOfRange) {
    VirtqueueBuilder q;
    q.publish(16);
    Queue queue = make_queue(q);
    auto chain = queue.pop();
    ASSERT_FALSE(chain);
    EXPECT_EQ(chain.error().error, ChainError::kIndexOutOfRange);
    EXPECT_THAT(chain.error().message, HasSubstr("head 16"));
}

TEST(Queue, AvailIdxMoreThanSizeAheadIsAnError) {
    VirtqueueBuilder q;
    q.set_avail_idx(17);
    Queue queue = make_queue(q);
    auto chain = queue.pop();
    ASSERT_FALSE(chain);
    EXPECT_EQ(chain.error().error, ChainError::kBadAvailIdx);
    EXPECT_THAT(chain.error().message,
                HasSubstr("avail idx 17 is 17 entries ahead of the device's 0, more than the "
                          "queue size 16"));
    EXPECT_EQ(queue.state().last_avail_idx, 0);
    EXPECT_FALSE(queue.pop()); // it stays broken
    // Going backwards is the same thing seen through uint16 arithmetic.
    q.set_avail_idx(0xffff);
    EXPECT_EQ(queue.pop().error().error, ChainError::kBadAvailIdx);
}

TEST(Queue, AvailIdxExactlySizeAheadIsFine) {
    VirtqueueBuilder q(4);
    for (int i = 0; i < 4; ++i)
        q.publish(q.add_chain({{8}}));
    Queue queue = make_queue(q);
    for (uint16_t i = 0; i < 4; ++i)
        EXPECT_EQ(pop_one(queue).head(), i);
    EXPECT_EQ(queue.state().last_avail_idx, 4);
}

TEST(Queue, IndicesWrapAround) {
    VirtqueueBuilder q(4);
    q.set_avail_idx(0xfffe);
    QueueState state{0xfffe, 0xfffe, 0xfffe, true};
    Queue queue = make_queue(q, 0, state);
    for (int i = 0; i < 3; ++i)
        q.publish(q.add_chain({{8, true}}));
    EXPECT_EQ(q.avail_idx(), 1);
    for (uint16_t i = 0; i < 3; ++i) {
        DescriptorChain chain = pop_one(queue);
        EXPECT_EQ(chain.head(), i);
        EXPECT_TRUE(queue.add_used(chain.head(), 8U + i));
    }
    EXPECT_EQ(queue.state().last_avail_idx, 1);
    EXPECT_EQ(queue.state().next_used_idx, 1);
    EXPECT_EQ(q.used_idx(), 1);
    // Slots 0xfffe % 4 = 2, 3, then 0.
    EXPECT_EQ(q.used_elem(2).id, 0U);
    EXPECT_EQ(q.used_elem(3).id, 1U);
    EXPECT_EQ(q.used_elem(0).id, 2U);
    EXPECT_EQ(q.used_elem(0).len, 10U);
}

// --- used ring ---

TEST(Queue, AddUsedPublishesElementAndIndex) {
    VirtqueueBuilder q;
    q.publish(q.add_chain({{16}, {64, true}}));
    q.publish(q.add_chain({{16}}));
    Queue queue = make_queue(q);
    const uint16_t first = pop_one(queue).head();
    const uint16_t second = pop_one(queue).head();
    ASSERT_TRUE(queue.add_used(second, 0));
    EXPECT_EQ(q.used_idx(), 1);
    ASSERT_TRUE(queue.add_used(first, 64));
    EXPECT_EQ(q.used_idx(), 2);
    EXPECT_EQ(q.used_elem(0).id, 2U);
    EXPECT_EQ(q.used_elem(0).len, 0U);
    EXPECT_EQ(q.used_elem(1).id, 0U);
    EXPECT_EQ(q.used_elem(1).len, 64U);
    EXPECT_EQ(queue.state().next_used_idx, 2);
}

TEST(Queue, AddUsedRejectsDeviceBugs) {
    VirtqueueBuilder q;
    q.publish(q.add_chain({{16}}));
    Queue queue = make_queue(q);
    auto r = queue.add_used(0, 0);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message(), HasSubstr("no chain is outstanding"));
    (void)pop_one(queue);
    r = queue.add_used(16, 0);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::kInternal);
    EXPECT_THAT(r.error().message(), HasSubstr("head 16 is not below the size 16"));
    EXPECT_EQ(q.used_idx(), 0);
}

// --- interrupt suppression ---

// A queue whose last interrupt decision was at used index `signalled`, with `added` chains
// used since (all indices free-running from `signalled`).
struct Signalled {
    Signalled(uint64_t features, uint16_t signalled, uint16_t added)
        : queue(make_queue(q, features, {signalled, signalled, signalled, true})) {
        q.set_avail_idx(signalled);
        for (uint16_t i = 0; i < added; ++i) {
            q.publish(q.add_chain({{8, true}}));
            EXPECT_TRUE(queue.add_used(pop_one(queue).head(), 8));
        }
    }
    VirtqueueBuilder q;
    Queue queue;
};

TEST(Queue, InterruptWithoutEventIdxFollowsNoInterruptFlag) {
    Signalled s(0, 0, 1);
    EXPECT_TRUE(s.queue.needs_interrupt());
    EXPECT_FALSE(s.queue.needs_interrupt()); // nothing used since
    s.q.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
    s.q.publish(s.q.add_chain({{8}}));
    ASSERT_TRUE(s.queue.add_used(pop_one(s.queue).head(), 0));
    EXPECT_FALSE(s.queue.needs_interrupt());
    s.q.set_avail_flags(0);
    s.q.publish(s.q.add_chain({{8}}));
    ASSERT_TRUE(s.queue.add_used(pop_one(s.queue).head(), 0));
    EXPECT_TRUE(s.queue.needs_interrupt());
    EXPECT_EQ(s.queue.state().signalled_used_idx, 3);
}

TEST(Queue, FirstInterruptCheckAfterCreateSaysYes) {
    VirtqueueBuilder q;
    Queue fresh = make_queue(q, kEventIdx);
    q.set_used_event(100); // far away: would suppress
    EXPECT_TRUE(fresh.needs_interrupt());
    EXPECT_TRUE(fresh.state().signalled_used_valid);
    EXPECT_FALSE(fresh.needs_interrupt());
}

TEST(Queue, EventIdxInterruptsWhenUsedEventIsCrossed) {
    // Used entries 10, 11, 12 were added: old = 10, new = 13. The driver asked for an interrupt
    // when entry used_event is used, i.e. when used_event is in [old, new).
    const struct {
        uint16_t used_event;
        bool expected;
    } cases[] = {{9, false}, {10, true}, {11, true}, {12, true}, {13, false}, {0, false}};
    for (const auto& c : cases) {
        Signalled s(kEventIdx, 10, 3);
        s.q.set_used_event(c.used_event);
        EXPECT_EQ(s.queue.needs_interrupt(), c.expected) << "used_event " << c.used_event;
        EXPECT_EQ(s.queue.state().signalled_used_idx, 13);
    }
}

TEST(Queue, EventIdxHandlesUint16Wraparound) {
    // old = 0xfffe, new = 0x0001 (three entries across the wrap).
    const struct {
        uint16_t used_event;
        bool expected;
    } cases[] = {{0xfffd, false}, {0xfffe, true},  {0xffff, true},
                 {0x0000, true},  {0x0001, false}, {0x8000, false}};
    for (const auto& c : cases) {
        Signalled s(kEventIdx, 0xfffe, 3);
        EXPECT_EQ(s.queue.state().next_used_idx, 1);
        s.q.set_used_event(c.used_event);
        EXPECT_EQ(s.queue.needs_interrupt(), c.expected) << "used_event " << c.used_event;
    }
}

TEST(Queue, EventIdxIgnoresNoInterruptFlag) {
    Signalled s(kEventIdx, 0, 1);
    s.q.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
    s.q.set_used_event(0);
    EXPECT_TRUE(s.queue.needs_interrupt());
    EXPECT_FALSE(s.queue.needs_interrupt()); // nothing new: new == old never interrupts
}

// --- notification suppression ---

TEST(Queue, NotificationsWithoutEventIdxUseUsedFlags) {
    VirtqueueBuilder q;
    Queue queue = make_queue(q);
    queue.disable_notifications();
    EXPECT_EQ(q.used_flags(), VRING_USED_F_NO_NOTIFY);
    EXPECT_FALSE(queue.enable_notifications()); // nothing arrived
    EXPECT_EQ(q.used_flags(), 0);
    queue.disable_notifications();
    q.publish(q.add_chain({{8}}));
    EXPECT_TRUE(queue.enable_notifications()); // arrived while disabled: pop again
    EXPECT_EQ(pop_one(queue).head(), 0);
    EXPECT_FALSE(queue.enable_notifications());
    EXPECT_EQ(q.avail_event(), 0); // untouched without EVENT_IDX
}

TEST(Queue, NotificationsWithEventIdxUseAvailEvent) {
    VirtqueueBuilder q;
    Queue queue = make_queue(q, kEventIdx);
    q.publish(q.add_chain({{8}}));
    q.publish(q.add_chain({{8}}));
    queue.disable_notifications();
    EXPECT_EQ(q.used_flags(), 0); // flags are not used with EVENT_IDX
    (void)pop_one(queue);
    EXPECT_TRUE(queue.enable_notifications()); // one still available
    EXPECT_EQ(q.avail_event(), 1);
    (void)pop_one(queue);
    EXPECT_FALSE(queue.enable_notifications());
    EXPECT_EQ(q.avail_event(), 2);
    queue.set_avail_event(0x1234);
    EXPECT_EQ(q.avail_event(), 0x1234);
}

TEST(Queue, StateRoundTripsThroughCreate) {
    VirtqueueBuilder q;
    q.publish(q.add_chain({{8}}));
    q.publish(q.add_chain({{8}}));
    Queue before = make_queue(q, kEventIdx);
    ASSERT_TRUE(before.add_used(pop_one(before).head(), 8));
    (void)before.needs_interrupt();
    const QueueState saved = before.state();
    EXPECT_EQ(saved, (QueueState{1, 1, 1, true}));
    Queue after = make_queue(q, kEventIdx, saved);
    EXPECT_EQ(after.state(), saved);
    EXPECT_EQ(pop_one(after).head(), 1); // resumes with the second chain
}

} // namespace
} // namespace ember::virtio
