// ember's threads under their seccomp filters (jail/, docs/seccomp.md): a forbidden call ends
// ember with 148 and a line naming the thread kind and the call; the guests run through whole
// boots with their devices under the built-in filters and under the same lists from a file.
// (The api thread's death test is tests/unit/api/http_server_seccomp_test.cpp: ember does not
// start its API server yet.)
#include "jail/filters/allowlists.hpp"
#include "jail/seccomp.hpp"
#include "jail/seccomp_json.hpp"
#include "tests/kvm/kvm_available.hpp"
#include "tests/kvm/subprocess.hpp"
#include "vmm/core/vcpu_thread.hpp"
#include "vmm/sys/exit_code.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace ember {
namespace {

namespace fs = std::filesystem;

std::string guest(const std::string& name) {
    return std::string(EMBER_GUEST_DIR) + "/" + name + ".elf";
}

class Seccomp : public ::testing::Test {
protected:
    void SetUp() override {
        EMBER_REQUIRE_KVM();
        if (!jail::kSeccompByDefault)
            GTEST_SKIP() << "sanitizer build: ASan and UBSan make system calls no filter lists";
        static int counter = 0;
        dir_ = fs::temp_directory_path() /
               fmt::format("ember-seccomp-test-{}-{}", ::getpid(), counter++);
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ignored;
        if (!dir_.empty()) fs::remove_all(dir_, ignored);
    }

    // The built-in filters as a file, less every rule for `syscall` in the `kind` thread.
    std::string filter_file(jail::ThreadKind kind = jail::ThreadKind::kApi,
                            const std::vector<std::string>& drop = {}) {
        jail::FilterSet set = jail::default_filters(jail::FilterParams{VcpuThread::kick_signal()});
        const size_t before = set[kind].size();
        std::erase_if(set[kind], [&](const jail::SyscallRule& r) {
            return std::find(drop.begin(), drop.end(), r.name) != drop.end();
        });
        EXPECT_EQ(set[kind].size() == before, drop.empty()) << "nothing to drop";
        const fs::path path = dir_ / "filter.json";
        std::ofstream(path) << jail::to_filter_json(set);
        return path.string();
    }
    std::string image() {
        const fs::path path = dir_ / "disk.img";
        std::ofstream(path, std::ios::binary) << std::string(size_t{4} << 20, '\0');
        return path.string();
    }

    static test::ProcessResult ember(std::vector<std::string> args) {
        args.insert(args.begin(), EMBER_BINARY);
        return test::run_process(args, 60000);
    }

