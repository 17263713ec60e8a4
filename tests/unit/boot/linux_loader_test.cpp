#include "boot/linux/linux_loader.hpp"

#include "tests/unit/boot/test_memory.hpp"

#include "boot/x86_64/long_mode.hpp"
#include "tests/unit/boot/bzimage_builder.hpp"
#include "tests/unit/boot/elf_builder.hpp"
#include "vmm/core/layout.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <string>

namespace ember::boot {
namespace {

// A copy of a field of a packed ABI struct: gtest binds its arguments by reference, which a
// misaligned field cannot take (UBSan).
template <class T> T val(T value) {
    return value;
}

using testing::BzImageBuilder;
using testing::ElfBuilder;
using ::testing::HasSubstr;
using testing::pattern;
using ::testing::StartsWith;

constexpr uint64_t kMiB = layout::kMiB;

std::vector<std::byte> read(const GuestMemory& memory, GuestAddr addr, size_t len) {
    std::vector<std::byte> out(len);
    EXPECT_TRUE(memory.read(addr, out));
    return out;
}

boot_params zero_page(const GuestMemory& memory) {
    auto bp = memory.read_obj<boot_params>(kZeroPageAddr);
    EXPECT_TRUE(bp);
    return bp ? *bp : boot_params{};
}

std::string plan_error(const std::vector<std::byte>& file, const GuestMemory& memory,
                       const LinuxConfig& config, Errc code) {
    const auto kernel = KernelImage::from_bytes("bzImage", file);
    auto plan = plan_linux(kernel, memory, config);
    if (plan) return "<planned>";
    EXPECT_EQ(val(plan.error().code()), code) << plan.error().message();
    return plan.error().message();
}

TEST(LinuxLoader, LoadsAVmlinuxWithCmdlineAndInitrd) {
    const GuestMemory memory = make_memory(64 * kMiB);
    auto dirty = memory.span(0x100'0000, 0x10000); // a reboot: bss must still end up zero
    ASSERT_TRUE(dirty);
    std::fill(dirty->begin(), dirty->end(), std::byte{0xaa});

    ElfBuilder b;
    b.load(0x100'0000, pattern(0x2000, 1), 0x6000);
    b.header().e_entry = 0x100'0000;
    const auto file = b.build();
    const auto kernel = KernelImage::from_bytes("vmlinux", file);
    const auto initrd_bytes = pattern(3 * 4096 + 100, 9);
    const auto initrd = KernelImage::from_bytes("initrd.img", initrd_bytes, ImageKind::kInitrd);
    const std::string cmdline = "console=ttyS0 panic=1";

    auto plan = plan_linux(kernel, memory, {cmdline, &initrd});
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(val(plan->format), LinuxKernelFormat::kVmlinux);
    auto boot = load_linux(*plan, memory);
    ASSERT_TRUE(boot) << boot.error().message();

    const uint64_t initrd_addr = 64 * kMiB - 4 * 4096;
    EXPECT_EQ(val(boot->entry), 0x100'0000U);
    EXPECT_EQ(val(boot->boot_params_addr), 0x7000U);
    EXPECT_EQ(val(boot->cmdline_addr), 0x2'0000U);
    EXPECT_EQ(val(boot->initrd_addr), initrd_addr);
    EXPECT_EQ(val(boot->initrd_size), initrd_bytes.size());

    EXPECT_EQ(read(memory, 0x100'0000, 0x2000), pattern(0x2000, 1));
    EXPECT_EQ(read(memory, 0x100'2000, 0x4000), std::vector<std::byte>(0x4000));
    EXPECT_EQ(read(memory, initrd_addr, initrd_bytes.size()), initrd_bytes);
    const auto cl = read(memory, 0x2'0000, cmdline.size() + 1);
    EXPECT_EQ(val(std::string(reinterpret_cast<const char*>(cl.data()))), cmdline); // Safety: bytes

    const boot_params bp = zero_page(memory);
    EXPECT_EQ(val(bp.hdr.boot_flag), 0xaa55);
    EXPECT_EQ(val(bp.hdr.header), 0x53726448U);
    EXPECT_EQ(val(bp.hdr.type_of_loader), 0xff);
    EXPECT_EQ(val(bp.hdr.cmd_line_ptr), 0x2'0000U);
    EXPECT_EQ(val(bp.hdr.ramdisk_image), initrd_addr);
    EXPECT_EQ(val(bp.hdr.ramdisk_size), initrd_bytes.size());
    EXPECT_EQ(val(bp.e820_entries), 3);
    const uint64_t top_size = bp.e820_table[2].size;
    EXPECT_EQ(top_size, 63 * kMiB);

    auto pml4 = memory.read_obj<uint64_t>(kLongModePml4Addr);
    ASSERT_TRUE(pml4);
    EXPECT_EQ(*pml4, kLongModePdptAddr | 3);
}

TEST(LinuxLoader, LoadsABzImageAtItsPreferredAddress) {
    const GuestMemory memory = make_memory(64 * kMiB);
    BzImageBuilder b;
    const auto file = b.build();
    const auto kernel = KernelImage::from_bytes("bzImage", file);
    const auto initrd_bytes = pattern(2 * kMiB, 4);
    const auto initrd = KernelImage::from_bytes("initrd.img", initrd_bytes, ImageKind::kInitrd);

    auto plan = plan_linux(kernel, memory, {"quiet", &initrd});
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(val(plan->format), LinuxKernelFormat::kBzImage);
    EXPECT_EQ(val(plan->kernel_start), 0x100'0000U);
    EXPECT_EQ(val(plan->kernel_end), 0x140'0000U); // pref_address + init_size
    auto boot = load_linux(*plan, memory);
    ASSERT_TRUE(boot) << boot.error().message();
    EXPECT_EQ(val(boot->entry), 0x100'0200U);
    EXPECT_EQ(val(boot->initrd_addr), 62 * kMiB);
    EXPECT_EQ(read(memory, 0x100'0000, b.pm_size), pattern(b.pm_size, 3));

    const boot_params bp = zero_page(memory);
    EXPECT_EQ(val(bp.hdr.version), 0x020f); // the kernel's header, copied
    EXPECT_EQ(val(bp.hdr.pref_address), 0x100'0000U);
    EXPECT_EQ(val(bp.hdr.init_size), 0x40'0000U);
    EXPECT_EQ(val(bp.hdr.loadflags), LOADED_HIGH);
    EXPECT_EQ(val(bp.hdr.type_of_loader), 0xff);
    EXPECT_EQ(val(bp.hdr.vid_mode), 0xffff);
    EXPECT_EQ(val(bp.hdr.cmd_line_ptr), 0x2'0000U);
    EXPECT_EQ(val(bp.hdr.ramdisk_image), 62 * kMiB);
}

TEST(LinuxLoader, InitrdStaysBelowInitrdAddrMax) {
    const GuestMemory memory = make_memory(64 * kMiB);
    BzImageBuilder b;
    b.header.initrd_addr_max = 32 * kMiB - 1;
    const auto file = b.build();
    const auto kernel = KernelImage::from_bytes("bzImage", file);
    const auto initrd_bytes = pattern(4096, 4);
    const auto initrd = KernelImage::from_bytes("initrd.img", initrd_bytes, ImageKind::kInitrd);
    auto plan = plan_linux(kernel, memory, {"", &initrd});
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(val(plan->initrd_addr), 32 * kMiB - 4096);

    const auto big = pattern(16 * kMiB, 4); // 15 MiB below the kernel, 12 above it
    const auto big_initrd = KernelImage::from_bytes("big.img", big, ImageKind::kInitrd);
    EXPECT_THAT(plan_error(b.build(), memory, {"", &big_initrd}, Errc::kInvalidInput),
                HasSubstr("initrd 'big.img' of 16 MiB does not fit above the kernel (which ends "
                          "at 0x1400000) and below the kernel's initrd_addr_max 0x1ffffff"));
}

TEST(LinuxLoader, RefusesABzImageTooBigForMemory) {
    BzImageBuilder b;
    EXPECT_THAT(plan_error(b.build(), make_memory(16 * kMiB), {}, Errc::kInvalidArgument),
                HasSubstr("kernel 'bzImage': the kernel needs guest RAM up to 0x1400000 (20 MiB: "
                          "loaded at pref_address 0x1000000, init_size 4 MiB), guest RAM is 16 "
                          "MiB; raise --mem-mib to at least 20"));
}

TEST(LinuxLoader, RefusesAnInitrdTooBigForMemory) {
    BzImageBuilder b;
    const auto big = pattern(50 * kMiB, 4);
    const auto initrd = KernelImage::from_bytes("big.img", big, ImageKind::kInitrd);
    EXPECT_THAT(
        plan_error(b.build(), make_memory(64 * kMiB), {"", &initrd}, Errc::kInvalidArgument),
        HasSubstr("initrd 'big.img' of 50 MiB does not fit in guest RAM of 64 MiB above "
                  "the kernel; raise --mem-mib to at least 70"));
}

TEST(LinuxLoader, RefusesACommandLineTooLongForTheKernel) {
    BzImageBuilder b; // cmdline_size 2047
    const std::string cmdline(2048, 'x');
    EXPECT_THAT(
        plan_error(b.build(), make_memory(64 * kMiB), {cmdline, nullptr}, Errc::kInvalidArgument),
        HasSubstr("command line of 2048 bytes is too long; this kernel takes at most 2047 "
                  "bytes (setup header cmdline_size 2047"));
    EXPECT_THAT(plan_error(b.build(), make_memory(64 * kMiB), {std::string_view("a\0b", 3)},
                           Errc::kInvalidArgument),
                HasSubstr("NUL byte at offset 1"));
}

TEST(LinuxLoader, RefusesWhatIsNeitherBzImageNorElf) {
    BzImageBuilder b;
    b.header.xloadflags = 0;
    EXPECT_THAT(plan_error(b.build(), make_memory(64 * kMiB), {}, Errc::kInvalidInput),
                StartsWith("kernel 'bzImage': xloadflags"));
    EXPECT_THAT(plan_error(pattern(8192, 1), make_memory(64 * kMiB), {}, Errc::kInvalidInput),
                HasSubstr("not an ELF file"));
}

TEST(LinuxLoader, BootsAPvhElfThroughItsElfEntry) {
    auto b = ElfBuilder::pvh_kernel(); // PVH note at 1 MiB + 0x10
    b.header().e_entry = 0x10'0100;
    const auto bytes = b.build(); // from_bytes does not copy: keep the bytes alive
    const auto kernel = KernelImage::from_bytes("hello.elf", bytes);
    auto plan = plan_linux(kernel, make_memory(64 * kMiB), {});
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(val(plan->entry), 0x10'0100U);
}

TEST(LinuxLoader, PlanningTouchesNoGuestMemory) {
    const GuestMemory memory = make_memory(64 * kMiB);
    const auto initrd_bytes = pattern(4096, 4);
    const auto initrd = KernelImage::from_bytes("initrd.img", initrd_bytes, ImageKind::kInitrd);
    const auto file = BzImageBuilder{}.build();
    const auto kernel = KernelImage::from_bytes("bzImage", file);
    const size_t before = resident_pages(memory);
    auto plan = plan_linux(kernel, memory, {"console=ttyS0", &initrd});
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(resident_pages(memory), before);
}

} // namespace
} // namespace ember::boot
