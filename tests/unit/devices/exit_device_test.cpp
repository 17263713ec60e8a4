#include "vmm/devices/exit_device.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace ember::devices {
namespace {

class ExitDeviceTest : public ::testing::Test {
protected:
    template <size_t N> void wr(uint64_t offset, const std::array<uint8_t, N>& bytes) {
        std::array<std::byte, N> data{};
        for (size_t i = 0; i < N; ++i)
            data[i] = std::byte{bytes[i]};
        dev_.write(offset, data);
    }

    std::vector<GuestExit> exits_;
    ExitDevice dev_{[this](GuestExit e) { exits_.push_back(std::move(e)); }};
};

TEST_F(ExitDeviceTest, ByteWriteOfZeroIsSuccess) {
    wr<1>(0, {0x00});
    ASSERT_EQ(exits_.size(), 1U);
    EXPECT_EQ(exits_[0].kind, GuestExit::Kind::kStatus);
    EXPECT_EQ(exits_[0].status, 0);
    EXPECT_EQ(exits_[0].detail, "guest exited with status 0");
}

TEST_F(ExitDeviceTest, ByteWriteGivesItsStatus) {
    wr<1>(0, {0x2a});
    ASSERT_EQ(exits_.size(), 1U);
    EXPECT_EQ(exits_[0].status, 42);
    EXPECT_EQ(exits_[0].detail, "guest exited with status 42");
}

TEST_F(ExitDeviceTest, WordWriteKeepsTheLowByteAndReportsTheWholeValue) {
    wr<2>(0, {0x02, 0x01}); // 0x0102, little-endian
    ASSERT_EQ(exits_.size(), 1U);
    EXPECT_EQ(exits_[0].kind, GuestExit::Kind::kStatus);
    EXPECT_EQ(exits_[0].status, 2);
    EXPECT_EQ(exits_[0].detail,
              "guest exited with status 258 (process exit status 2: its low byte)");
}

TEST_F(ExitDeviceTest, DwordWriteKeepsTheLowByte) {
    wr<4>(0, {0x01, 0xbe, 0xad, 0xde}); // 0xdeadbe01
    ASSERT_EQ(exits_.size(), 1U);
    EXPECT_EQ(exits_[0].status, 1);
    EXPECT_EQ(exits_[0].detail,
              "guest exited with status 3735928321 (process exit status 1: its low byte)");
}

TEST_F(ExitDeviceTest, ByteWriteAtAnotherPortOfTheRangeCounts) {
    wr<1>(3, {0x07});
    ASSERT_EQ(exits_.size(), 1U);
    EXPECT_EQ(exits_[0].status, 7);
}

TEST_F(ExitDeviceTest, EveryWriteIsReported) {
    // The Vmm keeps the first report; the device does not filter.
    wr<1>(0, {0x03});
    wr<1>(0, {0x04});
    ASSERT_EQ(exits_.size(), 2U);
    EXPECT_EQ(exits_[0].status, 3);
    EXPECT_EQ(exits_[1].status, 4);
}

TEST_F(ExitDeviceTest, OtherWidthsAreIgnoredAndCounted) {
    wr<3>(0, {0x01, 0x02, 0x03});
    wr<8>(0, {1, 2, 3, 4, 5, 6, 7, 8});
    EXPECT_TRUE(exits_.empty());
    EXPECT_EQ(dev_.bad_accesses(), 2U);
}

TEST_F(ExitDeviceTest, ReadsReturnZeroAtEveryWidth) {
    std::array<std::byte, 1> b{std::byte{0xff}};
    dev_.read(0, b);
    EXPECT_EQ(b[0], std::byte{0});
    std::array<std::byte, 2> w{std::byte{0xff}, std::byte{0xff}};
    dev_.read(0, w);
    EXPECT_EQ(w, (std::array<std::byte, 2>{}));
    std::array<std::byte, 4> d{std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff}};
    dev_.read(0, d);
    EXPECT_EQ(d, (std::array<std::byte, 4>{}));
    EXPECT_TRUE(exits_.empty());
}

TEST(ExitDeviceNoReporter, WriteWithoutAReporterIsHarmless) {
    ExitDevice dev{ExitReporter{}};
    const std::array<std::byte, 1> status{std::byte{1}};
    dev.write(0, status);
    EXPECT_EQ(dev.bad_accesses(), 0U);
}

} // namespace
} // namespace ember::devices
