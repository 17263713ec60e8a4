// --config-file documents: Firecracker's own test configs, a document with every resource,
// the refusals (unknown keys, unsupported resources, duplicates, bad values with the key in the
// message), reading from disk, and GET /vm/config writing a document that reads back the same.
#include "api/model/config_file.hpp"
#include "tests/unit/api/model_test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef EMBER_TEST_TMPDIR
#define EMBER_TEST_TMPDIR "/tmp"
#endif

namespace ember::api::model {
namespace {

using testing::error_of;
using testing::has_all;
using testing::value_of;

// Firecracker's tests/framework/vm_config.json.
constexpr const char* kFirecrackerVmConfig = R"({
  "boot-source": {
    "kernel_image_path": "vmlinux.bin",
    "boot_args": "console=ttyS0 reboot=k panic=1",
    "initrd_path": null
  },
  "drives": [
    {
      "drive_id": "rootfs",
      "partuuid": null,
      "is_root_device": true,
      "cache_type": "Unsafe",
      "is_read_only": false,
      "path_on_host": "bionic.rootfs.ext4",
      "io_engine": "Sync",
      "rate_limiter": null,
      "socket": null
    }
  ],
  "machine-config": {
    "vcpu_count": 2,
    "mem_size_mib": 1024,
    "smt": false,
    "track_dirty_pages": false,
    "huge_pages": "None"
  },
  "cpu-config": null,
  "balloon": null,
  "network-interfaces": [],
  "vsock": null,
  "logger": null,
  "metrics": null,
  "mmds-config": null,
  "entropy": null,
  "pmem": [],
  "memory-hotplug": null
})";

constexpr const char* kEverything = R"({
  "boot-source": {"kernel_image_path": "vmlinux", "boot_args": "console=ttyS0",
                  "initrd_path": "initrd.img", "boot_protocol": "Linux"},
  "machine-config": {"vcpu_count": 4, "mem_size_mib": 512},
  "drives": [
    {"drive_id": "rootfs", "path_on_host": "root.ext4", "is_root_device": true,
     "is_read_only": true, "partuuid": "abcd-01"},
    {"drive_id": "scratch", "path_on_host": "base.img", "is_root_device": false,
     "overlay_path": "sb.ovl", "cache_type": "Writeback",
     "rate_limiter": {"bandwidth": {"size": 1048576, "refill_time": 1000}}}
  ],
  "network-interfaces": [
    {"iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:c0:a8:00:02"}
  ],
  "vsock": {"guest_cid": 3, "uds_path": "/tmp/v.sock"},
  "entropy": {"rate_limiter": {"ops": {"size": 10, "refill_time": 100}}},
  "logger": {"log_path": "ember.log", "level": "Info"},
  "metrics": {"metrics_path": "metrics.json"},
  "serial": {"serial_out_path": "console.txt"}
})";

TEST(ModelConfigFile, FirecrackersOwnConfigBoots) {
    const auto b = value_of(parse_config_document(kFirecrackerVmConfig));
    const VmConfig c = b.build();
    EXPECT_EQ(c.kernel_path.value(), "vmlinux.bin");
    EXPECT_EQ(c.cmdline, "console=ttyS0 reboot=k panic=1");
    EXPECT_FALSE(c.initrd_path.has_value());
    EXPECT_EQ(c.vcpus, 2U);
    EXPECT_EQ(c.mem_mib, 1024U);
    ASSERT_EQ(c.drives.size(), 1U);
    EXPECT_EQ(c.drives[0].id, "rootfs");
    EXPECT_EQ(c.drives[0].path, "bionic.rootfs.ext4");
    EXPECT_TRUE(c.drives[0].root);
    EXPECT_EQ(c.drives[0].engine, virtio::block::EngineKind::kSync);
    EXPECT_TRUE(b.network_interfaces().empty());
    EXPECT_FALSE(b.vsock().has_value());
}

