// ActionChannel: call() on API threads, serve() on a "VMM thread" (here the test or a helper
// thread polling fd()), close() answering waiting and later calls with 503 at once.
#include "api/action_channel.hpp"

#include "tests/unit/api/api_test_util.hpp"

#include <gtest/gtest.h>

#include <poll.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace ember::api {
namespace {

using http::Status;
using testing::fault_of;

constexpr int kWaitMs = 10'000; // generous: only a hang takes this long

std::unique_ptr<ActionChannel> make_channel() {
    auto channel = ActionChannel::create();
    EXPECT_TRUE(channel) << channel.error().describe();
    return channel ? std::move(*channel) : nullptr;
}

bool readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

// An action that carries a number, and the response that echoes it back.
VmmAction numbered(size_t n) {
    return action::PutDrive{std::to_string(n), {}};
}

VmmResponse echo(const VmmAction& a) {
    const auto* drive = std::get_if<action::PutDrive>(&a);
    return http::Response::json(Status::kOk, drive ? "served " + drive->id
                                                   : "served " + std::string(action_name(a)));
}

// Serves the channel on its own thread until stopped (the VMM thread's loop, reduced).
class Server {
public:
    explicit Server(ActionChannel& channel)
        : thread_([this, &channel] {
              while (!stop_.load()) {
                  if (readable(channel.fd(), 20))
                      channel.serve([this](const VmmAction& a) {
                          served_.fetch_add(1);
                          return echo(a);
                      });
              }
          }) {}
    ~Server() {
        stop_.store(true);
        thread_.join();
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    Server(Server&&) = delete;
    Server& operator=(Server&&) = delete;

    [[nodiscard]] size_t served() const { return served_.load(); }

private:
    std::atomic<bool> stop_{false};
    std::atomic<size_t> served_{0};
    std::thread thread_;
};

TEST(ActionChannel, CallBlocksUntilServedAndTheHandlerRunsOnTheServingThread) {
    auto channel = make_channel();
    ASSERT_TRUE(channel);
    std::atomic<bool> returned{false};
    VmmResponse response;
    std::thread api([&] {
        response = channel->call(action::GetVmConfig{});
        returned.store(true);
    });
    ASSERT_TRUE(readable(channel->fd(), kWaitMs)) << "call() did not signal the eventfd";
    // Queued but not served: the API side is still waiting.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_FALSE(returned.load());

    std::thread::id handler_thread;
    int calls = 0;
    channel->serve([&](const VmmAction& a) {
        handler_thread = std::this_thread::get_id();
        ++calls;
        EXPECT_TRUE(std::holds_alternative<action::GetVmConfig>(a));
        return http::Response::json(Status::kOk, R"({"served": true})");
    });
    api.join();
    EXPECT_TRUE(returned.load());
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(handler_thread, std::this_thread::get_id());
    EXPECT_EQ(response.status, Status::kOk);
    EXPECT_EQ(response.body, R"({"served": true})");
}

TEST(ActionChannel, ServeWithNothingQueuedCallsNoHandler) {
    auto channel = make_channel();
    ASSERT_TRUE(channel);
    int calls = 0;
    channel->serve([&](const VmmAction&) {
        ++calls;
        return http::Response::no_content();
    });
    EXPECT_EQ(calls, 0);
}

TEST(ActionChannel, TheEventFdIsReadableExactlyWhenActionsWait) {
    auto channel = make_channel();
    ASSERT_TRUE(channel);
    EXPECT_FALSE(readable(channel->fd(), 0));
    for (int round = 0; round < 3; ++round) {
        SCOPED_TRACE(round);
        std::thread api([&] { (void)channel->call(action::GetInstanceInfo{}); });
        ASSERT_TRUE(readable(channel->fd(), kWaitMs));
        channel->serve(echo);
        api.join();
        EXPECT_FALSE(readable(channel->fd(), 0)) << "readable with nothing queued";
    }
}

TEST(ActionChannel, ManySequentialCallsEachGetTheirOwnAnswer) {
    auto channel = make_channel();
    ASSERT_TRUE(channel);
    constexpr size_t kCalls = 1000;
    {
        Server server(*channel);
        for (size_t i = 0; i < kCalls; ++i) {
            const VmmResponse r = channel->call(numbered(i));
            ASSERT_EQ(r.status, Status::kOk);
            ASSERT_EQ(r.body, "served " + std::to_string(i));
        }
        EXPECT_EQ(server.served(), kCalls);
    }
}

TEST(ActionChannel, SeveralThreadsCallingAtOnceEachGetTheirOwnAnswer) {
    auto channel = make_channel();
    ASSERT_TRUE(channel);
    constexpr size_t kThreads = 8;
    constexpr size_t kCallsEach = 200;
    std::atomic<size_t> wrong{0};
    {
        Server server(*channel);
        std::vector<std::thread> threads;
        for (size_t t = 0; t < kThreads; ++t)
            threads.emplace_back([&, t] {
                for (size_t i = 0; i < kCallsEach; ++i) {
                    const size_t n = t * kCallsEach + i;
                    const VmmResponse r = channel->call(numbered(n));
                    if (r.status != Status::kOk || r.body != "served " + std::to_string(n))
                        wrong.fetch_add(1);
                }
            });
        for (auto& t : threads)
            t.join();
        EXPECT_EQ(server.served(), kThreads * kCallsEach);
    }
    EXPECT_EQ(wrong.load(), 0U);
}

TEST(ActionChannel, CloseAnswersQueuedCallsWith503AndLaterCallsAtOnce) {
    auto channel = make_channel();
    ASSERT_TRUE(channel);
    constexpr size_t kWaiting = 3;
    std::vector<VmmResponse> responses(kWaiting);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < kWaiting; ++i)
        threads.emplace_back([&, i] { responses[i] = channel->call(numbered(i)); });
    // Each call() signals the eventfd once: count until all three are queued.
    uint64_t queued = 0;
    while (queued < kWaiting) {
        ASSERT_TRUE(readable(channel->fd(), kWaitMs)) << "only " << queued << " calls queued";
        uint64_t n = 0;
        ASSERT_EQ(::read(channel->fd(), &n, sizeof n), static_cast<ssize_t>(sizeof n));
        queued += n;
    }
    channel->close();
    for (auto& t : threads)
        t.join();
    for (const VmmResponse& r : responses) {
        EXPECT_EQ(r.status, Status::kServiceUnavailable);
        EXPECT_EQ(fault_of(r), "the VMM is shutting down: the microVM has stopped");
    }
    // Later calls are answered at once, from this thread, without a server.
    const VmmResponse later = channel->call(action::GetInstanceInfo{});
    EXPECT_EQ(later.status, Status::kServiceUnavailable);
    EXPECT_EQ(fault_of(later), "the VMM is shutting down: the microVM has stopped");
    // Nothing is left for a VMM thread to serve.
    int calls = 0;
    channel->serve([&](const VmmAction&) {
        ++calls;
        return http::Response::no_content();
    });
    EXPECT_EQ(calls, 0);
    channel->close(); // idempotent
}

TEST(ActionChannel, DestroyingTheChannelAfterServingIsClean) {
    auto channel = make_channel();
    ASSERT_TRUE(channel);
    {
        Server server(*channel);
        EXPECT_EQ(channel->call(action::GetMachineConfig{}).body, "served GetMachineConfig");
    }
    channel.reset(); // the destructor closes an empty queue
}

} // namespace
} // namespace ember::api
