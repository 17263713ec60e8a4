// KVM tier: boots each test guest with the real ember binary and checks exact output and
// exit status, and checks the documented errors for bad inputs.
#include "tests/kvm/kvm_available.hpp"
#include "tests/kvm/subprocess.hpp"
#include "vmm/config.hpp"
#include "vmm/sys/exit_code.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace ember {
namespace {

namespace fs = std::filesystem;
using test::run_process;

std::string guest(const std::string& name) {
    return std::string(EMBER_GUEST_DIR) + "/" + name + ".elf";
}

test::ProcessResult ember(std::vector<std::string> args, int timeout_ms = 20000) {
    args.insert(args.begin(), EMBER_BINARY);
    return run_process(args, timeout_ms);
}

fs::path temp_file(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / fmt::format("ember-kvm-test-{}", ::getpid());
    fs::create_directories(dir);
    return dir / name;
}

class Boot : public ::testing::Test {
protected:
    void SetUp() override { EMBER_REQUIRE_KVM(); }
};

TEST_F(Boot, BundledHelloPrintsGreetingAndDefaultCmdline) {
    auto r = ember({});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, fmt::format("Hello from ember!\ncmdline: {}\n", VmConfig::kDefaultCmdline));
}

TEST_F(Boot, HelloFromFileEchoesTheCommandLine) {
    auto r = ember({"--kernel", guest("hello"), "--cmdline", "a b=c  quiet"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "Hello from ember!\ncmdline: a b=c  quiet\n");
}

TEST_F(Boot, GuestChoosesTheExitStatus) {
    for (int status : {0, 1, 42, 255}) {
        auto r = ember(
            {"--kernel", guest("exit_status"), "--cmdline", fmt::format("status={}", status)});
        EXPECT_EQ(r.status, status) << r.err;
        EXPECT_EQ(r.out, fmt::format("exit_status: exiting with {}\n", status));
    }
}

TEST_F(Boot, TripleFaultEndsTheVmWithAClearMessage) {
    auto r = ember({"--kernel", guest("triple_fault")});
    EXPECT_EQ(r.status, to_int(ExitCode::kGuestCrashed)) << r.err;
    EXPECT_NE(r.err.find("triple-fault"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("KVM_EXIT_SHUTDOWN"), std::string::npos) << r.err;
}

TEST_F(Boot, GuestExceptionHandlerReportsTheVector) {
    auto r = ember({"--kernel", guest("fault")});
    EXPECT_EQ(r.status, 0x7f) << r.err;
    EXPECT_NE(r.out.find("guest: exception 13"), std::string::npos) << r.out;
}

std::string expected_spew(int lines) {
    std::string s;
    for (int i = 0; i < lines; ++i)
        s += fmt::format("spew line {:07} abcdefghijklmnopqrstuvwxyz0123456789\n", i);
    s += fmt::format("spew: done {} lines\n", lines);
    return s;
}

TEST_F(Boot, LotsOfOutputArrivesByteForByte) {
    auto r = ember({"--kernel", guest("spew"), "--cmdline", "lines=20000"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out.size(), expected_spew(20000).size());
    EXPECT_TRUE(r.out == expected_spew(20000)) << "spew output differs";
}

TEST_F(Boot, SerialToFileAndToNowhere) {
    const fs::path out = temp_file("serial.txt");
    auto r =
        ember({"--kernel", guest("hello"), "--cmdline", "x", "--serial", "file:" + out.string()});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "");
    std::ifstream in(out);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(content, "Hello from ember!\ncmdline: x\n");

    auto none = ember({"--serial", "none"});
    EXPECT_EQ(none.status, 0) << none.err;
    EXPECT_EQ(none.out, "");
}

TEST_F(Boot, SeveralVcpusBootAndStopCleanly) {
    for (const char* n : {"2", "8", "32"}) {
        auto r = ember({"--vcpus", n, "--cmdline", "smp"});
        EXPECT_EQ(r.status, 0) << n << ": " << r.err;
        EXPECT_EQ(r.out, "Hello from ember!\ncmdline: smp\n");
    }
}

TEST_F(Boot, TimingsAreReportedOnRequest) {
    auto r = ember({"--timings"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("ember: timings: setup"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ember: exits:"), std::string::npos) << r.err;
}

TEST_F(Boot, MissingKernelFileIsReported) {
    auto r = ember({"--kernel", "/nonexistent/kernel.elf"});
    EXPECT_EQ(r.status, to_int(ExitCode::kNoInput));
    EXPECT_NE(r.err.find("/nonexistent/kernel.elf"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
}

TEST_F(Boot, NonElfKernelIsReported) {
    const fs::path bad = temp_file("bad.elf");
    std::ofstream(bad) << "this is not an ELF file, just text\n";
    auto r = ember({"--kernel", bad.string()});
    EXPECT_EQ(r.status, to_int(ExitCode::kBadInput));
    EXPECT_NE(r.err.find("not a kernel ember can boot"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("bzImage"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("PVH"), std::string::npos) << r.err;
}

TEST_F(Boot, InitrdTooLargeForMemoryIsReported) {
    const fs::path initrd = temp_file("big.initrd");
    { std::ofstream create(initrd); }
    fs::resize_file(initrd, 8 << 20);
    auto r = ember({"--mem-mib", "4", "--initrd", initrd.string()});
    EXPECT_EQ(r.status, to_int(ExitCode::kBadArguments)) << r.err;
    EXPECT_NE(r.err.find("does not fit"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--mem-mib"), std::string::npos) << r.err;
}

TEST_F(Boot, BadFlagsNameTheFlag) {
    auto r = ember({"--vcpus", "64"});
    EXPECT_EQ(r.status, to_int(ExitCode::kBadArguments));
    EXPECT_NE(r.err.find("--vcpus"), std::string::npos) << r.err;
    auto m = ember({"--mem-mib", "1"});
    EXPECT_EQ(m.status, to_int(ExitCode::kBadArguments));
}

TEST_F(Boot, HelpAndVersion) {
    auto h = ember({"--help"});
    EXPECT_EQ(h.status, 0);
    EXPECT_NE(h.out.find("--kernel"), std::string::npos);
    auto v = ember({"--version"});
    EXPECT_EQ(v.status, 0);
    EXPECT_EQ(v.out, std::string("ember ") + EMBER_VERSION + "\n");
}

} // namespace
} // namespace ember

namespace ember {
namespace {

TEST_F(Boot, I8042ResetEndsTheVmCleanly) {
    auto r =
        ember({"--kernel", guest("exit_status"), "--cmdline", "reset=1", "--log-level", "info"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "exit_status: resetting through the i8042\n");
    EXPECT_NE(r.err.find("reset through the i8042"), std::string::npos) << r.err;
}

} // namespace
} // namespace ember

namespace ember {
namespace {

// The test guests also have a Linux 64-bit entry (e_entry, %rsi = boot_params): forcing the
// Linux protocol boots them in long mode with ember's page tables, GDT and zero page.
TEST_F(Boot, LinuxBootProtocolBootsTheSameGuests) {
    auto hello =
        ember({"--boot-protocol", "linux", "--kernel", guest("hello"), "--cmdline", "via linux"});
    EXPECT_EQ(hello.status, 0) << hello.err;
    EXPECT_EQ(hello.out, "Hello from ember!\ncmdline: via linux\n");
    auto status = ember(
        {"--boot-protocol", "linux", "--kernel", guest("exit_status"), "--cmdline", "status=9"});
    EXPECT_EQ(status.status, 9) << status.err;
    auto fault = ember({"--boot-protocol", "linux", "--kernel", guest("fault")});
    EXPECT_EQ(fault.status, 0x7f) << fault.err;
    EXPECT_NE(fault.out.find("guest: exception 13"), std::string::npos) << fault.out;
    auto smp = ember({"--boot-protocol", "linux", "--vcpus", "4"});
    EXPECT_EQ(smp.status, 0) << smp.err;
}

TEST_F(Boot, LinuxProtocolTakesAnInitrd) {
    const fs::path initrd = temp_file("small.initrd");
    std::ofstream(initrd) << std::string(10000, 'i');
    auto r = ember({"--boot-protocol", "linux", "--initrd", initrd.string(), "--cmdline", "x"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "Hello from ember!\ncmdline: x\n");
}

TEST_F(Boot, UnknownBootProtocolNamesTheChoices) {
    auto r = ember({"--boot-protocol", "multiboot"});
    EXPECT_EQ(r.status, to_int(ExitCode::kBadArguments));
    EXPECT_NE(r.err.find("auto, pvh, linux"), std::string::npos) << r.err;
}

} // namespace
} // namespace ember
