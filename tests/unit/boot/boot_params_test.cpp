#include "boot/linux/boot_params.hpp"

#include "tests/unit/boot/test_memory.hpp"

#include "vmm/core/layout.hpp"

#include <gtest/gtest.h>

namespace ember::boot {
namespace {

// A copy of a field of a packed ABI struct: gtest binds its arguments by reference, which a
// misaligned field cannot take (UBSan).
template <class T> T val(T value) {
    return value;
}

constexpr uint64_t kMiB = layout::kMiB;
constexpr uint64_t kGiB = layout::kGiB;

void expect_entry(const boot_e820_entry& e, uint64_t addr, uint64_t size, uint32_t type) {
    const uint64_t a = e.addr; // packed: copy out before comparing
    const uint64_t s = e.size;
    const uint32_t t = e.type;
    EXPECT_EQ(a, addr);
    EXPECT_EQ(s, size);
    EXPECT_EQ(t, type);
}

TEST(BootParams, E820ForSmallMemory) {
    auto map = build_e820(make_memory(64 * kMiB));
    ASSERT_TRUE(map);
    ASSERT_EQ(map->size(), 3U);
    expect_entry((*map)[0], 0, 0x9fc00, kE820Ram);
    expect_entry((*map)[1], 0x9fc00, 0x60400, kE820Reserved);
    expect_entry((*map)[2], 0x100000, 63 * kMiB, kE820Ram);
}

TEST(BootParams, E820AboveTheMmioGap) {
    auto map = build_e820(make_memory(4 * kGiB));
    ASSERT_TRUE(map);
    ASSERT_EQ(map->size(), 4U);
    expect_entry((*map)[2], 0x100000, 3 * kGiB - kMiB, kE820Ram);
    expect_entry((*map)[3], 4 * kGiB, 1 * kGiB, kE820Ram); // nothing for the gap: a hole
}

TEST(BootParams, DefaultHeaderForAVmlinux) {
    const setup_header h = default_setup_header(65535);
    EXPECT_EQ(val(h.boot_flag), 0xaa55);
    EXPECT_EQ(val(h.header), 0x53726448U);
    EXPECT_EQ(val(h.version), 0x020c);
    EXPECT_EQ(val(h.loadflags), LOADED_HIGH);
    EXPECT_EQ(val(h.xloadflags), XLF_KERNEL_64);
    EXPECT_EQ(val(h.initrd_addr_max), 0x7fffffffU);
    EXPECT_EQ(val(h.kernel_alignment), 0x1000000U);
    EXPECT_EQ(val(h.cmdline_size), 65535U);
}

TEST(BootParams, ZeroPageFields) {
    setup_header h = default_setup_header(2047);
    h.setup_data = 0xdead; // a loader must not pass a chain it did not build
    h.init_size = 0x1234;
    const std::vector<boot_e820_entry> e820 = {{0, 0x9fc00, kE820Ram},
                                               {0x100000, 0x100000, kE820Ram}};
    const boot_params bp = make_zero_page(h, {.cmdline_addr = 0x20000,
                                              .cmdline_size = 12,
                                              .initrd_addr = 0x3ff'f000,
                                              .initrd_size = 0x1800,
                                              .e820 = e820,
                                              .rsdp_addr = 0xE0000});
    EXPECT_EQ(val(bp.acpi_rsdp_addr), 0xE0000U);
    EXPECT_EQ(val(bp.hdr.type_of_loader), 0xff);
    EXPECT_EQ(val(bp.hdr.vid_mode), 0xffff);
    EXPECT_EQ(val(bp.hdr.cmd_line_ptr), 0x20000U);
    EXPECT_EQ(val(bp.ext_cmd_line_ptr), 0U);
    EXPECT_EQ(val(bp.hdr.ramdisk_image), 0x3ff'f000U);
    EXPECT_EQ(val(bp.ext_ramdisk_image), 0U);
    EXPECT_EQ(val(bp.hdr.ramdisk_size), 0x1800U);
    EXPECT_EQ(val(bp.ext_ramdisk_size), 0U);
    EXPECT_EQ(val(bp.hdr.setup_data), 0U);
    EXPECT_EQ(val(bp.hdr.init_size), 0x1234U); // the kernel's own fields are kept
    EXPECT_EQ(val(bp.hdr.boot_flag), 0xaa55);
    EXPECT_EQ(val(bp.sentinel), 0);
    EXPECT_EQ(val(bp.e820_entries), 2);
    expect_entry(bp.e820_table[0], 0, 0x9fc00, kE820Ram);
    expect_entry(bp.e820_table[1], 0x100000, 0x100000, kE820Ram);
    expect_entry(bp.e820_table[2], 0, 0, 0);

    // The raw bytes at the offsets the protocol and our guests read.
    uint32_t raw = 0;
    std::memcpy(&raw, reinterpret_cast<const std::byte*>(&bp) + 0x228, 4); // Safety: byte view
    EXPECT_EQ(raw, 0x20000U);
    EXPECT_EQ(reinterpret_cast<const uint8_t*>(&bp)[0x210], 0xff); // Safety: byte view
}

TEST(BootParams, HighAddressesGoToTheExtFields) {
    const boot_params bp = make_zero_page(default_setup_header(1), {.cmdline_addr = 0x1'2000'0000,
                                                                    .cmdline_size = 1,
                                                                    .initrd_addr = 0x2'0000'0000,
                                                                    .initrd_size = 0x1'0000'0010,
                                                                    .e820 = {}});
    EXPECT_EQ(val(bp.hdr.cmd_line_ptr), 0x2000'0000U);
    EXPECT_EQ(val(bp.ext_cmd_line_ptr), 1U);
    EXPECT_EQ(val(bp.hdr.ramdisk_image), 0U);
    EXPECT_EQ(val(bp.ext_ramdisk_image), 2U);
    EXPECT_EQ(val(bp.hdr.ramdisk_size), 0x10U);
    EXPECT_EQ(val(bp.ext_ramdisk_size), 1U);
}

} // namespace
} // namespace ember::boot
