// BootTimer: only a 1-byte 123 at offset 0 is the boot signal, the first one counts (and is
// logged once), and reads return zeros.
#include "vmm/devices/boot_timer.hpp"

#include "vmm/sys/logger.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <ctime>
#include <string>
#include <thread>

namespace ember::devices {
namespace {

uint64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

void write_bytes(BootTimer& t, uint64_t offset, std::initializer_list<uint8_t> bytes) {
    std::vector<std::byte> data;
    for (uint8_t b : bytes)
        data.push_back(std::byte{b});
    t.write(offset, data);
}

// Captures the log lines the device writes (into a pipe) for the test's length.
class BootTimerTest : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(::pipe2(pipe_.data(), O_CLOEXEC | O_NONBLOCK), 0); }
    void TearDown() override {
        log::set_fd(STDERR_FILENO);
        ::close(pipe_[0]);
        ::close(pipe_[1]);
    }
    void capture_log() { log::set_fd(pipe_[1]); }
    std::string drain() {
        std::string out;
        std::array<char, 1024> buf{};
        ssize_t n = 0;
        while ((n = ::read(pipe_[0], buf.data(), buf.size())) > 0)
            out.append(buf.data(), static_cast<size_t>(n));
        return out;
    }
    std::array<int, 2> pipe_{-1, -1};
};

TEST_F(BootTimerTest, NothingBeforeASignalAndOnlyTheMagicByteAtZeroCounts) {
    capture_log();
    BootTimer timer(now_ns());
    EXPECT_FALSE(timer.boot_time().has_value());
    write_bytes(timer, 0, {122});          // wrong value
    write_bytes(timer, 1, {123});          // wrong offset
    write_bytes(timer, 8, {123});          // wrong offset
    write_bytes(timer, 0, {123, 0});       // wrong size
    write_bytes(timer, 0, {123, 0, 0, 0}); // a 32-bit write of 123
    write_bytes(timer, 0, {});             // nothing
    EXPECT_FALSE(timer.boot_time().has_value());
    EXPECT_EQ(drain(), "");
    write_bytes(timer, 0, {123});
    EXPECT_TRUE(timer.boot_time().has_value());
    const std::string line = drain();
    EXPECT_TRUE(line.find("Guest-boot-time = ") != std::string::npos) << line;
    EXPECT_TRUE(line.ends_with("CPU ms\n")) << line;
}

TEST_F(BootTimerTest, TheTimeCountsFromTheStartMark) {
    capture_log();
    const uint64_t start = now_ns() - 50'000'000; // 50 ms ago
    BootTimer timer(start);
    write_bytes(timer, 0, {kBootTimerMagic});
    const uint64_t elapsed_us = (now_ns() - start) / 1000;
    const auto t = timer.boot_time();
    ASSERT_TRUE(t.has_value());
    EXPECT_GE(t->wall_us, 50'000U);
    EXPECT_LE(t->wall_us, elapsed_us);
    EXPECT_GT(t->cpu_us, 0U); // this process has run for a while
    // The line shows the same figures.
    const std::string line = drain();
    EXPECT_NE(
        line.find(fmt::format("Guest-boot-time = {:>6} us {} ms", t->wall_us, t->wall_us / 1000)),
        std::string::npos)
        << line;
}

TEST_F(BootTimerTest, TheFirstSignalWinsAndIsLoggedOnce) {
    capture_log();
    BootTimer timer(now_ns());
    write_bytes(timer, 0, {123});
    const auto first = timer.boot_time();
    ASSERT_TRUE(first.has_value());
    const std::string line = drain();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    for (int i = 0; i < 10; ++i)
        write_bytes(timer, 0, {123});
    const auto later = timer.boot_time();
    ASSERT_TRUE(later.has_value());
    EXPECT_EQ(later->wall_us, first->wall_us);
    EXPECT_EQ(later->cpu_us, first->cpu_us);
    EXPECT_EQ(drain(), ""); // no more lines
    EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1) << line;
}

TEST_F(BootTimerTest, AStartMarkInTheFutureCountsAsZero) {
    capture_log();
    BootTimer timer(now_ns() + 60'000'000'000ULL);
    write_bytes(timer, 0, {123});
    ASSERT_TRUE(timer.boot_time().has_value());
    EXPECT_EQ(timer.boot_time()->wall_us, 0U);
}

TEST_F(BootTimerTest, ReadsReturnZeros) {
    BootTimer timer(now_ns());
    for (uint64_t offset : {0U, 1U, 4U, 0xff8U}) {
        for (size_t size : {1U, 2U, 4U, 8U}) {
            std::vector<std::byte> data(size, std::byte{0xa5});
            timer.read(offset, data);
            for (std::byte b : data)
                EXPECT_EQ(std::to_integer<int>(b), 0) << offset << "/" << size;
        }
    }
    // Also after a signal.
    capture_log();
    write_bytes(timer, 0, {123});
    std::array<std::byte, 1> one{std::byte{0xff}};
    timer.read(0, one);
    EXPECT_EQ(std::to_integer<int>(one[0]), 0);
}

} // namespace
} // namespace ember::devices
