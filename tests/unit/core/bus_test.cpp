#include "vmm/core/bus.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ember {
namespace {

class Recorder final : public BusDevice {
public:
    struct Access {
        bool write;
        uint64_t offset;
        size_t size;
        uint8_t first;
    };
    void read(uint64_t offset, std::span<std::byte> data) override {
        accesses.push_back({false, offset, data.size(), 0});
        for (auto& b : data)
            b = std::byte{0x5a};
    }
    void write(uint64_t offset, std::span<const std::byte> data) override {
        accesses.push_back({true, offset, data.size(), std::to_integer<uint8_t>(data[0])});
    }
    std::vector<Access> accesses;
};

TEST(Bus, DispatchesWithOffsetsRelativeToTheBase) {
    Bus bus("PIO");
    auto dev = std::make_shared<Recorder>();
    ASSERT_TRUE(bus.insert(dev, 0x3f8, 8, "uart").has_value());
    std::array<std::byte, 1> v{std::byte{0x41}};
    EXPECT_TRUE(bus.write(0x3f8, v));
    EXPECT_TRUE(bus.read(0x3fd, v));
    EXPECT_EQ(v[0], std::byte{0x5a});
    ASSERT_EQ(dev->accesses.size(), 2U);
    EXPECT_TRUE(dev->accesses[0].write);
    EXPECT_EQ(dev->accesses[0].offset, 0U);
    EXPECT_EQ(dev->accesses[0].first, 0x41);
    EXPECT_EQ(dev->accesses[1].offset, 5U);
}

TEST(Bus, UnclaimedAndStraddlingAccessesAreNotDispatched) {
    Bus bus("MMIO");
    auto dev = std::make_shared<Recorder>();
    ASSERT_TRUE(bus.insert(dev, 0x1000, 0x10, "dev").has_value());
    std::array<std::byte, 4> v{};
    EXPECT_FALSE(bus.read(0xfff, std::span(v).first(1)));
    EXPECT_FALSE(bus.read(0x1010, std::span(v).first(1)));
    EXPECT_FALSE(bus.read(0x100e, v)); // runs past the end
    EXPECT_FALSE(bus.read(0xffe, v));  // starts before the base
    EXPECT_TRUE(bus.read(0x100c, v));
    EXPECT_EQ(dev->accesses.size(), 1U);
}

TEST(Bus, RefusesOverlapsAndNamesBothDevices) {
    Bus bus("PIO");
    auto a = std::make_shared<Recorder>();
    ASSERT_TRUE(bus.insert(a, 0x60, 1, "i8042 data").has_value());
    ASSERT_TRUE(bus.insert(a, 0x64, 1, "i8042 cmd").has_value());
    auto r = bus.insert(a, 0x5f, 2, "intruder");
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("intruder"), std::string::npos);
    EXPECT_NE(r.error().message().find("i8042 data"), std::string::npos);
    EXPECT_FALSE(bus.insert(a, 0x64, 1, "again").has_value());
    EXPECT_FALSE(bus.insert(a, 0x0, 0, "empty").has_value());
    EXPECT_FALSE(bus.insert(a, ~0ULL - 1, 4, "wraps").has_value());
    EXPECT_TRUE(bus.insert(a, 0x61, 3, "between").has_value()); // exactly fills the gap
    EXPECT_EQ(bus.size(), 3U);
}

TEST(Bus, StringWritesReplayPerAccessByDefault) {
    Bus bus("PIO");
    auto dev = std::make_shared<Recorder>();
    ASSERT_TRUE(bus.insert(dev, 0x80, 4, "dev").has_value());
    std::array<std::byte, 6> data{std::byte{1}, std::byte{2}, std::byte{3},
                                  std::byte{4}, std::byte{5}, std::byte{6}};
    EXPECT_TRUE(bus.write_string(0x80, data, 2));
    ASSERT_EQ(dev->accesses.size(), 3U);
    EXPECT_EQ(dev->accesses[2].first, 5);
    EXPECT_EQ(dev->accesses[2].size, 2U);
}

} // namespace
} // namespace ember
