#include "jail/jailer/config.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace ember::jailer {
namespace {

Result<JailerRequest> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "ember-jailer");
    return parse_jailer_cli(args);
}

const std::vector<std::string> kRequired{"--id",  "vm-1", "--exec-file", "/usr/bin/ember",
                                         "--uid", "123",  "--gid",       "100"};

std::vector<std::string> with(std::vector<std::string> extra) {
    std::vector<std::string> args = kRequired;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
}

TEST(JailerConfig, IdAllowsLettersDigitsAndDashUpTo64) {
    EXPECT_TRUE(validate_id("a"));
    EXPECT_TRUE(validate_id("VM-42-abc"));
    EXPECT_TRUE(validate_id(std::string(64, 'x')));
    for (const char* bad : {"", "a_b", "../x", "a/b", "a b", "vm.1"}) {
        const auto r = validate_id(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message().find("1 to 64 letters, digits and '-'"), std::string::npos);
    }
    EXPECT_FALSE(validate_id(std::string(65, 'x')));
}

TEST(JailerConfig, UidAndGidMustBeNumbers) {
    const auto r = parse({"--id", "a", "--exec-file", "e", "--uid", "nobody", "--gid", "1"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(),
              "--uid 'nobody': not a number; give a numeric id (e.g. --uid 1000), not a name");
    EXPECT_FALSE(parse_numeric_id("--gid", "-1"));
    EXPECT_FALSE(parse_numeric_id("--gid", "4294967295"));
    EXPECT_EQ(*parse_numeric_id("--gid", "65534"), 65534U);
}

TEST(JailerConfig, ParsesEveryFlagAndPassesTheRestToEmber) {
    const auto r = parse(with({"--chroot-base-dir",
                               "/tmp/j",
                               "--netns",
                               "blue",
                               "--daemonize",
                               "--new-pid-ns",
                               "--cgroup",
                               "cpu.weight=50",
                               "--cgroup",
                               "memory.max=256M",
                               "--cgroup-version",
                               "2",
                               "--parent-cgroup",
                               "vms/t1",
                               "--resource-limit",
                               "fsize=1024",
                               "--",
                               "--kernel",
                               "k",
                               "--id",
                               "x"}));
    ASSERT_TRUE(r) << r.error().message();
    const auto& c = std::get<JailerConfig>(*r);
    EXPECT_EQ(c.id, "vm-1");
    EXPECT_EQ(c.uid, 123U);
    EXPECT_EQ(c.gid, 100U);
    EXPECT_EQ(c.exec_name(), "ember");
    EXPECT_EQ(c.jail_root(), "/tmp/j/ember/vm-1/root");
    EXPECT_EQ(c.netns, "/var/run/netns/blue");
    EXPECT_TRUE(c.daemonize);
    EXPECT_TRUE(c.new_pid_ns);
    ASSERT_EQ(c.cgroups.size(), 2U);
    EXPECT_EQ(c.cgroups[1].controller, "memory");
    EXPECT_EQ(c.cgroups[1].file, "memory.max");
    EXPECT_EQ(c.cgroups[1].value, "256M");
    EXPECT_EQ(c.cgroup_version, 2);
    EXPECT_EQ(c.cgroup_relative(), "vms/t1/vm-1");
    ASSERT_EQ(c.limits.size(), 2U);
    EXPECT_EQ(c.limits[0].resource, RLIMIT_NOFILE);
    EXPECT_EQ(c.limits[0].value, JailerConfig::kDefaultNoFile);
    EXPECT_EQ(c.limits[1].resource, RLIMIT_FSIZE);
    EXPECT_EQ(c.exec_args, (std::vector<std::string>{"--kernel", "k", "--id", "x"}));
}

TEST(JailerConfig, DefaultsFollowFirecracker) {
    const auto r = parse(with({"--resource-limit", "no-file=64"}));
    ASSERT_TRUE(r);
    const auto& c = std::get<JailerConfig>(*r);
    EXPECT_EQ(c.chroot_base, "/srv/jailer");
    EXPECT_EQ(c.cgroup_version, 1);
    EXPECT_EQ(c.cgroup_relative(), "ember/vm-1");
    EXPECT_FALSE(c.netns);
    ASSERT_EQ(c.limits.size(), 1U); // the flag replaced the default
    EXPECT_EQ(c.limits[0].value, 64U);
    EXPECT_TRUE(c.exec_args.empty());
}

TEST(JailerConfig, RejectsMalformedValuesNamingTheFlag) {
    struct Case {
        std::vector<std::string> extra;
        std::string message;
    };
    const std::vector<Case> cases{
        {{"--cgroup", "cpuweight"}, "--cgroup 'cpuweight': use FILE=VALUE"},
        {{"--cgroup", "cpu.weight="}, "--cgroup 'cpu.weight=': use FILE=VALUE"},
        {{"--cgroup", "../x.y=1"}, "--cgroup '../x.y=1': use FILE=VALUE"},
        {{"--resource-limit", "cpu=1"}, "use fsize=BYTES or no-file=COUNT"},
        {{"--resource-limit", "fsize=lots"}, "'lots' is not a number"},
        {{"--parent-cgroup", "/abs"}, "--parent-cgroup '/abs': use a relative path"},
        {{"--parent-cgroup", "a/../b"}, "--parent-cgroup 'a/../b'"},
        {{"--chroot-base-dir", "rel"}, "give an absolute path"},
        {{"--cgroup-version", "3"}, "--cgroup-version"},
        {{"--bogus"}, "--bogus"},
    };
    for (const auto& c : cases) {
        const auto r = parse(with(c.extra));
        ASSERT_FALSE(r) << c.extra[0];
        EXPECT_NE(r.error().message().find(c.message), std::string::npos) << r.error().message();
    }
}

TEST(JailerConfig, MissingRequiredFlagIsAnError) {
    const auto r = parse({"--id", "a", "--uid", "1", "--gid", "1"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message().find("--exec-file is required"), std::string::npos)
        << r.error().message();
}

} // namespace
} // namespace ember::jailer
