#include "vmm/core/kvm_abi.hpp"

#include <gtest/gtest.h>

#include <array>

namespace ember::kvm_abi {
namespace {

uint32_t u32_at(const std::vector<std::byte>& buf, size_t off) {
    uint32_t v = 0;
    std::memcpy(&v, buf.data() + off, sizeof v);
    return v;
}

kvm_cpuid_entry2 entry(uint32_t function, uint32_t eax) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.eax = eax;
    return e;
}

// The layout C gives struct kvm_cpuid2: nent at 0, entries from offset 8 (C++'s sizeof is 12; an
// offset taken from it shifts every field by 4 bytes and the guest sees garbage CPUID).
TEST(KvmAbi, PackedCpuidPutsTheEntriesAtOffsetEight) {
    const std::array<kvm_cpuid_entry2, 2> entries{entry(0, 0xd), entry(1, 0x800f12)};
    const auto buf = pack_cpuid2(entries, 2);
    ASSERT_EQ(buf.size(), 8 + 2 * sizeof(kvm_cpuid_entry2));
    EXPECT_EQ(u32_at(buf, 0), 2U);                            // nent
    EXPECT_EQ(u32_at(buf, 8), 0U);                            // entries[0].function
    EXPECT_EQ(u32_at(buf, 8 + 12), 0xdU);                     // entries[0].eax
    EXPECT_EQ(u32_at(buf, 8 + sizeof(kvm_cpuid_entry2)), 1U); // entries[1].function
    EXPECT_EQ(u32_at(buf, 8 + sizeof(kvm_cpuid_entry2) + 12), 0x800f12U);
}

TEST(KvmAbi, PackReservesCapacityForKvmToFill) {
    const auto buf = pack_cpuid2({}, 256);
    EXPECT_EQ(u32_at(buf, 0), 256U);
    EXPECT_EQ(buf.size(), 8 + 256 * sizeof(kvm_cpuid_entry2));
}

TEST(KvmAbi, UnpackReadsNentEntriesAndNoMore) {
    const std::array<kvm_cpuid_entry2, 3> entries{entry(0, 1), entry(1, 2), entry(7, 3)};
    auto buf = pack_cpuid2(entries, 8);
    const uint32_t nent = 3; // what KVM writes back after filling the buffer
    std::memcpy(buf.data(), &nent, sizeof nent);
    const auto out = unpack_cpuid2(buf);
    ASSERT_EQ(out.size(), 3U);
    EXPECT_EQ(out[2].function, 7U);
    EXPECT_EQ(out[2].eax, 3U);
    // A header claiming more entries than the buffer holds is cut to what fits.
    const uint32_t lie = 1000;
    std::memcpy(buf.data(), &lie, sizeof lie);
    EXPECT_EQ(unpack_cpuid2(buf).size(), 8U);
    EXPECT_TRUE(unpack_cpuid2(std::span(buf).first(4)).empty());
}

} // namespace
} // namespace ember::kvm_abi
