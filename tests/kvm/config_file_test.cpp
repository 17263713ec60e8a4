// --config-file: Firecracker's JSON configuration boots a guest with no API call, and a bad file
// is refused with the "bad config" exit code and a message naming the key.
#include "tests/kvm/kvm_available.hpp"
#include "tests/kvm/subprocess.hpp"
#include "vmm/sys/exit_code.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace ember {
namespace {

namespace fs = std::filesystem;

class ConfigFile : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / fmt::format("ember-config-test-{}", ::getpid());
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text) {
        const fs::path p = dir_ / name;
        std::ofstream(p) << text;
        return p.string();
    }
    static test::ProcessResult ember(std::vector<std::string> args) {
        args.insert(args.begin(), EMBER_BINARY);
        return test::run_process(args);
    }
    static std::string guest(const std::string& name) {
        return std::string(EMBER_GUEST_DIR) + "/" + name + ".elf";
    }

    fs::path dir_;
};

TEST_F(ConfigFile, BootsTheKernelItNamesWithItsArgsAndDrive) {
    EMBER_REQUIRE_KVM();
    const std::string image = (dir_ / "disk.img").string();
    fs::resize_file(write("disk.img", ""), 1 << 20);
    const std::string config = write("vm.json", fmt::format(R"({{
        "boot-source": {{"kernel_image_path": "{}", "boot_args": "from-config"}},
        "machine-config": {{"vcpu_count": 1, "mem_size_mib": 64}},
        "drives": [{{"drive_id": "rootfs", "path_on_host": "{}", "is_root_device": true,
                     "is_read_only": false}}]
    }})",
                                                            guest("hello"), image));
    const auto r = ember({"--config-file", config});
    EXPECT_EQ(r.status, 0) << r.err;
    // hello prints its command line: the file's boot_args, then the root drive's window.
    EXPECT_NE(
        r.out.find("cmdline: from-config virtio_mmio.device=4K@0xd0000000:5 root=/dev/vda rw"),
        std::string::npos)
        << r.out;
}

TEST_F(ConfigFile, BadContentIsABadConfigNamingTheKey) {
    const std::string config =
        write("bad.json", R"({"machine-config": {"vcpu_count": 0, "mem_size_mib": 64}})");
    const auto r = ember({"--config-file", config});
    EXPECT_EQ(r.status, to_int(ExitCode::kBadInput)) << r.err;
    EXPECT_NE(r.err.find("vcpu_count 0 is out of range"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("bad.json"), std::string::npos) << r.err;
}

TEST_F(ConfigFile, UnknownKeyAndMissingFileAreRefused) {
    const std::string config = write("typo.json", R"({"drivez": []})");
    auto r = ember({"--config-file", config});
    EXPECT_EQ(r.status, to_int(ExitCode::kBadInput)) << r.err;
    EXPECT_NE(r.err.find("drivez"), std::string::npos) << r.err;
    r = ember({"--config-file", (dir_ / "nope.json").string()});
    EXPECT_EQ(r.status, to_int(ExitCode::kNoInput)) << r.err;
}

} // namespace
} // namespace ember
