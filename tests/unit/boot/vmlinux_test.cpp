#include "boot/linux/vmlinux.hpp"

#include "tests/unit/boot/elf_builder.hpp"
#include "tests/unit/boot/test_memory.hpp"
#include "vmm/core/layout.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ember::boot {
namespace {

using testing::ElfBuilder;
using ::testing::HasSubstr;
using testing::pattern;

constexpr uint64_t kMiB = layout::kMiB;

// A vmlinux as Linux links one: text at 16 MiB physical, 0xffffffff81000000 virtual.
ElfBuilder linux_like(uint64_t entry) {
    ElfBuilder b;
    b.load(0x100'0000, pattern(0x3000, 1), 0x3000);
    b.load(0x100'4000, pattern(0x1000, 2), 0x8000); // data + bss
    b.header().e_entry = entry;
    return b;
}

std::string plan_error(const std::vector<std::byte>& file, const GuestMemory& memory,
                       Errc code = Errc::kInvalidInput) {
    auto elf = Elf64::parse(file, "kernel 'vmlinux'");
    EXPECT_TRUE(elf) << elf.error().message();
    auto plan = plan_vmlinux(*elf, memory);
    if (plan) return "<planned>";
    EXPECT_EQ(plan.error().code(), code);
    return plan.error().message();
}

TEST(Vmlinux, PlansSegmentsAtTheirPhysicalAddresses) {
    const auto file = linux_like(0x100'0000).build();
    auto elf = Elf64::parse(file, "k");
    ASSERT_TRUE(elf);
    auto plan = plan_vmlinux(*elf, make_memory(64 * kMiB));
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(plan->entry, 0x100'0000U);
    ASSERT_EQ(plan->segments.size(), 2U);
    EXPECT_EQ(plan->segments[0].addr, 0x100'0000U);
    EXPECT_EQ(plan->segments[0].zero_size, 0U);
    EXPECT_EQ(plan->segments[1].addr, 0x100'4000U);
    EXPECT_EQ(plan->segments[1].data.size(), 0x1000U);
    EXPECT_EQ(plan->segments[1].zero_size, 0x7000U);
    EXPECT_EQ(plan->segments[1].end(), 0x100'c000U);
}

TEST(Vmlinux, ConvertsAVirtualEntryToPhysical) {
    // ElfBuilder sets p_vaddr = p_paddr + 0xffffffff80000000, like a kernel's high mapping.
    const auto file = linux_like(0xffff'ffff'8100'0040).build();
    auto elf = Elf64::parse(file, "k");
    ASSERT_TRUE(elf);
    auto plan = plan_vmlinux(*elf, make_memory(64 * kMiB));
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(plan->entry, 0x100'0040U);
}

TEST(Vmlinux, RefusesAnEntryOutsideTheLoadedBytes) {
    EXPECT_THAT(plan_error(linux_like(0x100'6000).build(), make_memory(64 * kMiB)),
                HasSubstr("e_entry 0x1006000 is inside the loaded bytes of no PT_LOAD"));
}

TEST(Vmlinux, RefusesAKernelTooBigForMemory) {
    EXPECT_THAT(
        plan_error(linux_like(0x100'0000).build(), make_memory(16 * kMiB), Errc::kInvalidArgument),
        HasSubstr("lies outside guest RAM of 16 MiB; raise --mem-mib to at least 17"));
}

TEST(Vmlinux, RefusesTheBootAreaTheGapAndOverlaps) {
    ElfBuilder low;
    low.load(0x8000, pattern(0x100, 1));
    low.header().e_entry = 0x8000;
    EXPECT_THAT(plan_error(low.build(), make_memory(64 * kMiB)),
                HasSubstr("overlaps the boot area below 1 MiB"));
    ElfBuilder gap;
    gap.load(0xc000'0000, pattern(0x100, 1));
    gap.header().e_entry = 0xc000'0000;
    EXPECT_THAT(plan_error(gap.build(), make_memory(64 * kMiB)), HasSubstr("32-bit MMIO gap"));
    ElfBuilder overlap;
    overlap.load(0x100'0000, pattern(0x2000, 1));
    overlap.load(0x100'1000, pattern(0x2000, 1));
    overlap.header().e_entry = 0x100'0000;
    EXPECT_THAT(plan_error(overlap.build(), make_memory(64 * kMiB)), HasSubstr("overlap"));
}

} // namespace
} // namespace ember::boot
