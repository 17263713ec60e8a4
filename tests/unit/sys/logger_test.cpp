// Logger: the line format (level, origin), the level filter, and RateLimitedLog's token bucket.
// Lines go to a pipe; every test puts the logger's global settings back.
#include "vmm/sys/logger.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string>
#include <thread>

namespace ember::log {
namespace {

class LoggerTest : public ::testing::Test {
protected:
    void SetUp() override {
        level_ = level();
        show_level_ = show_level();
        show_origin_ = show_origin();
        ASSERT_EQ(::pipe2(pipe_.data(), O_CLOEXEC | O_NONBLOCK), 0);
        set_fd(pipe_[1]);
        set_level(Level::kWarn);
        set_show_level(true);
        set_show_origin(false);
    }
    void TearDown() override {
        set_fd(STDERR_FILENO);
        set_level(level_);
        set_show_level(show_level_);
        set_show_origin(show_origin_);
        ::close(pipe_[0]);
        ::close(pipe_[1]);
    }
    // Everything written since the last call.
    std::string drain() {
        std::string out;
        std::array<char, 4096> buf{};
        ssize_t n = 0;
        while ((n = ::read(pipe_[0], buf.data(), buf.size())) > 0)
            out.append(buf.data(), static_cast<size_t>(n));
        return out;
    }

    std::array<int, 2> pipe_{-1, -1};
    Level level_ = Level::kWarn;
    bool show_level_ = true;
    bool show_origin_ = false;
};

TEST_F(LoggerTest, LinesCarryTheLevelUnlessShowLevelIsOff) {
    warn("disk {} is slow", "rootfs");
    error("boom");
    EXPECT_EQ(drain(), "ember: warn: disk rootfs is slow\nember: error: boom\n");
    set_show_level(false);
    warn("disk {} is slow", "rootfs");
    error("boom");
    EXPECT_EQ(drain(), "ember: disk rootfs is slow\nember: boom\n");
}

TEST_F(LoggerTest, TheLevelFilters) {
    info("not at warn");
    debug("not at warn");
    EXPECT_EQ(drain(), "");
    set_level(Level::kDebug);
    info("i");
    debug("d");
    EXPECT_EQ(drain(), "ember: info: i\nember: debug: d\n");
    set_level(Level::kError);
    warn("w");
    error("e"); // always
    EXPECT_EQ(drain(), "ember: error: e\n");
}

TEST_F(LoggerTest, ShowOriginAddsTheCallersFileAndLine) {
    set_show_origin(true);
    warn("here {}", 1);
    const int line = __LINE__ - 1;
    EXPECT_EQ(drain(), "ember: warn: [logger_test.cpp:" + std::to_string(line) + "] here 1\n");
    set_show_level(false);
    error("there");
    const int line2 = __LINE__ - 1;
    EXPECT_EQ(drain(), "ember: [logger_test.cpp:" + std::to_string(line2) + "] there\n");
    // write_line() called directly takes its caller's location too.
    write_line(Level::kInfo, "direct");
    const int line3 = __LINE__ - 1;
    EXPECT_EQ(drain(), "ember: [logger_test.cpp:" + std::to_string(line3) + "] direct\n");
}

TEST_F(LoggerTest, RateLimitedLogAdmitsABurstThenReportsWhatItSuppressed) {
    // Short, but long enough that the eight calls below all fall inside one period.
    constexpr uint64_t kPeriodNs = 50'000'000; // 50 ms
    RateLimitedLog limited(3, kPeriodNs);
    const uint64_t suppressed_before = suppressed_lines();
    for (int i = 0; i < 8; ++i)
        limited.warn("bad descriptor {}", i);
    EXPECT_EQ(drain(), "ember: warn: bad descriptor 0\nember: warn: bad descriptor 1\n"
                       "ember: warn: bad descriptor 2\n");
    EXPECT_EQ(suppressed_lines() - suppressed_before, 5U);

    std::this_thread::sleep_for(std::chrono::milliseconds(80)); // the period passes
    limited.warn("bad descriptor {}", 8);
    EXPECT_EQ(drain(), "ember: warn: bad descriptor 8 (5 similar lines suppressed)\n");
    // The count was reported once; the bucket was full again, so the next lines pass plainly.
    limited.warn("bad descriptor {}", 9);
    EXPECT_EQ(drain(), "ember: warn: bad descriptor 9\n");
    EXPECT_EQ(suppressed_lines() - suppressed_before, 5U);
}

TEST_F(LoggerTest, RateLimitedLogBelowWarnNeitherWritesNorCounts) {
    RateLimitedLog limited(1, 1'000'000'000);
    set_level(Level::kError);
    const uint64_t suppressed_before = suppressed_lines();
    for (int i = 0; i < 5; ++i)
        limited.warn("quiet {}", i);
    EXPECT_EQ(drain(), "");
    EXPECT_EQ(suppressed_lines(), suppressed_before);
    // Tokens were not spent either: at warn the first line passes.
    set_level(Level::kWarn);
    limited.warn("loud");
    limited.warn("dropped");
    EXPECT_EQ(drain(), "ember: warn: loud\n");
    EXPECT_EQ(suppressed_lines() - suppressed_before, 1U);
}

TEST_F(LoggerTest, SettersAndGettersAgree) {
    set_level(Level::kInfo);
    EXPECT_EQ(level(), Level::kInfo);
    set_show_level(false);
    EXPECT_FALSE(show_level());
    set_show_origin(true);
    EXPECT_TRUE(show_origin());
}

} // namespace
} // namespace ember::log
