// KVM tier: the Linux 64-bit boot protocol with guests built for it (resources/guests,
// docs/guests.md): hello wrapped as a bzImage, the zero page as the bootparams guest reads it,
// and the smp guest starting application processors with INIT + SIPI + SIPI.
#include "tests/kvm/kvm_available.hpp"
#include "tests/kvm/subprocess.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ember {
namespace {

namespace fs = std::filesystem;
using test::run_process;

std::string guest_file(const std::string& file) {
    return std::string(EMBER_GUEST_DIR) + "/" + file;
}

test::ProcessResult ember(std::vector<std::string> args, int timeout_ms = 30000) {
    args.insert(args.begin(), EMBER_BINARY);
    return run_process(args, timeout_ms);
}

class LinuxBoot : public ::testing::Test {
protected:
    void SetUp() override { EMBER_REQUIRE_KVM(); }
};

TEST_F(LinuxBoot, HelloBzImageIsDetectedAndBoots) {
    auto r = ember({"--kernel", guest_file("hello.bzImage"), "--cmdline", "x"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "Hello from ember!\ncmdline: x\n");
}

TEST_F(LinuxBoot, HelloBzImageRefusesPvh) {
    auto r = ember({"--boot-protocol", "pvh", "--kernel", guest_file("hello.bzImage")});
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(r.out, "");
}

// docs/boot.md, "E820": RAM [0, 0x9fc00), reserved [0x9fc00, 1 MiB), RAM [1 MiB, min(RAM,
// 3 GiB)), RAM from 4 GiB for the rest.
std::string expected_e820(uint64_t mem_mib) {
    const uint64_t mem = mem_mib << 20, gap = 3ull << 30, four_gib = 4ull << 30;
    std::vector<std::string> lines = {"e820: 0x0 0x9fc00 1", "e820: 0x9fc00 0x100000 2",
                                      fmt::format("e820: 0x100000 {:#x} 1", std::min(mem, gap))};
    if (mem > gap)
        lines.push_back(fmt::format("e820: {:#x} {:#x} 1", four_gib, four_gib + mem - gap));
    std::string s = fmt::format("e820: {} entries\n", lines.size());
    for (const auto& l : lines)
        s += l + "\n";
    return s;
}

TEST_F(LinuxBoot, BootParamsE820With128Mib) {
    auto r = ember({"--boot-protocol", "linux", "--kernel", guest_file("bootparams.elf"),
                    "--mem-mib", "128", "--cmdline", "a=b c"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "e820: 3 entries\n"
                     "e820: 0x0 0x9fc00 1\n"
                     "e820: 0x9fc00 0x100000 2\n"
                     "e820: 0x100000 0x8000000 1\n"
                     "cmdline_ptr ok\n"
                     "loader: 0xff\n"
                     "initrd: 0 0\n");
    EXPECT_EQ(expected_e820(128), "e820: 3 entries\ne820: 0x0 0x9fc00 1\n"
                                  "e820: 0x9fc00 0x100000 2\ne820: 0x100000 0x8000000 1\n");
}

TEST_F(LinuxBoot, BootParamsE820With4GibHasRamAbove4Gib) {
    auto r = ember({"--boot-protocol", "linux", "--kernel", guest_file("bootparams.elf"),
                    "--mem-mib", "4096", "--cmdline", "big"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "e820: 4 entries\n"
                     "e820: 0x0 0x9fc00 1\n"
                     "e820: 0x9fc00 0x100000 2\n"
                     "e820: 0x100000 0xc0000000 1\n"
                     "e820: 0x100000000 0x140000000 1\n"
                     "cmdline_ptr ok\n"
                     "loader: 0xff\n"
                     "initrd: 0 0\n");
    EXPECT_EQ(r.out.substr(0, expected_e820(4096).size()), expected_e820(4096));
}

TEST_F(LinuxBoot, BootParamsReportsTheInitrd) {
    const fs::path dir = fs::temp_directory_path() / fmt::format("ember-linux-test-{}", ::getpid());
    fs::create_directories(dir);
    const fs::path initrd = dir / "small.initrd";
    constexpr uint64_t kSize = 10000;
    std::ofstream(initrd) << std::string(kSize, 'i');
    auto r = ember({"--boot-protocol", "linux", "--kernel", guest_file("bootparams.elf"),
                    "--mem-mib", "128", "--initrd", initrd.string(), "--cmdline", "x"});
    // Page-aligned, as high as it fits below the end of low RAM (docs/boot.md, "Initrd").
    const uint64_t addr = ((128ull << 20) - kSize) & ~uint64_t{0xfff};
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out,
              expected_e820(128) +
                  fmt::format("cmdline_ptr ok\nloader: 0xff\ninitrd: {:#x} {}\n", addr, kSize));
    fs::remove_all(dir);
}

TEST_F(LinuxBoot, BootParamsRefusesPvhEntry) {
    auto r = ember({"--kernel", guest_file("bootparams.elf")});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_EQ(r.out, "bootparams: entered through PVH, expected Linux\n");
}

TEST_F(LinuxBoot, SmpGuestStartsEveryApplicationProcessor) {
    for (int n : {1, 2, 4}) {
        auto r = ember({"--kernel", guest_file("smp.elf"), "--vcpus", std::to_string(n),
                        "--cmdline", fmt::format("cpus={}", n)});
        std::string ids;
        for (int i = 0; i < n; ++i)
            ids += fmt::format(" {}", i);
        EXPECT_EQ(r.status, 0) << n << ": " << r.err;
        EXPECT_EQ(r.out, fmt::format("smp: {} cpus online\nsmp: apic ids{}\n", n, ids)) << n;
    }
}

TEST_F(LinuxBoot, SmpGuestThroughTheLinuxEntry) {
    auto r = ember({"--boot-protocol", "linux", "--kernel", guest_file("smp.elf"), "--vcpus", "4",
                    "--cmdline", "cpus=4"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "smp: 4 cpus online\nsmp: apic ids 0 1 2 3\n");
}

TEST_F(LinuxBoot, SmpGuestReportsMissingProcessors) {
    auto r = ember({"--kernel", guest_file("smp.elf"), "--vcpus", "2", "--cmdline",
                    "cpus=3 smp_wait=1000000"});
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_EQ(r.out, "smp: 1 of 2 application processors came online; giving up\n");
}

} // namespace
} // namespace ember
