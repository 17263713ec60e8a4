// Building filters with libseccomp, installing them on one thread, and the SIGSYS report.
#include "jail/filters/allowlists.hpp"
#include "jail/seccomp.hpp"
#include "jail/seccomp_filter.hpp"
#include "jail/seccomp_violation.hpp"
#include "vmm/sys/exit_code.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <thread>

namespace ember::jail {
namespace {

TEST(SeccompFilter, EveryBuiltInFilterCompiles) {
    const FilterSet set = default_filters(FilterParams{SIGRTMIN});
    for (const ThreadKind kind : kThreadKinds) {
        auto f = SeccompFilter::compile(kind, set[kind]);
        ASSERT_TRUE(f.has_value()) << f.error().describe();
        EXPECT_EQ(f->kind(), kind);
        EXPECT_GT(f->program().size(), set[kind].size()); // at least a jump per rule
        EXPECT_LE(f->program().size(), size_t{BPF_MAXINSNS});
    }
}

TEST(SeccompFilter, UnknownSyscallNameIsRefusedWithItsName) {
    auto f = SeccompFilter::compile(ThreadKind::kVcpu, {{"no_such_call", "a reason", {}}});
    ASSERT_FALSE(f.has_value());
    EXPECT_EQ(f.error().code(), Errc::kInvalidInput);
    EXPECT_NE(f.error().message().find("vcpu filter allows 'no_such_call'"), std::string::npos)
        << f.error().message();
}

TEST(SeccompFilter, ArgumentIndexPastFiveIsRefused) {
    auto f = SeccompFilter::compile(ThreadKind::kApi, {{"read", "r", {arg_eq(6, 0)}}});
    ASSERT_FALSE(f.has_value());
    EXPECT_NE(f.error().message().find("argument index 6 (use 0 to 5)"), std::string::npos)
        << f.error().message();
}

TEST(SeccompFilter, MoreRulesMakeALongerProgram) {
    auto small = SeccompFilter::compile(ThreadKind::kApi, {{"read", "r", {}}});
    auto large = SeccompFilter::compile(ThreadKind::kApi,
                                        {{"read", "r", {}}, {"ioctl", "i", {arg_eq(1, 1)}}});
    ASSERT_TRUE(small && large);
    EXPECT_GT(large->program().size(), small->program().size());
}

TEST(SeccompFilter, AThreadUnderItsFilterMakesTheCallsItAllows) {
    if (!jail::kSeccompByDefault)
        GTEST_SKIP() << "sanitizer build: ASan and UBSan make system calls no filter lists";
    // A thread of its own: the filter ends with it and the test process stays unfiltered.
    Allowlist list = common_rules();
    list.push_back({"getppid", "the test's allowed call", {}});
    list.push_back({"exit", "the thread ends", {}});
    auto f = SeccompFilter::compile(ThreadKind::kApi, list);
    ASSERT_TRUE(f.has_value()) << f.error().describe();
    long parent = -1;
    std::string error;
    std::thread t([&] {
        if (auto r = f->apply(); !r) error = r.error().describe();
        parent = ::syscall(SYS_getppid);
    });
    t.join();
    EXPECT_EQ(error, "");
    EXPECT_EQ(parent, ::getppid());
}

TEST(SeccompFilterDeathTest, AForbiddenCallEndsTheProcessWith148AndNamesIt) {
    if (!jail::kSeccompByDefault)
        GTEST_SKIP() << "sanitizer build: ASan and UBSan make system calls no filter lists";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto f = SeccompFilter::compile(ThreadKind::kVcpu, common_rules());
    ASSERT_TRUE(f.has_value()) << f.error().describe();
    EXPECT_EXIT(
        {
            if (f->apply()) ::syscall(SYS_getppid);
            ::_exit(0);
        },
        ::testing::ExitedWithCode(to_int(ExitCode::kSeccompViolation)),
        "ember: error: seccomp: the vcpu thread made a forbidden system call: 110 \\(getppid\\)");
}

TEST(SeccompFilterDeathTest, AnotherAbisCallKillsTheWholeProcess) {
    if (!jail::kSeccompByDefault)
        GTEST_SKIP() << "sanitizer build: ASan and UBSan make system calls no filter lists";
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto f = SeccompFilter::compile(ThreadKind::kVmm, common_rules());
    ASSERT_TRUE(f.has_value()) << f.error().describe();
    EXPECT_EXIT(
        {
            // On a second thread: killing only that thread would let the process go on.
            std::thread t([&] {
                if (!f->apply()) return;
                long r = 20; // getpid in the i386 ABI, which the handler would misname
                asm volatile("int $0x80" : "+a"(r) : : "memory");
            });
            t.join();
            ::_exit(0);
        },
        ::testing::KilledBySignal(SIGSYS), "");
}

TEST(SeccompViolation, TheLineNamesKindNumberNameAndCode) {
    std::array<char, 512> buf{};
    const size_t n = format_violation(buf, "vmm", 232, "epoll_wait");
    EXPECT_EQ(std::string(buf.data(), n),
              "ember: error: seccomp: the vmm thread made a forbidden system call: 232 "
              "(epoll_wait); if ember needs it there, allow it in jail/filters/ "
              "(docs/seccomp.md). Exiting with 148\n");
    const size_t m = format_violation(buf, "api", 999, nullptr);
    EXPECT_NE(std::string(buf.data(), m).find(": 999 (unknown)"), std::string::npos);
}

TEST(SeccompViolation, ALongLineIsCutNotOverrun) {
    std::array<char, 16> buf{};
    EXPECT_EQ(format_violation(buf, "vcpu", 16, "ioctl"), buf.size());
}

TEST(SeccompFilters, OffPreparesNothingAndApplyIsANoOp) {
    auto f = SeccompFilters::prepare(SeccompConfig{SeccompConfig::Mode::kOff, {}},
                                     FilterParams{SIGRTMIN}, {ThreadKind::kVmm});
    ASSERT_TRUE(f.has_value());
    EXPECT_FALSE(f->enabled());
    EXPECT_TRUE(f->apply(ThreadKind::kApi).has_value());
}

TEST(SeccompFilters, AKindNotPreparedIsAnInternalError) {
    auto f = SeccompFilters::prepare(SeccompConfig{SeccompConfig::Mode::kBuiltIn, {}},
                                     FilterParams{SIGRTMIN}, {ThreadKind::kVmm});
    ASSERT_TRUE(f.has_value()) << f.error().describe();
    EXPECT_TRUE(f->enabled());
    auto r = f->apply(ThreadKind::kApi); // refused before anything is installed
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), Errc::kInternal);
}

TEST(SeccompFilters, AMissingFilterFileIsNotFound) {
    auto f = SeccompFilters::prepare(SeccompConfig{SeccompConfig::Mode::kFile, "/no/such.json"},
                                     FilterParams{SIGRTMIN}, {ThreadKind::kVmm});
    ASSERT_FALSE(f.has_value());
    EXPECT_EQ(f.error().code(), Errc::kNotFound);
    EXPECT_NE(f.error().message().find("--seccomp-filter '/no/such.json'"), std::string::npos);
}

} // namespace
} // namespace ember::jail