TEST(ModelConfigFile, EveryResource) {
    const auto b = value_of(parse_config_document(kEverything));
    const VmConfig c = b.build();
    EXPECT_EQ(c.boot_protocol, boot::BootProtocol::kLinux);
    EXPECT_EQ(c.initrd_path.value(), "initrd.img");
    EXPECT_EQ(c.cmdline, "console=ttyS0 root=PARTUUID=abcd-01 ro");
    EXPECT_EQ(c.vcpus, 4U);
    ASSERT_EQ(c.drives.size(), 2U);
    EXPECT_EQ(c.drives[1].overlay.value(), "sb.ovl");
    EXPECT_EQ(c.drives[1].rate_limiter.bandwidth.size, 1048576U);
    ASSERT_EQ(b.network_interfaces().size(), 1U);
    EXPECT_EQ(b.vsock()->guest_cid, 3U);
    EXPECT_EQ(b.entropy()->rate_limiter->ops->size, 10U);
    EXPECT_EQ(b.logger()->log_path.value(), "ember.log");
    EXPECT_EQ(c.log_level, log::Level::kInfo);
    EXPECT_EQ(b.metrics()->metrics_path, "metrics.json");
    EXPECT_EQ(c.serial.mode, SerialConfig::Mode::kFile);
    EXPECT_EQ(c.serial.path, "console.txt");
}

TEST(ModelConfigFile, VmConfigJsonReadsBackTheSame) {
    for (const char* doc : {kFirecrackerVmConfig, kEverything, "{}"}) {
        const auto b = value_of(parse_config_document(doc));
        const std::string json = b.vm_config_json();
        const auto again = value_of(parse_config_document(json));
        EXPECT_EQ(again.vm_config_json(), json);
        EXPECT_EQ(again.build().cmdline, b.build().cmdline);
    }
    const auto b = value_of(parse_config_document(kEverything));
    EXPECT_TRUE(has_all(b.vm_config_json(),
                        {R"("boot-source":{"boot_args":"console=ttyS0","boot_protocol":"Linux")",
                         R"("partuuid":"abcd-01")", R"("overlay_path":"sb.ovl")",
                         R"("machine-config":{"huge_pages":"None","mem_size_mib":512)"}));
    // Without a boot source ember boots its bundled guest; the document says so with null.
    EXPECT_TRUE(has_all(value_of(parse_config_document("{}")).vm_config_json(),
                        {R"("boot-source":null)", R"("drives":[])", R"("vsock":null)"}));
}

TEST(ModelConfigFile, RefusesUnknownAndUnsupportedKeys) {
    EXPECT_TRUE(
        has_all(error_of(parse_config_document(R"({"boot_source": {}})")),
                {"config file: unknown field \"boot_source\"", "boot-source, machine-config"}));
    EXPECT_EQ(error_of(parse_config_document(
                  R"({"balloon": {"amount_mib": 1, "deflate_on_oom": true}})")),
              "balloon is not supported by ember; leave it out (or null)");
    EXPECT_TRUE(
        has_all(error_of(parse_config_document(R"({"pmem": [{}]})")), {"pmem is not supported"}));
    EXPECT_TRUE(has_all(error_of(parse_config_document(R"({"mmds-config": {}})")),
                        {"mmds-config is not supported"}));
    EXPECT_TRUE(has_all(error_of(parse_config_document("[]")), {"must be a JSON object"}));
    EXPECT_TRUE(
        has_all(error_of(parse_config_document("{")), {"config file: the body is not valid JSON"}));
}

