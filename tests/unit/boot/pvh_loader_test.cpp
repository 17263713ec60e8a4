#include "boot/pvh/pvh_loader.hpp"

#include "tests/unit/boot/elf_builder.hpp"
#include "tests/unit/boot/test_memory.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

namespace ember::boot {
namespace {

using testing::ElfBuilder;
using ::testing::HasSubstr;
using testing::pattern;

constexpr uint64_t kMiB = layout::kMiB;
constexpr uint64_t kGiB = layout::kGiB;

Elf64 parsed(const std::vector<std::byte>& file) {
    auto elf = Elf64::parse(file, "kernel 'test.elf'");
    EXPECT_TRUE(elf) << elf.error().message();
    return std::move(*elf);
}

// Plans a kernel that must be refused; returns the message after checking the prefix.
std::string plan_error(const std::vector<std::byte>& file, const GuestMemory& memory,
                       const PvhConfig& config = {}, Errc code = Errc::kInvalidInput) {
    const Elf64 elf = parsed(file);
    auto plan = plan_pvh(elf, memory, config);
    if (plan) return "<planned>";
    EXPECT_EQ(plan.error().code(), code) << plan.error().message();
    return plan.error().message();
}

std::vector<std::byte> read(const GuestMemory& memory, GuestAddr addr, size_t len) {
    std::vector<std::byte> out(len);
    EXPECT_TRUE(memory.read(addr, out));
    return out;
}

// The Rss of the mapping at `host` from /proc/self/smaps, in KiB; -1 if not found. Unlike
// mincore, it does not count pages that map the shared zero page.
long rss_kib(const void* host) {
    std::FILE* f = std::fopen("/proc/self/smaps", "r");
    if (f == nullptr) return -1;
    const std::string start = fmt::format("{:x}-", reinterpret_cast<uintptr_t>(host));
    char line[512];
    bool in_mapping = false;
    long rss = -1;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::strncmp(line, start.c_str(), start.size()) == 0) in_mapping = true;
        if (in_mapping && std::sscanf(line, "Rss: %ld kB", &rss) == 1) break;
    }
    std::fclose(f);
    return rss;
}

bool thp_always() {
    std::FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f == nullptr) return false;
    char line[128] = {};
    const bool always =
        std::fgets(line, sizeof line, f) != nullptr && std::strstr(line, "[always]") != nullptr;
    std::fclose(f);
    return always;
}

