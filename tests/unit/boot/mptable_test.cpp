#include "boot/x86_64/mptable.hpp"

#include "tests/unit/boot/test_memory.hpp"

#include "boot/acpi/platform.hpp"
#include "vmm/core/layout.hpp"

#include "tests/unit/boot/table_bytes.hpp"
#include <gmock/gmock.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace ember::boot {
namespace {

using Bytes = std::vector<std::byte>;
using ::testing::HasSubstr;

using testing::byte_sum;
using testing::read_at;
using testing::str;

void expect_interrupt(const Bytes& t, size_t off, uint8_t type, uint8_t irq_type, uint8_t irq,
                      uint8_t dest, uint8_t pin) {
    EXPECT_EQ(read_at<uint8_t>(t, off), type) << off;
    EXPECT_EQ(read_at<uint8_t>(t, off + 1), irq_type) << off;
    EXPECT_EQ(read_at<uint16_t>(t, off + 2), 0U) << off;
    EXPECT_EQ(read_at<uint8_t>(t, off + 4), 0) << off; // ISA bus
    EXPECT_EQ(read_at<uint8_t>(t, off + 5), irq) << off;
    EXPECT_EQ(read_at<uint8_t>(t, off + 6), dest) << off;
    EXPECT_EQ(read_at<uint8_t>(t, off + 7), pin) << off;
}

// Checks the whole structure as a guest would read it from kMpTableAddr.
void expect_table(const Bytes& all, uint32_t vcpus, const std::vector<uint8_t>& pins) {
    SCOPED_TRACE(vcpus);
    ASSERT_GE(all.size(), 16U + 44U);
    const Bytes fp(all.begin(), all.begin() + 16);
    EXPECT_EQ(str(fp, 0, 4), "_MP_");
    EXPECT_EQ(read_at<uint32_t>(fp, 4), kMpTableAddr + 16);
    EXPECT_EQ(read_at<uint8_t>(fp, 8), 1);
    EXPECT_EQ(read_at<uint8_t>(fp, 9), 4);
    EXPECT_EQ(byte_sum(fp), 0U) << "floating pointer checksum";
    for (size_t i = 11; i < 16; ++i)
        EXPECT_EQ(read_at<uint8_t>(fp, i), 0) << i;

    const Bytes t(all.begin() + 16, all.end());
    const size_t entries = vcpus + 2 + pins.size() + 2;
    const size_t length = 44 + 20 * vcpus + 8 + 8 + 8 * pins.size() + 16;
    ASSERT_EQ(t.size(), length);
    EXPECT_EQ(str(t, 0, 4), "PCMP");
    EXPECT_EQ(read_at<uint16_t>(t, 4), length);
    EXPECT_EQ(read_at<uint8_t>(t, 6), 4);
    EXPECT_EQ(byte_sum(t), 0U) << "configuration table checksum";
    EXPECT_EQ(str(t, 8, 8), "EMBER   ");
    EXPECT_EQ(str(t, 16, 12), "EMBERVM     ");
    EXPECT_EQ(read_at<uint32_t>(t, 28), 0U);
    EXPECT_EQ(read_at<uint16_t>(t, 32), 0U);
    EXPECT_EQ(read_at<uint16_t>(t, 34), entries);
    EXPECT_EQ(read_at<uint32_t>(t, 36), 0xFEE0'0000U);
    EXPECT_EQ(read_at<uint16_t>(t, 40), 0U);
    EXPECT_EQ(read_at<uint8_t>(t, 42), 0);

    size_t off = 44;
    for (uint32_t i = 0; i < vcpus; ++i, off += 20) {
        EXPECT_EQ(read_at<uint8_t>(t, off), 0);
        EXPECT_EQ(read_at<uint8_t>(t, off + 1), i);
        EXPECT_EQ(read_at<uint8_t>(t, off + 2), 0x14);
        EXPECT_EQ(read_at<uint8_t>(t, off + 3), i == 0 ? 3 : 1); // EN, and BP on vCPU 0
        EXPECT_EQ(read_at<uint32_t>(t, off + 4), 0x600U);
        EXPECT_EQ(read_at<uint32_t>(t, off + 8), 0x201U);
        EXPECT_EQ(read_at<uint64_t>(t, off + 12), 0U);
    }
    EXPECT_EQ(read_at<uint8_t>(t, off), 1); // bus
    EXPECT_EQ(read_at<uint8_t>(t, off + 1), 0);
    EXPECT_EQ(str(t, off + 2, 6), "ISA   ");
    off += 8;
    const auto ioapic = static_cast<uint8_t>(vcpus);
    EXPECT_EQ(read_at<uint8_t>(t, off), 2);
    EXPECT_EQ(read_at<uint8_t>(t, off + 1), ioapic);
    EXPECT_EQ(read_at<uint8_t>(t, off + 2), 0x11);
    EXPECT_EQ(read_at<uint8_t>(t, off + 3), 1);
    EXPECT_EQ(read_at<uint32_t>(t, off + 4), 0xFEC0'0000U);
    off += 8;
    for (uint8_t pin : pins) {
        expect_interrupt(t, off, 3, 0, pin, ioapic, pin);
        off += 8;
    }
    expect_interrupt(t, off, 4, 3, 0, 0, 0);        // ExtINT -> BSP LINT0
    expect_interrupt(t, off + 8, 4, 1, 0, 0xFF, 1); // NMI -> every LINT1
}

std::vector<uint8_t> isa_pins() {
    std::vector<uint8_t> pins;
    for (uint8_t i = 0; i < 16; ++i)
        pins.push_back(i);
    return pins;
}

Bytes written(const GuestMemory& memory, size_t len) {
    Bytes out(len);
    EXPECT_TRUE(memory.read(kMpTableAddr, out));
    return out;
}

TEST(MpTableTest, OneVcpu) {
    const GuestMemory memory = make_memory(64 * layout::kMiB);
    auto addr = write_mptable(memory, MpTableConfig{.vcpus = 1, .extra_gsis = {}});
    ASSERT_TRUE(addr) << addr.error().message();
    EXPECT_EQ(*addr, 0x9FC00U);
    expect_table(written(memory, 16 + 44 + 20 + 16 + 16 * 8 + 16), 1, isa_pins());
}

TEST(MpTableTest, ThirtyTwoVcpusAndVirtioGsis) {
    const GuestMemory memory = make_memory(64 * layout::kMiB);
    // 5 is an ISA pin already; 20 twice is listed once; the extra pins come sorted.
    const MpTableConfig config{.vcpus = 32, .extra_gsis = {20, 5, 16, 20, 23}};
    auto addr = write_mptable(memory, config);
    ASSERT_TRUE(addr) << addr.error().message();
    std::vector<uint8_t> pins = isa_pins();
    for (int p : {16, 20, 23})
        pins.push_back(static_cast<uint8_t>(p));
    const Bytes all = written(memory, 16 + 44 + 20 * 32 + 16 + pins.size() * 8 + 16);
    expect_table(all, 32, pins);
    EXPECT_EQ(all, build_mptable(config, kMpTableAddr));
    EXPECT_LE(kMpTableAddr + all.size(), kMpTableEnd);
}

TEST(MpTableTest, ThirtySevenVcpusFitWithEveryPinAndMoreAreRefused) {
    const GuestMemory memory = make_memory(64 * layout::kMiB);
    MpTableConfig config{.vcpus = 37, .extra_gsis = {}};
    for (uint32_t g = 16; g < 24; ++g)
        config.extra_gsis.push_back(g);
    ASSERT_TRUE(write_mptable(memory, config));
    config.vcpus = 38;
    auto r = write_mptable(memory, config);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
    EXPECT_THAT(r.error().message(), HasSubstr("38 vCPUs need"));
}

TEST(MpTableTest, RefusesBadConfigsWithoutWriting) {
    const GuestMemory memory = make_memory(64 * layout::kMiB);
    for (const auto& [config, what] : std::vector<std::pair<MpTableConfig, const char*>>{
             {{.vcpus = 0, .extra_gsis = {}}, "0 vCPUs"},
             {{.vcpus = 255, .extra_gsis = {}}, "255 vCPUs"},
             {{.vcpus = 1, .extra_gsis = {24}}, "GSI 24"},
         }) {
        auto r = write_mptable(memory, config);
        ASSERT_FALSE(r) << what;
        EXPECT_THAT(r.error().message(), HasSubstr(what));
    }
    EXPECT_EQ(written(memory, 16), Bytes(16));
}

} // namespace
} // namespace ember::boot