TEST(ModelConfigFile, ErrorsNameTheKeyAndTheElement) {
    EXPECT_EQ(error_of(parse_config_document(
                  R"({"machine-config": {"vcpu_count": 0, "mem_size_mib": 128}})")),
              "machine-config: vcpu_count 0 is out of range; use 1..32");
    EXPECT_TRUE(
        has_all(error_of(parse_config_document(
                    R"({"drives": [{"drive_id": "a", "path_on_host": "p", "is_root_device": true},
                                           {"drive_id": "b", "path_on_host": "p"}]})")),
                {"drives[1]: is_root_device is required"}));
    EXPECT_TRUE(
        has_all(error_of(parse_config_document(
                    R"({"drives": [{"drive_id": "a", "path_on_host": "p", "is_root_device": true},
                                           {"drive_id": "a", "path_on_host": "q", "is_root_device": false}]})")),
                {"drives[1]: id 'a' appears twice in drives"}));
    EXPECT_TRUE(
        has_all(error_of(parse_config_document(
                    R"({"drives": [{"drive_id": "a", "path_on_host": "p", "is_root_device": true},
                                           {"drive_id": "b", "path_on_host": "q", "is_root_device": true}]})")),
                {"drive 'b' cannot be the root device"}));
    EXPECT_TRUE(has_all(error_of(parse_config_document(R"({"drives": {}})")),
                        {"drives must be an array, not an object"}));
    EXPECT_TRUE(has_all(error_of(parse_config_document(R"({"drives": [5]})")),
                        {"drives[0]: must be a JSON object, not an integer"}));
    EXPECT_TRUE(has_all(error_of(parse_config_document(
                            R"({"network-interfaces": [{"iface_id": "a", "host_dev_name": "t"},
                                                       {"iface_id": "b", "host_dev_name": "t"}]})")),
                        {"host_dev_name 't' is already used"}));
    EXPECT_TRUE(
        has_all(error_of(parse_config_document(R"({"vsock": {"guest_cid": 1, "uds_path": "v"}})")),
                {"vsock: guest_cid 1 is out of range"}));
    EXPECT_TRUE(has_all(error_of(parse_config_document(R"({"logger": {"level": "Off"}})")),
                        {"logger: level \"Off\""}));
}

TEST(ModelConfigFile, KeepsTheBaseWhereTheDocumentIsSilent) {
    VmConfig base;
    base.print_timings = true;
    base.serial = SerialConfig{SerialConfig::Mode::kNone, {}};
    const auto b = value_of(parse_config_document(
        R"({"machine-config": {"vcpu_count": 2, "mem_size_mib": 64}})", base));
    EXPECT_TRUE(b.config().print_timings);
    EXPECT_EQ(b.config().serial.mode, SerialConfig::Mode::kNone);
    EXPECT_EQ(b.config().mem_mib, 64U);
}

class ConfigFileOnDisk : public ::testing::Test {
protected:
    void SetUp() override {
        ::mkdir(EMBER_TEST_TMPDIR, 0700);
        path_ = std::string(EMBER_TEST_TMPDIR) + "/config-XXXXXX";
        const int fd = ::mkstemp(path_.data());
        ASSERT_GE(fd, 0);
        ::close(fd);
    }
    void TearDown() override { ::unlink(path_.c_str()); }
    void write(std::string_view text) const {
        const int fd = ::open(path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
        ::close(fd);
    }
    std::string path_;
};

TEST_F(ConfigFileOnDisk, LoadsAndSaysWhichFileIsWrong) {
    write(kEverything);
    EXPECT_EQ(value_of(load_config_file(path_)).build().vcpus, 4U);
    write(R"({"machine-config": {"vcpu_count": 99, "mem_size_mib": 128}})");
    EXPECT_EQ(error_of(load_config_file(path_), Errc::kInvalidInput),
              "config file '" + path_ +
                  "': machine-config: vcpu_count 99 is out of range; use 1..32");
    write(R"({"x": 1})");
    EXPECT_TRUE(has_all(error_of(load_config_file(path_), Errc::kInvalidInput),
                        {"config file '" + path_ + "': unknown field \"x\""}));
    write(std::string(kMaxConfigFileBytes + 1, ' '));
    EXPECT_TRUE(has_all(error_of(load_config_file(path_), Errc::kInvalidInput), {"larger than"}));
    EXPECT_TRUE(has_all(error_of(load_config_file(path_ + ".missing"), Errc::kNotFound),
                        {"config file '", "cannot open"}));
}

} // namespace
} // namespace ember::api::model