    fs::path dir_;
};

constexpr int kViolation = to_int(ExitCode::kSeccompViolation);

TEST_F(Seccomp, AVcpuWithoutKvmRunEndsEmberBeforeTheGuestRuns) {
    auto r = ember({"--seccomp-filter", filter_file(jail::ThreadKind::kVcpu, {"ioctl"})});
    EXPECT_EQ(r.status, kViolation) << r.err;
    EXPECT_EQ(r.out, ""); // not one guest instruction ran
    EXPECT_NE(r.err.find("ember: error: seccomp: the vcpu thread made a forbidden system call: "
                         "16 (ioctl)"),
              std::string::npos)
        << r.err;
}

TEST_F(Seccomp, AViolationFlushesALastMetricsLine) {
    const std::string metrics = (dir_ / "metrics.json").string();
    auto r = ember({"--seccomp-filter", filter_file(jail::ThreadKind::kVcpu, {"ioctl"}),
                    "--metrics-path", metrics});
    EXPECT_EQ(r.status, kViolation) << r.err;
    std::ifstream in(metrics);
    std::string line;
    ASSERT_TRUE(std::getline(in, line)) << "no metrics line";
    EXPECT_NE(line.find(R"("seccomp":{"violations":1,"thread":"vcpu","syscall":16,)"
                        R"("name":"ioctl"}})"),
              std::string::npos)
        << line;
}

TEST_F(Seccomp, AVmmThreadWithoutItsEventLoopEndsEmber) {
    auto r = ember(
        {"--seccomp-filter", filter_file(jail::ThreadKind::kVmm, {"epoll_wait", "epoll_pwait"})});
    EXPECT_EQ(r.status, kViolation) << r.err;
    EXPECT_NE(r.err.find("ember: error: seccomp: the vmm thread made a forbidden system call: "
                         "232 (epoll_wait)"),
              std::string::npos)
        << r.err;
}

TEST_F(Seccomp, AVmmThreadThatCannotForkTheTeardownEndsEmberAfterTheGuest) {
    // The teardown child is forked after the run, under the VMM thread's filter.
    auto r = ember({"--seccomp-filter", filter_file(jail::ThreadKind::kVmm, {"clone"})});
    EXPECT_EQ(r.status, kViolation) << r.err;
    EXPECT_NE(r.out.find("Hello from ember!"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("the vmm thread made a forbidden system call: 56 (clone)"),
              std::string::npos)
        << r.err;
}

TEST_F(Seccomp, TheBuiltInListsFromAFileBootTheGuest) {
    auto r = ember({"--seccomp-filter", filter_file()});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("Hello from ember!"), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
}

TEST_F(Seccomp, VirtioBlkGuestsRunThroughWholeBootsUnderTheFilters) {
    // Both engines, a writeback cache (FLUSH), and the hostile guest, whose device resets run
    // on the vCPU thread; each with the built-in filters and with them from a file.
    const std::string file = filter_file();
    for (const std::vector<std::string>& filter :
         {std::vector<std::string>{}, std::vector<std::string>{"--seccomp-filter", file}})
        for (const auto& [cmdline, options] :
             {std::pair{"blk=selftest seed=3", ",engine=sync,cache=writeback"},
              std::pair{"blk=selftest seed=4", ",engine=io_uring,cache=writeback"},
              std::pair{"blk=hostile", ""}}) {
            std::vector<std::string> args{"--kernel",  guest("virtio_blk"),
                                          "--cmdline", cmdline,
                                          "--drive",   fmt::format("path={}{}", image(), options)};
            args.insert(args.end(), filter.begin(), filter.end());
            auto r = ember(args);
            if (r.status != 0 && r.err.find("forbidden system call") == std::string::npos &&
                r.err.find("io_uring") != std::string::npos)
                continue; // this host has no io_uring (VirtioBlk.* says so too)
            EXPECT_EQ(r.status, 0) << cmdline << options << "\n" << r.out << r.err;
            EXPECT_EQ(r.err.find("forbidden system call"), std::string::npos) << r.err;
            EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
        }
}

TEST_F(Seccomp, AConsoleOnATerminalIsRestoredUnderTheVmmFilter) {
    // On a terminal ember sets raw mode before the filters and restores it (tcsetattr: TCSETS,
    // then TCGETS to check) under the VMM thread's filter. script(1) gives it a pty.
    if (std::system("script --version >/dev/null 2>&1") != 0)
        GTEST_SKIP() << "script(1) is not installed";
    auto r = test::run_process({"/usr/bin/script", "-qec", EMBER_BINARY, "/dev/null"}, 60000);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("Hello from ember!"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("forbidden system call"), std::string::npos) << r.out;
}

TEST_F(Seccomp, NoSeccompIsLoggedAtWarn) {
    auto r = ember({"--no-seccomp"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.err, "ember: warn: seccomp is off (--no-seccomp): ember's threads may make any "
                     "system call\n");
}

TEST_F(Seccomp, BadFilterFilesAreRefusedBeforeKvm) {
    auto missing = ember({"--seccomp-filter", (dir_ / "none.json").string()});
    EXPECT_EQ(missing.status, to_int(ExitCode::kNoInput)) << missing.err;
    EXPECT_NE(missing.err.find("--seccomp-filter"), std::string::npos) << missing.err;

    std::ofstream(dir_ / "bad.json") << R"({"vmm": {"filter": [{"syscall": "no_such_call"}]},
        "api": {"filter": []}, "vcpu": {"filter": []}})";
    auto bad = ember({"--seccomp-filter", (dir_ / "bad.json").string()});
    EXPECT_EQ(bad.status, to_int(ExitCode::kBadInput)) << bad.err;
    EXPECT_NE(bad.err.find("the vmm filter allows 'no_such_call'"), std::string::npos) << bad.err;

    auto both = ember({"--no-seccomp", "--seccomp-filter", (dir_ / "bad.json").string()});
    EXPECT_EQ(both.status, to_int(ExitCode::kBadArguments)) << both.err;
}

} // namespace
} // namespace ember
