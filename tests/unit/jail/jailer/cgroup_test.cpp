#include "jail/jailer/cgroup.hpp"

#include "tests/unit/jail/jailer/fake_os.hpp"

#include <gtest/gtest.h>

namespace ember::jailer {
namespace {

using test::FakeOs;

// A hybrid host: v1 per-controller hierarchies plus the unified v2 mount (this project's hosts).
constexpr const char* kMountinfo =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
constexpr const char* kSelf = "4:memory:/jobs/7\n3:cpuset:/\n1:cpu,cpuacct:/\n0::/user.slice\n";

JailerConfig config(std::vector<CgroupSetting> settings, int version = 1) {
    JailerConfig c;
    c.id = "vm-1";
    c.exec_file = "/bin/ember";
    c.cgroups = std::move(settings);
    c.cgroup_version = version;
    return c;
}

TEST(JailerCgroup, ParsesV1ControllersAndTheV2Mount) {
    const auto mounts = parse_mountinfo(kMountinfo);
    ASSERT_EQ(mounts.size(), 5U);
    EXPECT_EQ(mounts[0].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_EQ(mounts[0].controllers, (std::vector<std::string>{"cpu", "cpuacct"}));
    EXPECT_TRUE(mounts[3].controllers.empty()); // name=systemd is no controller
    EXPECT_EQ(mounts[4].version, 2);
    EXPECT_EQ(mounts[4].mount_point, "/sys/fs/cgroup/unified");
}

TEST(JailerCgroup, V1GroupsSettingsByHierarchyAndFindsTheOrigin) {
    FakeOs os;
    const auto plan = plan_cgroups(os,
                                   config({{"cpu", "cpu.shares", "512"},
                                           {"memory", "memory.limit_in_bytes", "1M"},
                                           {"cpuacct", "cpuacct.x", "1"}}),
                                   kMountinfo, kSelf);
    ASSERT_TRUE(plan) << plan.error().message();
    ASSERT_EQ(plan->size(), 2U);
    EXPECT_EQ((*plan)[0].dir, "/sys/fs/cgroup/cpu,cpuacct/ember/vm-1");
    EXPECT_EQ((*plan)[0].settings.size(), 2U);
    EXPECT_EQ((*plan)[0].origin_procs, "/sys/fs/cgroup/cpu,cpuacct/cgroup.procs");
    EXPECT_EQ((*plan)[1].dir, "/sys/fs/cgroup/memory/ember/vm-1");
    EXPECT_EQ((*plan)[1].origin_procs, "/sys/fs/cgroup/memory/jobs/7/cgroup.procs");
}

TEST(JailerCgroup, UnknownControllerNamesWhatIsMounted) {
    FakeOs os;
    const auto plan = plan_cgroups(os, config({{"io", "io.max", "1"}}), kMountinfo, kSelf);
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().message(),
              "--cgroup io.max: no cgroup v1 hierarchy has the 'io' controller (mounted: cpu, "
              "cpuacct, cpuset, memory); fix the file name or try --cgroup-version 2");
    EXPECT_TRUE(os.index_of("mkdir") < 0);
}

TEST(JailerCgroup, V2NeedsTheControllerInTheUnifiedHierarchy) {
    FakeOs os;
    os.contents["/sys/fs/cgroup/unified/cgroup.controllers"] = "hugetlb pids\n";
    const auto bad = plan_cgroups(os, config({{"cpu", "cpu.weight", "5"}}, 2), kMountinfo, kSelf);
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("has no 'cpu' controller (it offers: hugetlb pids)"),
              std::string::npos)
        << bad.error().message();
    const auto ok = plan_cgroups(os, config({{"pids", "pids.max", "5"}}, 2), kMountinfo, kSelf);
    ASSERT_TRUE(ok);
    EXPECT_EQ((*ok)[0].dir, "/sys/fs/cgroup/unified/ember/vm-1");
    EXPECT_EQ((*ok)[0].origin_procs, "/sys/fs/cgroup/unified/user.slice/cgroup.procs");
}

TEST(JailerCgroup, AnExistingCgroupIsRefused) {
    FakeOs os;
    os.files["/sys/fs/cgroup/memory/ember/vm-1"] = {FileKind::kDirectory, 0};
    const auto plan =
        plan_cgroups(os, config({{"memory", "memory.limit_in_bytes", "1"}}), kMountinfo, kSelf);
    ASSERT_FALSE(plan);
    EXPECT_NE(plan.error().message().find("already exists"), std::string::npos);
}

TEST(JailerCgroup, SetupMakesDirsWritesValuesThenJoins) {
    FakeOs os;
    os.contents["/sys/fs/cgroup/unified/cgroup.controllers"] = "pids";
    os.contents["/sys/fs/cgroup/unified/ember/cgroup.subtree_control"] = "pids\n";
    os.files["/sys/fs/cgroup/unified/ember/vm-1/pids.max"] = {FileKind::kRegular, 0};
    const auto plan = plan_cgroups(os, config({{"pids", "pids.max", "5"}}, 2), kMountinfo, kSelf);
    ASSERT_TRUE(plan);
    os.calls.clear();
    Rollback rollback;
    ASSERT_TRUE(setup_cgroups(os, *plan, 99, rollback));
    const std::vector<std::string> expected{
        "read /sys/fs/cgroup/unified/cgroup.subtree_control",
        "write /sys/fs/cgroup/unified/cgroup.subtree_control +pids",
        "mkdir /sys/fs/cgroup/unified/ember",
        "read /sys/fs/cgroup/unified/ember/cgroup.subtree_control",
        "mkdir /sys/fs/cgroup/unified/ember/vm-1",
        "write /sys/fs/cgroup/unified/ember/vm-1/pids.max 5",
        "write /sys/fs/cgroup/unified/ember/vm-1/cgroup.procs 99",
    };
    EXPECT_EQ(os.calls, expected);
    // The rollback undoes it newest first: leave the cgroup, remove it, its parent, the +pids.
    FakeOs undo;
    undo.contents["/sys/fs/cgroup/unified/ember/vm-1/cgroup.procs"] = "99\n100\n";
    rollback.run(undo);
    const std::vector<std::string> undone{
        "read /sys/fs/cgroup/unified/ember/vm-1/cgroup.procs",
        "write /sys/fs/cgroup/unified/user.slice/cgroup.procs 99",
        "write /sys/fs/cgroup/unified/user.slice/cgroup.procs 100",
        "rmdir /sys/fs/cgroup/unified/ember/vm-1",
        "rmdir /sys/fs/cgroup/unified/ember",
        "write /sys/fs/cgroup/unified/cgroup.subtree_control -pids",
    };
    EXPECT_EQ(undo.calls, undone);
}

TEST(JailerCgroup, UnknownFileFailsBeforeAnyValueIsWritten) {
    FakeOs os;
    os.files["/sys/fs/cgroup/cpuset/ember"] = {FileKind::kDirectory, 0};
    const auto plan =
        plan_cgroups(os, config({{"cpuset", "cpuset.bogus", "0"}}), kMountinfo, kSelf);
    ASSERT_TRUE(plan);
    Rollback rollback;
    const auto r = setup_cgroups(os, *plan, 99, rollback);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("the 'cpuset' controller has no file 'cpuset.bogus'"),
              std::string::npos);
    // v1 cpuset: the new cgroup inherits the parent's cpus and mems before anything else.
    EXPECT_GE(os.index_of("read /sys/fs/cgroup/cpuset/ember/vm-1/cpuset.cpus"), 0);
    EXPECT_LT(os.index_of("write /sys/fs/cgroup/cpuset/ember/vm-1/cgroup.procs"), 0);
    ASSERT_EQ(rollback.actions().size(), 1U); // only the dir we made; ember/ existed
    EXPECT_EQ(rollback.actions()[0].path, "/sys/fs/cgroup/cpuset/ember/vm-1");
}

} // namespace
} // namespace ember::jailer
