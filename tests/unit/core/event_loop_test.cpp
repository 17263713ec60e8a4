#include "vmm/core/event_loop.hpp"

#include "vmm/sys/event_fd.hpp"

#include <gtest/gtest.h>

namespace ember {
namespace {

TEST(EventLoop, RunsTheHandlerOfAReadyFd) {
    auto loop = EventLoop::create().value();
    auto ev = EventFd::create().value();
    uint64_t seen = 0;
    ASSERT_TRUE(loop.add(ev.fd(), EPOLLIN, [&](uint32_t) { seen += ev.consume(); }).has_value());
    EXPECT_EQ(loop.run_once(0).value(), 0);
    ev.signal(3);
    EXPECT_EQ(loop.run_once(100).value(), 1);
    EXPECT_EQ(seen, 3U);
}

TEST(EventLoop, RefusesADuplicateFdAndIgnoresUnknownRemoval) {
    auto loop = EventLoop::create().value();
    auto ev = EventFd::create().value();
    ASSERT_TRUE(loop.add(ev.fd(), EPOLLIN, [](uint32_t) {}).has_value());
    EXPECT_FALSE(loop.add(ev.fd(), EPOLLIN, [](uint32_t) {}).has_value());
    loop.remove(12345);
    EXPECT_EQ(loop.watched(), 1U);
    EXPECT_FALSE(loop.modify(12345, EPOLLIN).has_value());
}

TEST(EventLoop, AHandlerRemovedEarlierInABatchDoesNotRun) {
    auto loop = EventLoop::create().value();
    auto a = EventFd::create().value();
    auto b = EventFd::create().value();
    int ran_a = 0;
    int ran_b = 0;
    // Whichever runs first removes the other.
    ASSERT_TRUE(loop.add(a.fd(), EPOLLIN,
                         [&](uint32_t) {
                             ++ran_a;
                             loop.remove(b.fd());
                             a.consume();
                         })
                    .has_value());
    ASSERT_TRUE(loop.add(b.fd(), EPOLLIN,
                         [&](uint32_t) {
                             ++ran_b;
                             loop.remove(a.fd());
                             b.consume();
                         })
                    .has_value());
    a.signal();
    b.signal();
    EXPECT_EQ(loop.run_once(100).value(), 1);
    EXPECT_EQ(ran_a + ran_b, 1);
}

TEST(EventLoop, ModifyCanSilenceAndRestoreAnFd) {
    auto loop = EventLoop::create().value();
    auto ev = EventFd::create().value();
    int ran = 0;
    ASSERT_TRUE(loop.add(ev.fd(), EPOLLIN, [&](uint32_t) { ++ran; }).has_value());
    ev.signal();
    ASSERT_TRUE(loop.modify(ev.fd(), 0).has_value());
    EXPECT_EQ(loop.run_once(0).value(), 0);
    ASSERT_TRUE(loop.modify(ev.fd(), EPOLLIN).has_value());
    EXPECT_EQ(loop.run_once(0).value(), 1);
    EXPECT_EQ(ran, 1);
}

TEST(EventLoop, RunReturnsAfterStop) {
    auto loop = EventLoop::create().value();
    auto ev = EventFd::create().value();
    ASSERT_TRUE(loop.add(ev.fd(), EPOLLIN, [&](uint32_t) { loop.stop(); }).has_value());
    ev.signal();
    EXPECT_TRUE(loop.run().has_value());
    EXPECT_TRUE(loop.stopped());
}

} // namespace
} // namespace ember
