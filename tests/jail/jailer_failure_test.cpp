// ember-jailer's failures on the real kernel: the documented exit code, a message that says
// what to fix, and nothing left behind (no jail dir, no cgroup).
#include "tests/jail/child.hpp"
#include "tests/jail/jail_fixture.hpp"

#include <sys/stat.h>

namespace ember::test {
namespace {

class JailFailureTest : public JailTest {
protected:
    // Runs the jailer, expects `status` and `message` on stderr, and checks that neither the
    // jail dir nor a cgroup was left.
    void expect_failure(const std::vector<std::string>& argv, int status,
                        const std::string& message, const std::string& exec_name = "jail_probe") {
        Child child(argv);
        EXPECT_EQ(child.finish(), status) << child.err;
        EXPECT_NE(child.err.find(message), std::string::npos) << child.err;
        EXPECT_NE(child.err.find("ember: error: jailer: "), std::string::npos) << child.err;
        EXPECT_FALSE(std::filesystem::exists(base_ + "/" + exec_name + "/" + id_));
        for (const auto& m : jailer::parse_mountinfo(slurp("/proc/self/mountinfo")))
            EXPECT_FALSE(std::filesystem::exists(m.mount_point + "/" + tag_)) << m.mount_point;
    }
};

TEST_F(JailFailureTest, BadIdIsRefusedBeforeAnythingIsMade) {
    auto argv = jailer(JAIL_PROBE);
    argv[2] = "../escape";
    expect_failure(argv, 90, "--id '../escape': use 1 to 64 letters, digits and '-'");
}

TEST_F(JailFailureTest, UidMustBeANumber) {
    auto argv = jailer(JAIL_PROBE);
    argv[6] = "nobody";
    expect_failure(argv, 90, "--uid 'nobody': not a number");
}

TEST_F(JailFailureTest, MissingExecFile) {
    expect_failure(jailer(base_ + "/no-such-ember"), 91, "no such file; build ember",
                   "no-such-ember");
}

TEST_F(JailFailureTest, MissingNetns) {
    expect_failure(jailer(JAIL_PROBE, {"--netns", "ejt-no-such-ns"}), 91,
                   "--netns /var/run/netns/ejt-no-such-ns: create it with 'ip netns add NAME'");
}

TEST_F(JailFailureTest, UnknownCgroupController) {
    expect_failure(jailer(JAIL_PROBE, {"--cgroup", "bogus.max=1"}), 93,
                   "no cgroup v1 hierarchy has the 'bogus' controller");
}

TEST_F(JailFailureTest, UnknownCgroupFileUndoesTheCgroupAndTheJail) {
    if (mount_of(1, "cpu").empty()) GTEST_SKIP() << "no cgroup v1 cpu hierarchy";
    expect_failure(jailer(JAIL_PROBE, {"--cgroup", "cpu.shares=100", "--cgroup", "cpu.bogus=1"}),
                   93, "the 'cpu' controller has no file 'cpu.bogus'");
}

TEST_F(JailFailureTest, ExistingJailDirIsLeftAlone) {
    const std::string dir = base_ + "/jail_probe/" + id_;
    std::filesystem::create_directories(dir + "/root");
    std::ofstream(dir + "/root/keep") << "mine";
    Child child(jailer(JAIL_PROBE));
    EXPECT_EQ(child.finish(), 92) << child.err;
    EXPECT_NE(child.err.find("already exists (an earlier jail with this id?)"), std::string::npos)
        << child.err;
    EXPECT_EQ(slurp(dir + "/root/keep"), "mine");
}

// A failure inside the jail (after pivot_root) is undone by the watcher, which still sees the
// host: here exec fails because the "binary" is a text file.
TEST_F(JailFailureTest, FailedExecInsideTheJailIsCleanedUp) {
    std::filesystem::create_directories(base_ + "/src");
    const std::string bad = base_ + "/src/not-elf";
    std::ofstream(bad) << "not an executable\n";
    ::chmod(bad.c_str(), 0755);
    std::vector<std::string> extra;
    if (!mount_of(1, "memory").empty())
        extra = {"--cgroup", "memory.limit_in_bytes=64M", "--new-pid-ns"};
    expect_failure(jailer(bad, extra), 95, "exec '/not-elf' in the jail", "not-elf");
}

} // namespace
} // namespace ember::test