TEST(PvhLoader, LoadsAKernelWithCmdlineAndInitrd) {
    const GuestMemory memory = make_memory(64 * kMiB);
    // Memory that was used before (a reboot): load_pvh must not rely on it being zero.
    auto dirty = memory.span(kMiB, 0x10000);
    ASSERT_TRUE(dirty);
    std::fill(dirty->begin(), dirty->end(), std::byte{0xaa});

    auto b = ElfBuilder::pvh_kernel(0x10'0000, 0x2000, 0x5800);
    b.load(0x20'0000, pattern(0x300, 5), 0x300);
    const auto file = b.build();
    const Elf64 elf = parsed(file);
    const auto initrd_bytes = pattern(3 * 4096 + 100, 9);
    const auto initrd = KernelImage::from_bytes("initrd.img", initrd_bytes, ImageKind::kInitrd);
    const std::string cmdline = "console=ttyS0 reboot=k panic=1";

    auto plan = plan_pvh(elf, memory, {cmdline, &initrd, 0xE0000});
    ASSERT_TRUE(plan) << plan.error().message();
    auto boot = load_pvh(*plan, memory);
    ASSERT_TRUE(boot) << boot.error().message();

    const uint64_t initrd_addr = 64 * kMiB - 4 * 4096; // page-aligned, as high as it fits
    EXPECT_EQ(boot->entry, 0x10'0010U);
    EXPECT_EQ(boot->start_info_addr, 0x6000U);
    EXPECT_EQ(boot->cmdline_addr, 0x2'0000U);
    EXPECT_EQ(boot->initrd_addr, initrd_addr);
    EXPECT_EQ(boot->initrd_size, initrd_bytes.size());

    // Segments copied; the bss zeroed exactly up to p_memsz, nothing beyond.
    EXPECT_EQ(read(memory, 0x10'0000, 0x2000), pattern(0x2000, 1));
    EXPECT_EQ(read(memory, 0x10'2000, 0x3800), std::vector<std::byte>(0x3800));
    EXPECT_EQ(read(memory, 0x10'5800, 1), std::vector<std::byte>{std::byte{0xaa}});
    EXPECT_EQ(read(memory, 0x20'0000, 0x300), pattern(0x300, 5));

    auto info = memory.read_obj<HvmStartInfo>(0x6000);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->magic, 0x336e'c578U);
    EXPECT_EQ(info->version, 1U);
    EXPECT_EQ(info->flags, 0U);
    EXPECT_EQ(info->nr_modules, 1U);
    EXPECT_EQ(info->modlist_paddr, 0x6040U);
    EXPECT_EQ(info->cmdline_paddr, 0x2'0000U);
    EXPECT_EQ(info->rsdp_paddr, 0xE0000U); // the ACPI RSDP the VMM wrote
    EXPECT_EQ(info->memmap_paddr, 0x6080U);
    EXPECT_EQ(info->memmap_entries, 3U);
    EXPECT_EQ(info->reserved, 0U);

    auto module = memory.read_obj<HvmModlistEntry>(0x6040);
    ASSERT_TRUE(module);
    EXPECT_EQ(module->paddr, initrd_addr);
    EXPECT_EQ(module->size, initrd_bytes.size());
    EXPECT_EQ(module->cmdline_paddr, 0U);
    EXPECT_EQ(module->reserved, 0U);
    EXPECT_EQ(read(memory, initrd_addr, initrd_bytes.size()), initrd_bytes);

    const auto cmd = read(memory, 0x2'0000, cmdline.size() + 1);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(cmd.data()), cmdline.size()), cmdline);
    EXPECT_EQ(cmd.back(), std::byte{0});
}

TEST(PvhLoader, WritesTheMemoryMap) {
    const GuestMemory memory = make_memory(64 * kMiB);
    const auto file = ElfBuilder::pvh_kernel().build();
    auto plan = plan_pvh(parsed(file), memory, {});
    ASSERT_TRUE(plan);
    ASSERT_TRUE(load_pvh(*plan, memory));
    auto e0 = memory.read_obj<HvmMemmapTableEntry>(0x6080);
    auto e1 = memory.read_obj<HvmMemmapTableEntry>(0x6080 + 24);
    auto e2 = memory.read_obj<HvmMemmapTableEntry>(0x6080 + 48);
    ASSERT_TRUE(e0 && e1 && e2);
    EXPECT_EQ(e0->addr, 0U);
    EXPECT_EQ(e0->size, 0x9'FC00U);
    EXPECT_EQ(e0->type, HvmMemmapType::kRam);
    EXPECT_EQ(e1->addr, 0x9'FC00U);
    EXPECT_EQ(e1->size, 0x10'0000U - 0x9'FC00U);
    EXPECT_EQ(e1->type, HvmMemmapType::kReserved);
    EXPECT_EQ(e2->addr, 0x10'0000U);
    EXPECT_EQ(e2->size, 63 * kMiB);
    EXPECT_EQ(e2->type, HvmMemmapType::kRam);
    EXPECT_EQ(e2->reserved, 0U);
}

TEST(PvhLoader, MapsRamAboveFourGiB) {
    const GuestMemory memory = make_memory(5 * kGiB);
    const auto file = ElfBuilder::pvh_kernel().build(); // the plan points into it
    auto plan = plan_pvh(parsed(file), memory, {});
    ASSERT_TRUE(plan);
    ASSERT_EQ(plan->memmap.size(), 4U);
    EXPECT_EQ(plan->memmap[2].addr, kMiB);
    EXPECT_EQ(plan->memmap[2].size, 3 * kGiB - kMiB);
    EXPECT_EQ(plan->memmap[3].addr, 4 * kGiB);
    EXPECT_EQ(plan->memmap[3].size, 2 * kGiB);
    EXPECT_EQ(plan->memmap[3].type, HvmMemmapType::kRam);
}

TEST(PvhLoader, LeavesOutAnEmptyCmdlineAndNoInitrd) {
    const GuestMemory memory = make_memory(16 * kMiB);
    const auto file = ElfBuilder::pvh_kernel().build(); // the plan points into it
    auto plan = plan_pvh(parsed(file), memory, {});
    ASSERT_TRUE(plan);
    auto boot = load_pvh(*plan, memory);
    ASSERT_TRUE(boot);
    EXPECT_EQ(boot->cmdline_addr, 0U);
    EXPECT_EQ(boot->initrd_addr, 0U);
    EXPECT_EQ(boot->initrd_size, 0U);
    auto info = memory.read_obj<HvmStartInfo>(0x6000);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->cmdline_paddr, 0U);
    EXPECT_EQ(info->nr_modules, 0U);
    EXPECT_EQ(info->modlist_paddr, 0U);
}

TEST(PvhLoader, AcceptsAnEightByteEntryNote) {
    ElfBuilder b;
    b.load(0x100'0000, pattern(0x1000, 2));
    b.notes(testing::pvh_note(0x100'0200, 8));
    const auto file = b.build();
    auto plan = plan_pvh(parsed(file), make_memory(64 * kMiB), {});
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(plan->entry, 0x100'0200U);
}

TEST(PvhLoader, PlacesTheInitrdBelowAKernelAtTheTop) {
    const GuestMemory memory = make_memory(16 * kMiB);
    const auto file = ElfBuilder::pvh_kernel(15 * kMiB).build();
    const auto bytes = pattern(kMiB, 3);
    const auto initrd = KernelImage::from_bytes("initrd.img", bytes, ImageKind::kInitrd);
    auto plan = plan_pvh(parsed(file), memory, {"", &initrd});
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(plan->initrd_addr, 14 * kMiB);
}

TEST(PvhLoader, RefusesAKernelWithoutThePvhNote) {
    ElfBuilder b;
    b.load(kMiB, pattern(0x1000, 1));
    b.notes(testing::encode_note("Xen", 1, testing::bytes_of("xen-3.0")));
    EXPECT_EQ(plan_error(b.build(), make_memory(16 * kMiB)),
              "kernel 'test.elf': no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); ember accepts PVH "
              "ELF kernels now (Linux vmlinux/bzImage support is planned); build Linux with "
              "CONFIG_PVH=y");
}

TEST(PvhLoader, RefusesABadEntryNote) {
    ElfBuilder b;
    b.load(kMiB, pattern(0x1000, 1));
    b.notes(testing::pvh_note(0x1'0010'0000, 8));
    EXPECT_THAT(plan_error(b.build(), make_memory(16 * kMiB)),
                HasSubstr("PVH entry 0x100100000 is above 4 GiB; the PVH entry is a 32-bit"));
    ElfBuilder c;
    c.load(kMiB, pattern(0x1000, 1));
    c.notes(testing::pvh_note(kMiB, 2));
    EXPECT_THAT(plan_error(c.build(), make_memory(16 * kMiB)),
                HasSubstr("PVH entry note (program header 1) has a 2-byte descriptor"));
}

TEST(PvhLoader, RefusesAnEntryOutsideTheSegments) {
    ElfBuilder b;
    b.load(kMiB, pattern(0x1000, 1), 0x3000);
    b.notes(testing::pvh_note(0x30'0000));
    const GuestMemory memory = make_memory(16 * kMiB);
    EXPECT_THAT(plan_error(b.build(), memory),
                HasSubstr("kernel 'test.elf': PVH entry 0x300000 (XEN_ELFNOTE_PHYS32_ENTRY) is not "
                          "inside the loaded bytes of any PT_LOAD segment"));
    ElfBuilder bss;
    bss.load(kMiB, pattern(0x1000, 1), 0x3000);
    bss.notes(testing::pvh_note(kMiB + 0x1000)); // the first byte of the bss
    EXPECT_THAT(plan_error(bss.build(), memory), HasSubstr("PVH entry 0x101000"));
}

TEST(PvhLoader, RefusesOverlappingSegments) {
    auto b = ElfBuilder::pvh_kernel(kMiB, 0x2000, 0x3000);
    b.load(kMiB + 0x2fff, pattern(0x10, 1));
    EXPECT_THAT(plan_error(b.build(), make_memory(16 * kMiB)),
                HasSubstr("segments 0 [0x100000, 0x103000) and 2 [0x102fff, 0x10300f) overlap"));
    // Adjacent is fine.
    auto c = ElfBuilder::pvh_kernel(kMiB, 0x2000, 0x3000);
    c.load(kMiB + 0x3000, pattern(0x10, 1));
    EXPECT_TRUE(plan_pvh(parsed(c.build()), make_memory(16 * kMiB), {}));
}

TEST(PvhLoader, RefusesASegmentOutsideRam) {
    const auto file = ElfBuilder::pvh_kernel(32 * kMiB, 0x2000, 0x2000).build();
    EXPECT_THAT(plan_error(file, make_memory(16 * kMiB), {}, Errc::kInvalidArgument),
                HasSubstr("kernel 'test.elf': segment 0 [0x2000000, 0x2002000) lies outside guest "
                          "RAM of 16 MiB; raise --mem-mib to at least 33"));
    const auto high = ElfBuilder::pvh_kernel(6 * kGiB, 0x1000, 0x1000).build();
    EXPECT_THAT(plan_error(high, make_memory(5 * kGiB), {}, Errc::kInvalidArgument),
                HasSubstr("segment 0 [0x180000000, 0x180001000) lies outside guest RAM of 5120 "
                          "MiB; raise --mem-mib to at least 5121"));
}

TEST(PvhLoader, RefusesASegmentInTheMmioGap) {
    const GuestMemory memory = make_memory(5 * kGiB);
    EXPECT_THAT(plan_error(ElfBuilder::pvh_kernel(3 * kGiB).build(), memory),
                HasSubstr("segment 0 [0xc0000000, 0xc0005000) lies in the 32-bit MMIO gap "
                          "[0xc0000000, 0x100000000)"));
    // One that straddles the start of the gap.
    EXPECT_THAT(plan_error(ElfBuilder::pvh_kernel(3 * kGiB - 0x1000).build(), memory),
                HasSubstr("segment 0 [0xbffff000, 0xc0004000) lies in the 32-bit MMIO gap"));
}

TEST(PvhLoader, RefusesASegmentOverTheBootArea) {
    const GuestMemory memory = make_memory(16 * kMiB);
    EXPECT_THAT(plan_error(ElfBuilder::pvh_kernel(0x6000).build(), memory),
                HasSubstr("segment 0 [0x6000, 0xb000) overlaps the boot area below 1 MiB (start "
                          "info at 0x6000, command line at 0x20000"));
    EXPECT_THAT(plan_error(ElfBuilder::pvh_kernel(0xf'0000, 0x1000, 0x1000).build(), memory),
                HasSubstr("segment 0 [0xf0000, 0xf1000) overlaps the boot area below 1 MiB"));
}

TEST(PvhLoader, RefusesABadCommandLine) {
    const GuestMemory memory = make_memory(16 * kMiB);
    const auto file = ElfBuilder::pvh_kernel().build();
    const std::string longest(layout::kCmdlineMax - 1, 'x');
    EXPECT_TRUE(plan_pvh(parsed(file), memory, {longest}));
    const std::string too_long(layout::kCmdlineMax, 'x');
    EXPECT_THAT(plan_error(file, memory, {too_long}, Errc::kInvalidArgument),
                HasSubstr("command line of 65536 bytes is too long; ember takes at most 65535"));
    const std::string with_nul("console=ttyS0\0x", 15);
    EXPECT_THAT(plan_error(file, memory, {with_nul}, Errc::kInvalidArgument),
                HasSubstr("command line has a NUL byte at offset 13"));
}

TEST(PvhLoader, RefusesAnInitrdThatDoesNotFit) {
    const GuestMemory memory = make_memory(16 * kMiB);
    const auto file = ElfBuilder::pvh_kernel().build();
    const auto bytes = pattern(15 * kMiB, 1);
    const auto initrd = KernelImage::from_bytes("big.cpio", bytes, ImageKind::kInitrd);
    EXPECT_EQ(plan_error(file, memory, {"", &initrd}, Errc::kInvalidArgument),
              "initrd 'big.cpio' of 15 MiB does not fit in guest RAM of 16 MiB above the kernel; "
              "raise --mem-mib to at least 17 (the initrd goes below 3 GiB)");
    // Larger than all of low memory.
    const GuestMemory tiny = make_memory(2 * kMiB);
    EXPECT_THAT(plan_error(file, tiny, {"", &initrd}, Errc::kInvalidArgument),
                HasSubstr("initrd 'big.cpio' of 15 MiB does not fit in guest RAM of 2 MiB"));
    // Just fits: the rest of the 16 MiB above the kernel's last page.
    const auto fits = pattern(16 * kMiB - 0x10'5000, 1);
    const auto ok = KernelImage::from_bytes("ok.cpio", fits, ImageKind::kInitrd);
    auto plan = plan_pvh(parsed(file), memory, {"", &ok});
    ASSERT_TRUE(plan) << plan.error().message();
    EXPECT_EQ(plan->initrd_addr, 0x10'5000U);
}

TEST(PvhLoader, PlanningTouchesNoGuestMemory) {
    const GuestMemory memory = make_memory(64 * kMiB);
    const auto bytes = pattern(63 * kMiB, 1);
    const auto initrd = KernelImage::from_bytes("big.cpio", bytes, ImageKind::kInitrd);
    // Fails late, after the segments, the command line and the memory map were planned.
    EXPECT_THAT(plan_error(ElfBuilder::pvh_kernel().build(), memory, {"console=ttyS0", &initrd},
                           Errc::kInvalidArgument),
                HasSubstr("does not fit"));
    EXPECT_EQ(resident_pages(memory), 0U);
    // A plan that succeeds touches nothing either; only load_pvh does.
    const auto file = ElfBuilder::pvh_kernel().build();
    auto plan = plan_pvh(parsed(file), memory, {"console=ttyS0"});
    ASSERT_TRUE(plan);
    EXPECT_EQ(resident_pages(memory), 0U);
    ASSERT_TRUE(load_pvh(*plan, memory));
    EXPECT_GT(resident_pages(memory), 0U);
}

TEST(PvhLoader, LoadingTouchesOnlyThePagesTheGuestNeeds) {
    if (thp_always()) GTEST_SKIP() << "transparent huge pages are 'always': RSS grows by 2 MiB";
    const GuestMemory memory = make_memory(64 * kMiB);
    // Two pages of code and a 1 MiB bss, which fresh memory already has zeroed.
    const auto file = ElfBuilder::pvh_kernel(kMiB, 0x2000, 0x10'2000).build();
    const auto bytes = pattern(3 * 4096, 1);
    const auto initrd = KernelImage::from_bytes("initrd.img", bytes, ImageKind::kInitrd);
    auto plan = plan_pvh(parsed(file), memory, {"console=ttyS0", &initrd});
    ASSERT_TRUE(plan) << plan.error().message();
    ASSERT_TRUE(load_pvh(*plan, memory));
    // Code (2) + start info (1) + command line (1) + initrd (3) pages.
    EXPECT_EQ(rss_kib(memory.mappings()[0].host), 7 * 4);
}

} // namespace
} // namespace ember::boot
