#include "boot/boot_protocol.hpp"

#include "tests/unit/boot/bzimage_builder.hpp"
#include "tests/unit/boot/elf_builder.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ember::boot {
namespace {

using testing::BzImageBuilder;
using testing::ElfBuilder;
using ::testing::HasSubstr;
using testing::pattern;

std::vector<std::byte> vmlinux() {
    ElfBuilder b;
    b.load(0x100'0000, pattern(0x1000, 1));
    b.header().e_entry = 0x100'0000;
    return b.build();
}

TEST(BootProtocol, DetectsTheThreeFormats) {
    const auto pvh = ElfBuilder::pvh_kernel().build();
    const auto elf = vmlinux();
    const auto bz = BzImageBuilder{}.build();
    EXPECT_EQ(detect_kernel_format(KernelImage::from_bytes("a", pvh)), KernelFormat::kPvhElf);
    EXPECT_EQ(detect_kernel_format(KernelImage::from_bytes("b", elf)), KernelFormat::kVmlinux);
    EXPECT_EQ(detect_kernel_format(KernelImage::from_bytes("c", bz)), KernelFormat::kBzImage);
}

TEST(BootProtocol, RefusesAnUnknownFormatListingTheAcceptedOnes) {
    const auto junk = pattern(4096, 1);
    auto r = detect_kernel_format(KernelImage::from_bytes("disk.img", junk));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::kInvalidInput);
    EXPECT_THAT(r.error().message(),
                HasSubstr("kernel 'disk.img': not a kernel ember can boot; give a PVH ELF"));
    EXPECT_THAT(r.error().message(), HasSubstr("an x86-64 ELF vmlinux, or a bzImage"));
}

TEST(BootProtocol, AutoPrefersPvh) {
    const auto pvh = ElfBuilder::pvh_kernel().build();
    const auto elf = vmlinux();
    const auto bz = BzImageBuilder{}.build();
    EXPECT_EQ(choose_boot_protocol(KernelImage::from_bytes("a", pvh), BootProtocol::kAuto),
              BootProtocol::kPvh);
    EXPECT_EQ(choose_boot_protocol(KernelImage::from_bytes("b", elf), BootProtocol::kAuto),
              BootProtocol::kLinux);
    EXPECT_EQ(choose_boot_protocol(KernelImage::from_bytes("c", bz), BootProtocol::kAuto),
              BootProtocol::kLinux);
}

TEST(BootProtocol, ForcedProtocols) {
    const auto pvh = ElfBuilder::pvh_kernel().build();
    const auto bz = BzImageBuilder{}.build();
    EXPECT_EQ(choose_boot_protocol(KernelImage::from_bytes("a", pvh), BootProtocol::kLinux),
              BootProtocol::kLinux);
    auto r = choose_boot_protocol(KernelImage::from_bytes("bzImage", bz), BootProtocol::kPvh);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
    EXPECT_THAT(r.error().message(),
                HasSubstr("the PVH boot protocol was asked for, but this bzImage has no PVH"));
}

TEST(BootProtocol, ParsesNames) {
    EXPECT_EQ(parse_boot_protocol("auto"), BootProtocol::kAuto);
    EXPECT_EQ(parse_boot_protocol("pvh"), BootProtocol::kPvh);
    EXPECT_EQ(parse_boot_protocol("linux"), BootProtocol::kLinux);
    auto r = parse_boot_protocol("bios");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message(), HasSubstr("'bios' is not one of auto, pvh, linux"));
}

} // namespace
} // namespace ember::boot
