// ember-jailer on the real kernel, as root: what a jailed process sees and is, checked from
// inside (jail_probe's report) and from outside (/proc/<pid>, the cgroup files).
#include "tests/jail/child.hpp"
#include "tests/jail/jail_fixture.hpp"

#include <fcntl.h>
#include <signal.h>

namespace ember::test {
namespace {

bool has_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

TEST_F(JailTest, ChrootedUnprivilegedInTheRequestedNamespacesAndV1Cgroups) {
    const std::string memory = mount_of(1, "memory");
    const std::string cpu = mount_of(1, "cpu");
    const std::string cpuset = mount_of(1, "cpuset");
    if (memory.empty() || cpu.empty() || cpuset.empty())
        GTEST_SKIP() << "no cgroup v1 memory, cpu and cpuset hierarchies";
    const std::string ns = add_netns();
    // An fd without O_CLOEXEC: the jailer must close it, not hand it to the jail.
    const int leaked = ::open("/", O_RDONLY | O_DIRECTORY);
    ASSERT_GE(leaked, 3);
    Child child(jailer(JAIL_PROBE, {"--netns", ns, "--new-pid-ns", "--cgroup",
                                    "memory.limit_in_bytes=64M", "--cgroup", "cpu.shares=256",
                                    "--cgroup", "cpuset.cpus=0", "--", "--wait"}));
    ::close(leaked);
    const std::string report = child.read_until("ready\n");
    ASSERT_NE(report.find("ready"), std::string::npos) << report;

    // From inside: the jail's files only, PID 1, the uid/gid, no capabilities, the netns.
    EXPECT_TRUE(has_line(report, "id: " + id_)) << report;
    EXPECT_TRUE(has_line(report, "pid: 1")) << report;
    EXPECT_TRUE(has_line(report, fmt::format("uid: {0} {0} {0}", kUid))) << report;
    EXPECT_TRUE(has_line(report, fmt::format("gid: {0} {0} {0}", kGid))) << report;
    EXPECT_TRUE(has_line(report, "groups: 0")) << report;
    EXPECT_TRUE(has_line(report, "caps: 0 0 0 0")) << report;
    EXPECT_TRUE(has_line(report, "cwd: /")) << report;
    EXPECT_TRUE(has_line(report, "root: dev jail_probe jail_probe.pid")) << report;
    EXPECT_TRUE(has_line(report, "ifaces: ejttap0 lo")) << report;
    EXPECT_TRUE(has_line(report, "env: 0")) << report;
    EXPECT_TRUE(has_line(report, "fds: 0 1 2")) << report;
    EXPECT_TRUE(has_line(report, "nofile: 2048")) << report;

    // From outside: the jailer wrote the child's host pid into the jail, as Firecracker does.
    const pid_t pid = std::stoi(slurp(root() + "/jail_probe.pid"));
    EXPECT_EQ(proc_status(pid, "CapEff"), "0000000000000000");
    EXPECT_EQ(proc_status(pid, "CapPrm"), "0000000000000000");
    EXPECT_EQ(proc_status(pid, "NoNewPrivs"), "1");
    EXPECT_EQ(proc_status(pid, "NSpid"), fmt::format("{} 1", pid));
    EXPECT_EQ(proc_status(pid, "Uid"), fmt::format("{0} {0} {0} {0}", kUid));
    struct stat netns {};
    struct stat seen {};
    ASSERT_EQ(::stat(("/var/run/netns/" + ns).c_str(), &netns), 0);
    ASSERT_EQ(::stat(fmt::format("/proc/{}/ns/net", pid).c_str(), &seen), 0);
    EXPECT_EQ(seen.st_ino, netns.st_ino);
    // Its root is the jail's root directory (same inode), which holds only what the jailer put.
    struct stat its_root {};
    struct stat jail_root {};
    ASSERT_EQ(::stat(fmt::format("/proc/{}/root/", pid).c_str(), &its_root), 0);
    ASSERT_EQ(::stat(root().c_str(), &jail_root), 0);
    EXPECT_EQ(its_root.st_ino, jail_root.st_ino);
    EXPECT_EQ(its_root.st_dev, jail_root.st_dev);
    for (const auto& m : {memory, cpu, cpuset}) {
        const std::string procs = slurp(cgroup(m) + "/cgroup.procs");
        EXPECT_TRUE(has_line(procs, std::to_string(pid))) << m << ": " << procs;
    }
    EXPECT_EQ(trimmed(slurp(cgroup(memory) + "/memory.limit_in_bytes")), "67108864");
    EXPECT_EQ(trimmed(slurp(cgroup(cpu) + "/cpu.shares")), "256");
    EXPECT_EQ(trimmed(slurp(cgroup(cpuset) + "/cpuset.cpus")), "0");
    // A new v1 cpuset cgroup has no memory nodes until the jailer copies its parent's.
    EXPECT_EQ(trimmed(slurp(cgroup(cpuset) + "/cpuset.mems")),
              trimmed(slurp(cpuset + "/cpuset.mems")));
    EXPECT_EQ(child.finish(), 0) << child.err;
}

TEST_F(JailTest, JoinsTheUnifiedV2Hierarchy) {
    const std::string unified = mount_of(2);
    if (unified.empty()) GTEST_SKIP() << "no cgroup2 mount";
    const std::string offered = slurp(unified + "/cgroup.controllers");
    const bool hugetlb = offered.find("hugetlb") != std::string::npos &&
                         std::filesystem::exists("/sys/kernel/mm/hugepages/hugepages-2048kB");
    if (!hugetlb) GTEST_SKIP() << "the v2 hierarchy offers no hugetlb (2 MB) controller here";
    const bool was_enabled =
        slurp(unified + "/cgroup.subtree_control").find("hugetlb") != std::string::npos;
    // Undo the jailer's +hugetlb on the way out, even after a failed assertion.
    struct Restore {
        std::string unified, parent, cgroup;
        bool enabled;
        ~Restore() {
            std::ofstream(parent + "/cgroup.subtree_control") << "-hugetlb";
            ::rmdir(cgroup.c_str());
            if (!enabled) std::ofstream(unified + "/cgroup.subtree_control") << "-hugetlb";
        }
    } restore{unified, unified + "/" + tag_, cgroup(unified), was_enabled};
    Child child(jailer(JAIL_PROBE, {"--cgroup-version", "2", "--cgroup", "hugetlb.2MB.max=4194304",
                                    "--", "--wait"}));
    ASSERT_NE(child.read_until("ready\n").find("ready"), std::string::npos) << child.out;
    // Without --new-pid-ns the jailer became the probe: our child's pid is in the cgroup.
    EXPECT_TRUE(has_line(slurp(cgroup(unified) + "/cgroup.procs"), std::to_string(child.pid())));
    EXPECT_EQ(trimmed(slurp(cgroup(unified) + "/hugetlb.2MB.max")), "4194304");
    EXPECT_EQ(proc_status(child.pid(), "CapEff"), "0000000000000000");
    EXPECT_EQ(child.finish(), 0) << child.err;
}

TEST_F(JailTest, PidNamespaceParentForwardsSigterm) {
    Child child(jailer(JAIL_PROBE, {"--new-pid-ns", "--", "--wait"}));
    ASSERT_NE(child.read_until("ready\n").find("ready"), std::string::npos) << child.out;
    ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
    // Before finish(), which closes the probe's stdin (and so would end it with 0).
    EXPECT_NE(child.read_until("sigterm\n", 5000).find("sigterm"), std::string::npos) << child.out;
    EXPECT_EQ(child.finish(5000), 143) << child.err;
}

TEST_F(JailTest, DaemonizeDetachesAndSilencesStdio) {
    Child child(jailer(JAIL_PROBE, {"--daemonize", "--", "--report", "/report.txt"}));
    EXPECT_EQ(child.finish(), 0) << child.err;
    const std::string report = slurp(root() + "/report.txt");
    const auto pid_line = report.substr(report.find("pid: ") + 5);
    const std::string pid = pid_line.substr(0, pid_line.find('\n'));
    EXPECT_TRUE(has_line(report, "sid: " + pid)) << report; // setsid: it leads a session
    EXPECT_TRUE(has_line(report, "stdin: 1:3")) << report;  // /dev/null
    EXPECT_TRUE(child.out.empty()) << child.out;
}

TEST_F(JailTest, EmberBootsTheBundledGuestInTheJail) {
    if (!EMBER_STATIC_BUILD)
        GTEST_SKIP() << "ember is linked dynamically (sanitizer build); "
                        "the jail has no shared libraries";
    if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/kvm";
    const std::string cpu = mount_of(1, "cpu");
    std::vector<std::string> extra{"--new-pid-ns"};
    if (!cpu.empty()) extra.insert(extra.end(), {"--cgroup", "cpu.shares=512"});
    extra.insert(extra.end(), {"--", "--timings"});
    Child child(jailer(EMBER_BINARY, extra));
    EXPECT_EQ(child.finish(), 0) << child.err;
    EXPECT_NE(child.out.find("Hello from ember!"), std::string::npos) << child.out << child.err;
    EXPECT_NE(child.err.find("guest status 0"), std::string::npos) << child.err;
    EXPECT_TRUE(std::filesystem::exists(root("ember") + "/dev/kvm"));
}

} // namespace
} // namespace ember::test
