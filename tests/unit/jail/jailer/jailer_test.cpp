// The jailer's steps through FakeOs: their order, and what is undone after each failure.
#include "jail/jailer/jailer.hpp"

#include "tests/unit/jail/jailer/fake_os.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace ember::jailer {
namespace {

using test::FakeOs;

constexpr const char* kMountinfo =
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n";

struct Fixture {
    FakeOs os;
    JailerConfig cfg;
    Fixture() {
        cfg.id = "vm-1";
        cfg.exec_file = "/opt/ember";
        cfg.uid = 123;
        cfg.gid = 100;
        cfg.chroot_base = "/srv/j";
        cfg.limits = {{"no-file", RLIMIT_NOFILE, 2048}};
        cfg.exec_args = {"--kernel", "k.elf"};
        os.files["/opt/ember"] = {FileKind::kRegular, 0};
        os.files["/dev/kvm"] = {FileKind::kCharDevice, 1};
        os.contents["/proc/self/mountinfo"] = kMountinfo;
        os.contents["/proc/self/cgroup"] = "4:memory:/\n";
    }
    void with_cgroup() {
        cfg.cgroups = {{"memory", "memory.limit_in_bytes", "64M"}};
        os.files["/sys/fs/cgroup/memory/ember/vm-1/memory.limit_in_bytes"] = {FileKind::kRegular,
                                                                              0};
    }
    Outcome run() { return run_jailer(os, cfg); }
};

// Asserts that the calls named appear in this order (other calls may sit between them).
void expect_order(const FakeOs& os, const std::vector<std::string>& prefixes) {
    size_t from = 0;
    for (const auto& p : prefixes) {
        const int at = os.index_of(p, from);
        ASSERT_GE(at, 0) << "missing, or out of order: " << p << "\ncalls:\n"
                         << fmt::format("{}", fmt::join(os.calls, "\n"));
        from = static_cast<size_t>(at) + 1;
    }
}

TEST(Jailer, RunsEveryStepInFirecrackersOrder) {
    Fixture f;
    f.with_cgroup();
    f.cfg.netns = "/var/run/netns/blue";
    const auto out = f.run(); // FakeOs's exec "fails", so run returns
    expect_order(f.os, {"check_netns /var/run/netns/blue",
                        "close_fds 3",
                        "clear_env",
                        "mkdir /srv/j",
                        "mkdir /srv/j/ember",
                        "mkdir /srv/j/ember/vm-1",
                        "mkdir /srv/j/ember/vm-1/root",
                        "chown /srv/j/ember/vm-1/root 123:100",
                        "link_or_copy /opt/ember /srv/j/ember/vm-1/root/ember",
                        "rlimit 7 2048",
                        "mkdir /sys/fs/cgroup/memory/ember/vm-1",
                        "write /sys/fs/cgroup/memory/ember/vm-1/memory.limit_in_bytes 64M",
                        "write /sys/fs/cgroup/memory/ember/vm-1/cgroup.procs 4242",
                        "open_netns /var/run/netns/blue",
                        "start_watcher",
                        "unshare 0x20000",
                        "mount '' / 0x44000",
                        "mount '/srv/j/ember/vm-1/root' /srv/j/ember/vm-1/root 0x5000",
                        "chdir /srv/j/ember/vm-1/root",
                        "pivot_root . old_root",
                        "chdir /",
                        "umount /old_root",
                        "rmdir /old_root",
                        "mknod /dev/kvm 600",
                        "chown /dev/kvm 123:100",
                        "join_netns 7",
                        "drop_privileges 123:100",
                        "exec /ember [/ember --id vm-1 --kernel k.elf]"});
    EXPECT_LT(f.os.index_of("setsid"), 0);
    EXPECT_LT(f.os.index_of("fork"), 0);
    EXPECT_EQ(out.status, to_int(JailerExit::kExec));
}

TEST(Jailer, DaemonizeAndPidNamespaceComeAfterTheNetnsAndBeforeTheDrop) {
    Fixture f;
    f.cfg.daemonize = true;
    f.cfg.new_pid_ns = true;
    f.run();
    expect_order(f.os, {"mknod /dev/kvm", "setsid", "stdio_to_devnull", "unshare 0x20000000",
                        "fork", "sync_with_fork_peer", "drop_privileges 123:100", "exec /ember"});
}

TEST(Jailer, PidNamespaceParentWritesThePidFileAndPassesTheStatusOn) {
    Fixture f;
    f.cfg.new_pid_ns = true;
    f.os.fork_result = 555;
    const auto out = f.run();
    expect_order(f.os, {"fork", "release_watcher", "write /ember.pid 555 (create)",
                        "sync_with_fork_peer", "drop_privileges 123:100", "wait 555"});
    EXPECT_LT(f.os.index_of("exec"), 0);
    EXPECT_EQ(out.status, 7); // FakeOs's child status
    EXPECT_FALSE(out.error);
}

TEST(Jailer, ValidationFailuresTouchNothing) {
    struct Case {
        const char* name;
        std::function<void(Fixture&)> setup;
        JailerExit code;
        const char* message;
    };
    const std::vector<Case> cases{
        {"missing exec file", [](Fixture& f) { f.os.files.erase("/opt/ember"); },
         JailerExit::kMissingInput, "--exec-file '/opt/ember': no such file"},
        {"existing jail",
         [](Fixture& f) {
             f.os.files["/srv/j/ember/vm-1"] = {FileKind::kDirectory, 0};
         },
         JailerExit::kJailExists, "jail /srv/j/ember/vm-1 already exists"},
        {"no such netns",
         [](Fixture& f) {
             f.cfg.netns = "/var/run/netns/nope";
             f.os.fail_on = "check_netns";
         },
         JailerExit::kMissingInput, "--netns /var/run/netns/nope: create it with 'ip netns add"},
        {"unknown controller",
         [](Fixture& f) {
             f.cfg.cgroups = {{"io", "io.max", "1"}};
         },
         JailerExit::kCgroup, "no cgroup v1 hierarchy has the 'io' controller"},
    };
    for (const auto& c : cases) {
        Fixture f;
        c.setup(f);
        const auto out = f.run();
        EXPECT_EQ(out.status, to_int(c.code)) << c.name;
        ASSERT_TRUE(out.error) << c.name;
        EXPECT_NE(out.error->message().find(c.message), std::string::npos)
            << c.name << ": " << out.error->message();
        EXPECT_LT(f.os.index_of("mkdir"), 0) << c.name;
        EXPECT_LT(f.os.index_of("close_fds"), 0) << c.name;
    }
}

TEST(Jailer, FailureBeforeTheJailIsEnteredIsUndoneInPlace) {
    Fixture f;
    f.with_cgroup();
    f.os.fail_on = "write /sys/fs/cgroup/memory/ember/vm-1/memory.limit_in_bytes";
    const auto out = f.run();
    EXPECT_EQ(out.status, to_int(JailerExit::kCgroup));
    EXPECT_NE(out.error->message().find("the kernel refused the value"), std::string::npos);
    const int failed = f.os.index_of("write /sys/fs/cgroup/memory/ember/vm-1/memory");
    const std::vector<std::string> undo(f.os.calls.begin() + failed + 1, f.os.calls.end());
    const std::vector<std::string> expected{
        "rmdir /sys/fs/cgroup/memory/ember/vm-1", "rmdir /sys/fs/cgroup/memory/ember",
        "remove_tree /srv/j/ember/vm-1", "rmdir /srv/j/ember", "rmdir /srv/j"};
    EXPECT_EQ(undo, expected);
}

TEST(Jailer, FailureInsideTheJailIsUndoneByTheWatcher) {
    for (const char* step : {"pivot_root", "mknod /dev/kvm", "join_netns", "drop_privileges"}) {
        Fixture f;
        f.with_cgroup();
        f.cfg.netns = "/var/run/netns/blue";
        f.os.files["/srv/j"] = {FileKind::kDirectory, 0}; // shared with other jails: kept
        f.os.contents["/sys/fs/cgroup/memory/ember/vm-1/cgroup.procs"] = "4242\n";
        f.os.fail_on = step;
        const auto out = f.run();
        EXPECT_EQ(out.status, to_int(JailerExit::kSetup)) << step;
        EXPECT_EQ(f.os.calls.back(), "cleanup_via_watcher") << step;
        const std::vector<std::string> expected{
            "read /sys/fs/cgroup/memory/ember/vm-1/cgroup.procs",
            "write /sys/fs/cgroup/memory/cgroup.procs 4242",
            "rmdir /sys/fs/cgroup/memory/ember/vm-1",
            "rmdir /sys/fs/cgroup/memory/ember",
            "remove_tree /srv/j/ember/vm-1",
            "rmdir /srv/j/ember"};
        EXPECT_EQ(f.os.watcher_cleanup, expected) << step;
    }
}

TEST(Jailer, ExecFailureIsUndoneAndReported) {
    Fixture f;
    const auto out = f.run();
    EXPECT_EQ(out.status, to_int(JailerExit::kExec));
    EXPECT_EQ(out.error->message(), "fake exec");
    EXPECT_EQ(f.os.watcher_cleanup.back(), "rmdir /srv/j");
}

TEST(Jailer, AbsentHostDevicesAreSkipped) {
    Fixture f;
    f.os.files["/dev/net/tun"] = {FileKind::kCharDevice, 2};
    f.run();
    EXPECT_GE(f.os.index_of("mkdir /dev/net"), 0);
    EXPECT_GE(f.os.index_of("mknod /dev/net/tun 600"), 0);
    EXPECT_LT(f.os.index_of("mknod /dev/vhost-net"), 0);
    EXPECT_LT(f.os.index_of("mknod /dev/urandom"), 0);
}

} // namespace
} // namespace ember::jailer
