// VmConfigBuilder: Firecracker's rules for applying resources (path ids, replacing, one root,
// MAC conflicts, PUT vs PATCH), ember's slot limit, and what build() hands the VMM.
#include "api/model/vm_config_builder.hpp"
#include "tests/unit/api/model_test_util.hpp"
#include "vmm/virtio_devices.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ember::api::model {
namespace {

using testing::error_of;
using testing::has_all;
using testing::value_of;

Drive drive(std::string id, bool root = false, std::string path = "disk.img") {
    Drive d;
    d.drive_id = std::move(id);
    d.path_on_host = std::move(path);
    d.is_root_device = root;
    return d;
}

NetworkInterface iface(std::string id, std::string tap, std::optional<MacAddress> mac = {}) {
    return NetworkInterface{std::move(id), std::move(tap), mac, {}, {}, {}};
}

TEST(ModelBuilder, BootSourceAndMachineConfig) {
    VmConfigBuilder b;
    EXPECT_FALSE(b.has_kernel());
    ASSERT_TRUE(b.set_boot_source(
        BootSource{"vmlinux", "console=ttyS0", "initrd", boot::BootProtocol::kLinux}));
    EXPECT_TRUE(b.has_kernel());
    EXPECT_EQ(b.config().kernel_path.value(), "vmlinux");
    EXPECT_EQ(b.config().cmdline, "console=ttyS0");
    EXPECT_EQ(b.config().initrd_path.value(), "initrd");
    EXPECT_EQ(b.config().boot_protocol, boot::BootProtocol::kLinux);
    // A second PUT replaces the whole boot source.
    ASSERT_TRUE(b.set_boot_source(BootSource{"k2", {}, {}, {}}));
    EXPECT_EQ(b.config().cmdline, VmConfig::kDefaultCmdline);
    EXPECT_FALSE(b.config().initrd_path.has_value());
    EXPECT_EQ(b.config().boot_protocol, boot::BootProtocol::kAuto);

    ASSERT_TRUE(b.set_machine_config(MachineConfig{4, 2048}));
    ASSERT_TRUE(b.update_machine_config(MachineConfigUpdate{std::nullopt, 512}));
    EXPECT_EQ(b.config().vcpus, 4U);
    EXPECT_EQ(b.config().mem_mib, 512U);
    EXPECT_EQ(
        b.machine_config_json(),
        R"({"huge_pages":"None","mem_size_mib":512,"smt":false,"track_dirty_pages":false,"vcpu_count":4})");
}

TEST(ModelBuilder, DrivesFollowFirecrackersRules) {
    VmConfigBuilder b;
    EXPECT_TRUE(has_all(error_of(b.put_drive("other", drive("rootfs", true))),
                        {"drives: the id in the path ('other') differs from drive_id"}));
    ASSERT_TRUE(b.put_drive("rootfs", drive("rootfs", true)));
    ASSERT_TRUE(b.put_drive("data", drive("data")));
    EXPECT_TRUE(has_all(error_of(b.put_drive("data", drive("data", true))),
                        {"drive 'data' cannot be the root device: drive 'rootfs' already is"}));
    // Replacing the root drive, as root or not, is fine; so is a new root once it is gone.
    ASSERT_TRUE(b.put_drive("rootfs", drive("rootfs", true, "new.img")));
    ASSERT_EQ(b.config().drives.size(), 2U);
    EXPECT_EQ(b.config().drives[0].path, "new.img");
    ASSERT_TRUE(b.put_drive("rootfs", drive("rootfs", false)));
    ASSERT_TRUE(b.put_drive("data", drive("data", true)));
    EXPECT_EQ(b.config().drives[0].id, "rootfs"); // replaced in place
    EXPECT_TRUE(b.config().drives[1].root);
}

TEST(ModelBuilder, RootPartuuidGoesOnTheCommandLine) {
    VmConfigBuilder b;
    ASSERT_TRUE(b.set_boot_source(BootSource{"k", "console=ttyS0", {}, {}}));
    Drive root = drive("rootfs", true);
    root.partuuid = "0eaa91a0-01";
    root.is_read_only = true;
    ASSERT_TRUE(b.put_drive("rootfs", root));
    EXPECT_EQ(b.build().cmdline, "console=ttyS0 root=PARTUUID=0eaa91a0-01 ro");
    EXPECT_EQ(b.config().cmdline, "console=ttyS0");
    // Not the root: the partuuid is kept but unused, as in Firecracker.
    root.is_root_device = false;
    ASSERT_TRUE(b.put_drive("rootfs", root));
    EXPECT_EQ(b.build().cmdline, "console=ttyS0");
    root.is_root_device = true;
    root.partuuid.reset();
    ASSERT_TRUE(b.put_drive("rootfs", root));
    EXPECT_EQ(b.build().cmdline, "console=ttyS0");
}

TEST(ModelBuilder, DrivePatchChecksThenCommits) {
    VmConfigBuilder b;
    Drive d = drive("scratch");
    d.rate_limiter =
        RateLimiter{TokenBucket{100, std::nullopt, 10}, TokenBucket{5, std::nullopt, 10}};
    ASSERT_TRUE(b.put_drive("scratch", d));
    EXPECT_TRUE(has_all(error_of(b.check_drive_update("nope", PartialDrive{"nope", {}, {}})),
                        {"there is no drive 'nope'"}));
    EXPECT_TRUE(
        has_all(error_of(b.check_drive_update("scratch", PartialDrive{"x", {}, {}})), {"differs"}));
    const PartialDrive patch{"scratch", "new.img",
                             RateLimiter{TokenBucket{0, std::nullopt, 0}, std::nullopt}};
    const DriveUpdate u = value_of(b.check_drive_update("scratch", patch));
    EXPECT_EQ(u.path_on_host.value(), "new.img");
    ASSERT_TRUE(u.rate_limiter.has_value());
    EXPECT_TRUE(u.rate_limiter->bandwidth->unlimited());
    EXPECT_FALSE(u.rate_limiter->ops.has_value());
    EXPECT_EQ(b.config().drives[0].path, "disk.img"); // nothing changes before commit
    b.commit(u);
    EXPECT_EQ(b.config().drives[0].path, "new.img");
    EXPECT_TRUE(b.config().drives[0].rate_limiter.bandwidth.unlimited());
    EXPECT_EQ(b.config().drives[0].rate_limiter.ops, (TokenBucketConfig{5, 0, 10}));

    Drive overlay = drive("sb");
    overlay.overlay_path = "sb.ovl";
    ASSERT_TRUE(b.put_drive("sb", overlay));
    EXPECT_TRUE(has_all(error_of(b.check_drive_update("sb", PartialDrive{"sb", "x.img", {}})),
                        {"has an overlay", "cannot change its path_on_host"}));
    EXPECT_TRUE(b.check_drive_update("sb", PartialDrive{"sb", {}, RateLimiter{}}).has_value());
}

TEST(ModelBuilder, NetworkInterfaces) {
    VmConfigBuilder b;
    const MacAddress mac{6, 0, 0xac, 0x10, 0, 2};
    ASSERT_TRUE(b.put_network_interface("net1", iface("net1", "tap0", mac)));
    EXPECT_TRUE(has_all(error_of(b.put_network_interface("net2", iface("net2", "tap1", mac))),
                        {"guest_mac 06:00:ac:10:00:02 is already used by interface 'net1'"}));
    EXPECT_TRUE(has_all(error_of(b.put_network_interface("net2", iface("net2", "tap0"))),
                        {"host_dev_name 'tap0' is already used by interface 'net1'"}));
    EXPECT_TRUE(has_all(error_of(b.put_network_interface("net2", iface("net1", "tap1"))),
                        {"network-interfaces: the id in the path ('net2') differs from iface_id"}));
    // Replacing net1 with its own MAC and tap is fine.
    ASSERT_TRUE(b.put_network_interface("net1", iface("net1", "tap0", mac)));
    ASSERT_TRUE(b.put_network_interface("net2", iface("net2", "tap1")));
    ASSERT_EQ(b.network_interfaces().size(), 2U);

    const PartialNetworkInterface patch{
        "net2", std::nullopt, RateLimiter{std::nullopt, TokenBucket{10, std::nullopt, 100}}};
    const auto u = value_of(b.check_network_interface_update("net2", patch));
    EXPECT_FALSE(u.rx_rate_limiter.has_value());
    EXPECT_EQ(u.tx_rate_limiter->ops.value(), (TokenBucketConfig{10, 0, 100}));
    b.commit(u);
    EXPECT_EQ(b.network_interfaces()[1].tx_rate_limiter->ops, (TokenBucket{10, std::nullopt, 100}));
    EXPECT_TRUE(has_all(
        error_of(b.check_network_interface_update("eth9", PartialNetworkInterface{"eth9", {}, {}})),
        {"there is no interface 'eth9'"}));
}

TEST(ModelBuilder, DevicesMustFitTheVirtioSlots) {
    VmConfigBuilder b;
    ASSERT_TRUE(b.set_vsock(Vsock{3, "v.sock", "old_id"}));
    EXPECT_FALSE(b.vsock()->vsock_id.has_value()); // deprecated, dropped
    ASSERT_TRUE(b.set_entropy(Entropy{}));
    for (size_t i = 0; i + 2 < kMaxVirtioDevices; ++i) {
        const std::string id = fmt::format("d{}", i);
        ASSERT_TRUE(b.put_drive(id, drive(id)));
    }
    EXPECT_TRUE(has_all(error_of(b.put_drive("one_more", drive("one_more"))),
                        {"drives: no room for another device", "19 virtio slots"}));
    EXPECT_TRUE(has_all(error_of(b.put_network_interface("n", iface("n", "tap"))), {"no room"}));
    ASSERT_TRUE(b.put_drive("d0", drive("d0")));       // replacing takes no new slot
    ASSERT_TRUE(b.set_vsock(Vsock{4, "v2.sock", {}})); // nor does replacing vsock
}

TEST(ModelBuilder, VsockBuildsTheDeviceConfigAndReplacesTheCommandLines) {
    VmConfigBuilder plain;
    EXPECT_FALSE(plain.build().vsock.has_value());
    ASSERT_TRUE(plain.set_vsock(Vsock{9, "api.sock", {}}));
    ASSERT_TRUE(plain.build().vsock.has_value());
    EXPECT_EQ(*plain.build().vsock, (virtio::vsock::VsockConfig{9, "api.sock"}));

    // --vsock in the base configuration: shown by GET /vm/config, counted, replaced by PUT.
    VmConfig base;
    base.vsock = virtio::vsock::VsockConfig{5, "cli.sock"};
    VmConfigBuilder b(base);
    const auto shown = nlohmann::json::parse(b.vm_config_json());
    EXPECT_EQ(shown["vsock"]["guest_cid"], 5);
    EXPECT_EQ(shown["vsock"]["uds_path"], "cli.sock");
    EXPECT_EQ(b.build().vsock->uds_path, "cli.sock");
    ASSERT_TRUE(b.set_vsock(Vsock{6, "api.sock", {}}));
    EXPECT_EQ(*b.build().vsock, (virtio::vsock::VsockConfig{6, "api.sock"}));
    EXPECT_EQ(nlohmann::json::parse(b.vm_config_json())["vsock"]["guest_cid"], 6);
}

TEST(ModelBuilder, LoggerMetricsSerial) {
    VmConfigBuilder b;
    ASSERT_TRUE(b.set_logger(Logger{"log.txt", LogLevel::kInfo, true, std::nullopt}));
    EXPECT_EQ(b.config().log_level, log::Level::kInfo);
    ASSERT_TRUE(b.set_logger(Logger{std::nullopt, LogLevel::kTrace, std::nullopt, false}));
    EXPECT_EQ(b.config().log_level, log::Level::kDebug);
    EXPECT_EQ(*b.logger(), (Logger{"log.txt", LogLevel::kTrace, true, false}));
    b.set_metrics(Metrics{"m.json"});
    EXPECT_EQ(b.metrics()->metrics_path, "m.json");
    b.set_serial(Serial{"out.txt"});
    EXPECT_EQ(b.config().serial.mode, SerialConfig::Mode::kFile);
    EXPECT_EQ(b.config().serial.path, "out.txt");
}

TEST(ModelBuilder, StartsFromABaseConfig) {
    VmConfig base;
    base.print_timings = true;
    base.vcpus = 2;
    VmConfigBuilder b(base);
    ASSERT_TRUE(b.set_boot_source(BootSource{"k", {}, {}, {}}));
    EXPECT_TRUE(b.build().print_timings);
    EXPECT_EQ(b.build().vcpus, 2U);
}

TEST(ModelBuilder, BuildMapsInterfacesAndEntropyOntoTheDevices) {
    VmConfig base;
    base.nets.push_back(virtio::net::NetConfig{.id = "cli0", .tap = "tapc"});
    VmConfigBuilder b(base);
    NetworkInterface n = iface("net1", "tap1", MacAddress{6, 0, 0xac, 0x10, 0, 2});
    n.mtu = 1400;
    n.rx_rate_limiter = RateLimiter{TokenBucket{1000, 50, 100}, std::nullopt};
    n.tx_rate_limiter = RateLimiter{std::nullopt, TokenBucket{10, std::nullopt, 1000}};
    ASSERT_TRUE(b.put_network_interface("net1", n));
    EXPECT_FALSE(b.build().entropy.has_value());
    ASSERT_TRUE(b.set_entropy(Entropy{RateLimiter{TokenBucket{4096, std::nullopt, 1000}, {}}}));
    const VmConfig c = b.build();
    ASSERT_EQ(c.nets.size(), 2U);
    EXPECT_EQ(c.nets[0].id, "cli0"); // the base's come first
    const virtio::net::NetConfig& net = c.nets[1];
    EXPECT_EQ(net.id, "net1");
    EXPECT_EQ(net.tap, "tap1");
    EXPECT_EQ(net.mac, (virtio::net::MacAddress{6, 0, 0xac, 0x10, 0, 2}));
    EXPECT_EQ(net.mtu, 1400);
    EXPECT_EQ(net.rx_rate_limiter.bandwidth, (TokenBucketConfig{1000, 50, 100}));
    EXPECT_TRUE(net.rx_rate_limiter.ops.unlimited());
    EXPECT_EQ(net.tx_rate_limiter.ops, (TokenBucketConfig{10, 0, 1000}));
    ASSERT_TRUE(c.entropy.has_value());
    EXPECT_EQ(c.entropy->rate_limiter.bandwidth, (TokenBucketConfig{4096, 0, 1000}));
}

TEST(ModelBuilder, BaseInterfacesAndEntropyTakeSlots) {
    VmConfig base;
    base.entropy = virtio::rng::EntropyConfig{};
    for (size_t i = 0; i + 1 < kMaxVirtioDevices; ++i)
        base.nets.push_back(virtio::net::NetConfig{.id = fmt::format("n{}", i), .tap = "t"});
    VmConfigBuilder b(base);
    EXPECT_TRUE(has_all(error_of(b.put_drive("d", drive("d"))), {"no room"}));
    ASSERT_TRUE(b.set_entropy(Entropy{})); // replaces the base's device: no new slot
}

} // namespace
} // namespace ember::api::model
