#include "vmm/core/guest_memory.hpp"

#include "vmm/core/layout.hpp"

#include <gtest/gtest.h>

#include <array>
#include <limits>

namespace ember {
namespace {

using layout::kMiB;

GuestMemory make(std::initializer_list<GuestRegion> regions) {
    auto m = GuestMemory::create(std::vector<GuestRegion>(regions));
    EXPECT_TRUE(m.has_value()) << m.error().describe();
    return std::move(*m);
}

TEST(GuestMemory, X86RegionsSplitAroundTheMmioGap) {
    auto small = GuestMemory::x86_regions(128 * kMiB);
    ASSERT_EQ(small.size(), 1U);
    EXPECT_EQ(small[0].start, 0U);
    EXPECT_EQ(small[0].size, 128 * kMiB);

    auto big = GuestMemory::x86_regions(5 * layout::kGiB);
    ASSERT_EQ(big.size(), 2U);
    EXPECT_EQ(big[0].size, layout::kMmioGapStart);
    EXPECT_EQ(big[1].start, layout::kMmioGapEnd);
    EXPECT_EQ(big[1].size, 5 * layout::kGiB - layout::kMmioGapStart);
}

TEST(GuestMemory, RefusesBadRegions) {
    std::array unaligned{GuestRegion{0x10, 0x1000}};
    EXPECT_FALSE(GuestMemory::create(unaligned).has_value());
    std::array empty{GuestRegion{0, 0}};
    EXPECT_FALSE(GuestMemory::create(empty).has_value());
    std::array overlapping{GuestRegion{0, 0x2000}, GuestRegion{0x1000, 0x1000}};
    auto r = GuestMemory::create(overlapping);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message().find("overlaps"), std::string::npos);
    EXPECT_FALSE(GuestMemory::create(std::span<const GuestRegion>{}).has_value());
}

TEST(GuestMemory, RoundTripsObjectsAtRegionEdges) {
    auto mem = make({{0, 0x2000}, {0x10000, 0x1000}});
    ASSERT_TRUE(mem.write_obj<uint32_t>(0x1ffc, 0xdeadbeef).has_value());
    EXPECT_EQ(mem.read_obj<uint32_t>(0x1ffc).value(), 0xdeadbeefU);
    ASSERT_TRUE(mem.write_obj<uint64_t>(0x10000, 42).has_value());
    EXPECT_EQ(mem.read_obj<uint64_t>(0x10000).value(), 42U);
    EXPECT_EQ(mem.total_size(), 0x3000U);
}

TEST(GuestMemory, RefusesAccessesThatLeaveARegion) {
    auto mem = make({{0, 0x2000}, {0x3000, 0x1000}});
    // Past the end of the first region, in the hole, straddling two regions, past the last.
    EXPECT_FALSE(mem.read_obj<uint32_t>(0x1ffd).has_value());
    EXPECT_FALSE(mem.read_obj<uint8_t>(0x2000).has_value());
    EXPECT_FALSE(mem.span(0x1000, 0x3000).has_value());
    EXPECT_FALSE(mem.read_obj<uint8_t>(0x4000).has_value());
    auto err = mem.span(0x2800, 1);
    ASSERT_FALSE(err.has_value());
    EXPECT_NE(err.error().message().find("0x2800"), std::string::npos);
}

TEST(GuestMemory, LengthsThatOverflowTheAddressSpaceAreRefused) {
    auto mem = make({{0, 0x1000}});
    EXPECT_FALSE(mem.span(0x10, std::numeric_limits<uint64_t>::max()).has_value());
    EXPECT_FALSE(mem.contains(0x10, std::numeric_limits<uint64_t>::max()));
    EXPECT_FALSE(mem.span(std::numeric_limits<uint64_t>::max(), 2).has_value());
    EXPECT_TRUE(mem.contains(0xfff, 1));
    EXPECT_FALSE(mem.contains(0xfff, 2));
    EXPECT_TRUE(mem.span(0x1000 - 4, 4).has_value());
}

TEST(GuestMemory, FreshMemoryReadsZero) {
    auto mem = make({{0, 0x1000}});
    EXPECT_EQ(mem.read_obj<uint64_t>(0x800).value(), 0U);
}

} // namespace
} // namespace ember
