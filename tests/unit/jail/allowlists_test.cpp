// The built-in allowlists as data: every rule has a reason, names libseccomp knows, no
// duplicates, and the argument checks the design asks for are there.
#include "jail/filters/allowlists.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <set>

namespace ember::jail {
namespace {

FilterSet defaults() {
    return default_filters(FilterParams{SIGRTMIN});
}

std::string describe(const SyscallRule& r) {
    std::string s = r.name;
    for (const ArgCheck& a : r.args)
        s += fmt::format(" a{}{}{:#x}&{:#x}", a.index, static_cast<int>(a.op), a.value, a.mask);
    return s;
}

TEST(Allowlists, EveryRuleHasAReason) {
    const FilterSet set = defaults();
    for (const ThreadKind kind : kThreadKinds) {
        EXPECT_FALSE(set[kind].empty()) << thread_kind_name(kind);
        for (const SyscallRule& r : set[kind]) {
            EXPECT_GE(r.reason.size(), 10U) << thread_kind_name(kind) << ": " << r.name;
        }
    }
}

TEST(Allowlists, EveryNameResolves) {
    const FilterSet set = defaults();
    for (const ThreadKind kind : kThreadKinds) {
        for (const SyscallRule& r : set[kind]) {
            EXPECT_NE(seccomp_syscall_resolve_name(r.name.c_str()), __NR_SCMP_ERROR)
                << thread_kind_name(kind) << ": " << r.name;
        }
    }
}

TEST(Allowlists, NoDuplicates) {
    const FilterSet set = defaults();
    for (const ThreadKind kind : kThreadKinds) {
        std::set<std::string> seen;
        std::set<std::string> unconditional;
        for (const SyscallRule& r : set[kind]) {
            EXPECT_TRUE(seen.insert(describe(r)).second)
                << thread_kind_name(kind) << ": " << describe(r) << " twice";
            if (r.args.empty()) unconditional.insert(r.name);
        }
        // A conditional rule beside an unconditional one for the same call is dead weight.
        for (const SyscallRule& r : set[kind]) {
            if (r.args.empty()) continue;
            EXPECT_EQ(unconditional.count(r.name), 0U) << thread_kind_name(kind) << ": " << r.name;
        }
    }
}

TEST(Allowlists, IoctlIsAllowedOnlyForNamedRequests) {
    const FilterSet set = defaults();
    for (const ThreadKind kind : kThreadKinds) {
        for (const SyscallRule& r : set[kind]) {
            if (r.name != "ioctl") continue;
            ASSERT_EQ(r.args.size(), 1U) << thread_kind_name(kind) << ": " << r.reason;
            EXPECT_EQ(r.args[0].index, 1);
            EXPECT_EQ(r.args[0].op, CmpOp::kEq);
        }
    }
    const auto& api = set[ThreadKind::kApi];
    EXPECT_EQ(std::count_if(api.begin(), api.end(), [](auto& r) { return r.name == "ioctl"; }), 0);
}

TEST(Allowlists, NoThreadMapsExecutableMemory) {
    const FilterSet set = defaults();
    for (const ThreadKind kind : kThreadKinds) {
        for (const SyscallRule& r : set[kind]) {
            if (r.name != "mmap" && r.name != "mprotect" && r.name != "pkey_mprotect") continue;
            ASSERT_EQ(r.args.size(), 1U) << r.name;
            EXPECT_EQ(r.args[0].index, 2);
            EXPECT_EQ(r.args[0].op, CmpOp::kMaskedEq);
            EXPECT_EQ(r.args[0].mask & PROT_EXEC, uint64_t{PROT_EXEC});
            EXPECT_EQ(r.args[0].value & PROT_EXEC, 0U);
        }
    }
}

TEST(Allowlists, NoThreadCreatesSocketsOrProcessesFreely) {
    const FilterSet set = defaults();
    for (const ThreadKind kind : kThreadKinds) {
        for (const SyscallRule& r : set[kind]) {
            if (r.name == "socket") {
                // virtio-vsock's guest connections to <uds_path>_<port>: Unix sockets only.
                EXPECT_EQ(kind, ThreadKind::kVmm);
                ASSERT_EQ(r.args.size(), 1U);
                EXPECT_EQ(r.args[0].index, 0U);
                EXPECT_EQ(r.args[0].value, uint64_t{AF_UNIX});
            }
            EXPECT_NE(r.name, "execve") << thread_kind_name(kind);
            EXPECT_NE(r.name, "clone3") << thread_kind_name(kind);
            if (r.name == "clone") {
                EXPECT_EQ(kind, ThreadKind::kVmm); // the teardown fork only
                ASSERT_EQ(r.args.size(), 1U);
                EXPECT_EQ(r.args[0].value & CLONE_THREAD, 0U);
            }
        }
    }
}

TEST(Allowlists, OnlyTheVcpuRunsTheGuest) {
    const FilterSet set = defaults();
    for (const ThreadKind kind : kThreadKinds) {
        bool kvm_run = false;
        for (const SyscallRule& r : set[kind])
            kvm_run |= r.name == "ioctl" && r.args[0].value == KVM_RUN;
        EXPECT_EQ(kvm_run, kind == ThreadKind::kVcpu) << thread_kind_name(kind);
    }
}

TEST(Allowlists, TgkillSendsOnlyTheKickAndAbort) {
    const FilterSet set = default_filters(FilterParams{40});
    for (const ThreadKind kind : {ThreadKind::kVmm, ThreadKind::kVcpu}) {
        std::set<uint64_t> signals;
        for (const SyscallRule& r : set[kind]) {
            if (r.name != "tgkill") continue;
            ASSERT_EQ(r.args.size(), 1U);
            signals.insert(r.args[0].value);
        }
        EXPECT_EQ(signals, (std::set<uint64_t>{40, SIGABRT})) << thread_kind_name(kind);
    }
}

} // namespace
} // namespace ember::jail
