// JailTest: the fixture of the root-only jailer tests. Each test gets its own chroot base, id
// and parent cgroup, and everything is removed afterwards (jail dirs, cgroups, netns).
#pragma once

#include "jail/jailer/cgroup.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ember::test {

inline std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

// The value of "Field:" in /proc/<pid>/status, tabs turned into spaces.
inline std::string proc_status(pid_t pid, const std::string& field) {
    std::istringstream in(slurp("/proc/" + std::to_string(pid) + "/status"));
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(field + ":")) {
            std::string v = line.substr(field.size() + 1);
            std::replace(v.begin(), v.end(), '\t', ' ');
            return trimmed(v.substr(v.find_first_not_of(' ')));
        }
    return "";
}

inline std::string mount_of(int version, const std::string& controller = "") {
    for (const auto& m : jailer::parse_mountinfo(slurp("/proc/self/mountinfo")))
        if (m.version == version &&
            (version == 2 || std::find(m.controllers.begin(), m.controllers.end(), controller) !=
                                 m.controllers.end()))
            return m.mount_point;
    return "";
}

class JailTest : public ::testing::Test {
protected:
    static constexpr const char* kUid = "4321";
    static constexpr const char* kGid = "4322";

    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "the jailer tests need root (mknod, mounts, cgroups)";
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        tag_ = fmt::format("ejt-{}-{}", ::getpid(), info->name());
        std::replace(tag_.begin(), tag_.end(), '_', '-');
        base_ = fmt::format("{}/{}", EMBER_JAIL_TEST_TMPDIR, tag_);
        std::filesystem::create_directories(base_);
        id_ = fmt::format("vm-{}", ::getpid());
    }

    void TearDown() override {
        if (base_.empty()) return;
        std::error_code ec;
        std::filesystem::remove_all(base_, ec);
        for (const auto& m : jailer::parse_mountinfo(slurp("/proc/self/mountinfo"))) {
            ::rmdir((m.mount_point + "/" + tag_ + "/" + id_).c_str());
            ::rmdir((m.mount_point + "/" + tag_).c_str());
        }
        for (const auto& ns : netns_)
            if (std::system(("ip netns del " + ns).c_str()) != 0) ADD_FAILURE() << "netns " << ns;
    }

    // ember-jailer's argv for exec_file, with this test's id, base and parent cgroup.
    std::vector<std::string> jailer(const std::string& exec_file,
                                    std::vector<std::string> extra = {}) {
        std::vector<std::string> argv{
            EMBER_JAILER, "--id",  id_,  "--exec-file",       exec_file, "--uid",
            kUid,         "--gid", kGid, "--chroot-base-dir", base_,     "--parent-cgroup",
            tag_};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
    }

    [[nodiscard]] std::string root(const std::string& exec_name = "jail_probe") const {
        return fmt::format("{}/{}/{}/root", base_, exec_name, id_);
    }
    [[nodiscard]] std::string cgroup(const std::string& mount) const {
        return fmt::format("{}/{}/{}", mount, tag_, id_);
    }

    std::string add_netns() {
        const std::string name = tag_.substr(0, 12) + "n";
        netns_.push_back(name);
        EXPECT_EQ(std::system(("ip netns add " + name).c_str()), 0);
        EXPECT_EQ(std::system(("ip -n " + name + " tuntap add dev ejttap0 mode tap").c_str()), 0);
        return name;
    }

    std::string base_;
    std::string id_;
    std::string tag_;
    std::vector<std::string> netns_;
};

} // namespace ember::test
