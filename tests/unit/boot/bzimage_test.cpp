#include "boot/linux/bzimage.hpp"

#include "tests/unit/boot/bzimage_builder.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ember::boot {
namespace {

// A copy of a field of a packed ABI struct: gtest binds its arguments by reference, which a
// misaligned field cannot take (UBSan).
template <class T> T val(T value) {
    return value;
}

using testing::BzImageBuilder;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string parse_error(const std::vector<std::byte>& file) {
    auto bz = BzImage::parse(file, "kernel 'bzImage'");
    if (bz) return "<parsed>";
    EXPECT_EQ(val(bz.error().code()), Errc::kInvalidInput);
    EXPECT_THAT(bz.error().message(), StartsWith("kernel 'bzImage': "));
    return bz.error().message();
}

TEST(BzImage, ParsesAValidHeader) {
    BzImageBuilder b;
    const auto file = b.build();
    auto bz = BzImage::parse(file, "kernel 'bzImage'");
    ASSERT_TRUE(bz) << bz.error().message();
    EXPECT_EQ(val(bz->version()), 0x020f);
    EXPECT_TRUE(bz->relocatable());
    EXPECT_EQ(val(bz->header().pref_address), 0x100'0000U);
    EXPECT_EQ(val(bz->header().init_size), 0x40'0000U);
    EXPECT_EQ(val(bz->header().kernel_alignment), 0x20'0000U);
    EXPECT_EQ(val(bz->header().initrd_addr_max), 0x7fff'ffffU);
    EXPECT_EQ(val(bz->protected_mode().size()), b.pm_size);
    EXPECT_EQ(val(bz->protected_mode().data()), file.data() + 5 * 512);
    EXPECT_TRUE(has_setup_header(file));
}

TEST(BzImage, SetupSectsZeroMeansFour) {
    BzImageBuilder b;
    b.header.setup_sects = 0;
    const auto file = b.build();
    auto bz = BzImage::parse(file, "k");
    ASSERT_TRUE(bz) << bz.error().message();
    EXPECT_EQ(val(bz->protected_mode().data()), file.data() + 5 * 512);
}

TEST(BzImage, FieldsPastTheHeadersEndReadAsZero) {
    BzImageBuilder b;
    b.header.jump = 0x66eb; // header ends at 0x268: kernel_info_offset is not part of it
    b.header.kernel_info_offset = 0x1234;
    auto file = b.build();
    auto bz = BzImage::parse(file, "k");
    ASSERT_TRUE(bz) << bz.error().message();
    EXPECT_EQ(val(bz->header().kernel_info_offset), 0U);
    EXPECT_EQ(val(bz->header().handover_offset), val(b.header.handover_offset));
}

TEST(BzImage, RefusesATooShortFile) {
    EXPECT_THAT(parse_error(std::vector<std::byte>(0x200)), HasSubstr("too short for a bzImage"));
}

TEST(BzImage, RefusesABadBootFlag) {
    BzImageBuilder b;
    b.header.boot_flag = 0x1234;
    EXPECT_THAT(parse_error(b.build()),
                HasSubstr("no boot sector signature at offset 0x1fe (boot_flag 0x1234"));
}

TEST(BzImage, RefusesAMissingHdrS) {
    BzImageBuilder b;
    b.header.header = 0;
    EXPECT_FALSE(has_setup_header(b.build()));
    EXPECT_THAT(parse_error(b.build()), HasSubstr("no \"HdrS\" setup header signature"));
}

TEST(BzImage, RefusesAnOldProtocol) {
    BzImageBuilder b;
    b.header.version = 0x020b;
    EXPECT_THAT(parse_error(b.build()),
                HasSubstr("boot protocol version 2.11 (header field version 0x020b) is older "
                          "than 2.12"));
}

TEST(BzImage, RefusesAKernelWithoutA64BitEntry) {
    BzImageBuilder b;
    b.header.xloadflags = 0;
    EXPECT_THAT(parse_error(b.build()),
                HasSubstr("xloadflags 0x0000 lacks XLF_KERNEL_64: the kernel has no 64-bit entry"));
}

TEST(BzImage, RefusesAZImage) {
    BzImageBuilder b;
    b.header.loadflags = 0;
    EXPECT_THAT(parse_error(b.build()), HasSubstr("lacks LOADED_HIGH"));
}

TEST(BzImage, RefusesSetupSectsPastTheEnd) {
    BzImageBuilder b;
    auto file = b.build();
    file[0x1f1] = std::byte{200}; // 201 sectors of setup: past the 5.5 KiB file
    EXPECT_THAT(parse_error(file),
                HasSubstr("setup_sects 200 puts the protected-mode kernel at offset 0x19200, at or "
                          "past the end of the"));
}

TEST(BzImage, RefusesATruncatedKernel) {
    BzImageBuilder b;
    auto file = b.build();
    ASSERT_GT(file.size(), 0x100U);
    file.erase(file.end() - 0x100, file.end());
    EXPECT_THAT(parse_error(file),
                HasSubstr("but syssize 0x300 says 12288; the file is truncated"));
}

TEST(BzImage, RefusesABadAlignmentAndInitSize) {
    BzImageBuilder b;
    b.header.kernel_alignment = 0x30'0000;
    EXPECT_THAT(parse_error(b.build()),
                HasSubstr("kernel_alignment 0x300000 is not a power of two"));
    b = BzImageBuilder{};
    b.header.init_size = 0;
    EXPECT_THAT(parse_error(b.build()), HasSubstr("init_size is 0"));
}

} // namespace
} // namespace ember::boot
