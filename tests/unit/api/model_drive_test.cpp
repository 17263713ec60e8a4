// /drives and /network-interfaces bodies: Firecracker's examples, every field, ember's overlay
// extension, the refusals, the mapping onto DriveConfig, and round trips.
#include "api/model/drive.hpp"
#include "api/model/network_interface.hpp"
#include "tests/unit/api/model_test_util.hpp"

#include <gtest/gtest.h>

namespace ember::api::model {
namespace {

using testing::error_of;
using testing::has_all;
using testing::value_of;
using virtio::block::CacheMode;
using virtio::block::EngineKind;

TEST(ModelDrive, GettingStartedExample) {
    const auto d = value_of(parse_drive(R"({
        "drive_id": "rootfs",
        "path_on_host": "./ubuntu-24.04.ext4",
        "is_root_device": true,
        "is_read_only": false
    })"));
    EXPECT_EQ(d.drive_id, "rootfs");
    EXPECT_EQ(d.path_on_host, "./ubuntu-24.04.ext4");
    EXPECT_TRUE(d.is_root_device);
    EXPECT_FALSE(d.is_read_only.value());
    const auto c = to_drive_config(d);
    EXPECT_EQ(c.id, "rootfs");
    EXPECT_EQ(c.path, "./ubuntu-24.04.ext4");
    EXPECT_TRUE(c.root);
    EXPECT_FALSE(c.read_only);
    EXPECT_EQ(c.cache_mode, CacheMode::kUnsafe);
    EXPECT_EQ(c.engine, EngineKind::kSync);
    EXPECT_FALSE(c.overlay.has_value());
    EXPECT_TRUE(c.rate_limiter.bandwidth.unlimited() && c.rate_limiter.ops.unlimited());
}

TEST(ModelDrive, EveryFieldMapsAndRoundTrips) {
    const auto d = value_of(parse_drive(R"({
        "drive_id": "data_1", "path_on_host": "base.img", "is_root_device": false,
        "is_read_only": true, "partuuid": "0eaa91a0-01", "cache_type": "Writeback",
        "io_engine": "Sync", "overlay_path": "/run/sb1.ovl", "socket": null,
        "rate_limiter": {"bandwidth": {"size": 52428800, "refill_time": 1000},
                         "ops": {"size": 2000, "one_time_burst": 100, "refill_time": 1000}}
    })"));
    const auto c = to_drive_config(d);
    EXPECT_TRUE(c.read_only);
    EXPECT_EQ(c.cache_mode, CacheMode::kWriteback);
    EXPECT_EQ(c.engine, EngineKind::kSync);
    EXPECT_EQ(c.overlay.value(), "/run/sb1.ovl");
    EXPECT_EQ(c.rate_limiter.bandwidth, (TokenBucketConfig{52428800, 0, 1000}));
    EXPECT_EQ(c.rate_limiter.ops, (TokenBucketConfig{2000, 100, 1000}));
    EXPECT_EQ(value_of(parse_drive(to_json(d))), d);
    // Back from the device's view: every value spelt out, the same drive.
    const Drive back = from_drive_config(c, d.partuuid);
    EXPECT_EQ(back.drive_id, d.drive_id);
    EXPECT_EQ(back.cache_type, d.cache_type);
    EXPECT_EQ(back.io_engine, d.io_engine);
    EXPECT_EQ(back.rate_limiter, d.rate_limiter);
    EXPECT_EQ(to_drive_config(back).overlay, c.overlay);
    EXPECT_EQ(value_of(parse_drive(R"({"drive_id": "a", "path_on_host": "p", "is_root_device":
                                       false, "io_engine": "Async"})"))
                  .io_engine,
              EngineKind::kIoUring);
}

TEST(ModelDrive, BadInput) {
    EXPECT_EQ(error_of(parse_drive(R"({"drive_id": "a", "path_on_host": "p"})")),
              "drives: is_root_device is required");
    EXPECT_EQ(error_of(parse_drive(R"({"drive_id": "a", "is_root_device": true})")),
              "drives: path_on_host is required");
    EXPECT_TRUE(has_all(error_of(parse_drive(R"({"path_on_host": "p", "is_root_device": true})")),
                        {"drive_id is required"}));
    EXPECT_TRUE(has_all(error_of(parse_drive(
                            R"({"drive_id": "a b", "path_on_host": "p", "is_root_device": true})")),
                        {"drive_id 'a b' is not valid"}));
    EXPECT_TRUE(has_all(error_of(parse_drive(R"({"drive_id": "abcdefghijklmnopqrstu",
                                                  "path_on_host": "p", "is_root_device": true})")),
                        {"1 to 20 ASCII"}));
    EXPECT_TRUE(has_all(error_of(parse_drive(R"({"drive_id": "a", "socket": "/v.sock",
                                                  "is_root_device": true})")),
                        {"socket (a vhost-user-block back end) is not supported"}));
    EXPECT_TRUE(has_all(error_of(parse_drive(R"({"drive_id": "a", "path_on_host": "p",
                                                  "is_root_device": true, "cache_type": "unsafe"})")),
                        {"cache_type \"unsafe\" is not valid; use \"Unsafe\" or \"Writeback\""}));
    EXPECT_TRUE(has_all(error_of(parse_drive(R"({"drive_id": "a", "path_on_host": "p",
                                                  "is_root_device": true, "io_engine": "Uring"})")),
                        {"io_engine \"Uring\" is not valid; use \"Sync\" or \"Async\""}));
    EXPECT_TRUE(has_all(error_of(parse_drive(R"({"drive_id": "a", "path_on_host": "p",
                                                  "is_root_device": true, "partuuid": "x y"})")),
                        {"partuuid \"x y\" is not valid"}));
    EXPECT_TRUE(has_all(error_of(parse_drive(R"({"drive_id": "a", "path_on_host": "p",
                                                  "is_root_device": true, "overlay_path": "o",
                                                  "io_engine": "Async"})")),
                        {"io_engine \"Async\" does not support overlay_path"}));
    EXPECT_TRUE(has_all(error_of(parse_drive(R"({"drive_id": "a", "path_on_host": "p",
                                                  "is_root_device": "yes"})")),
                        {"is_root_device must be a boolean (true or false), not a string"}));
    EXPECT_TRUE(has_all(error_of(parse_drive(R"({"drive_id": "a", "path_on_host": "p",
                                                  "is_root_device": true, "readonly": true})")),
                        {"unknown field \"readonly\"", "overlay_path"}));
}

TEST(ModelDrive, Patch) {
    const auto p = value_of(parse_partial_drive(
        R"({"drive_id": "scratch", "path_on_host": "new.img",
            "rate_limiter": {"ops": {"size": 10, "refill_time": 100}}})"));
    EXPECT_EQ(p.drive_id, "scratch");
    EXPECT_EQ(p.path_on_host.value(), "new.img");
    EXPECT_EQ(p.rate_limiter->ops, (TokenBucket{10, std::nullopt, 100}));
    EXPECT_EQ(value_of(parse_partial_drive(to_json(p))), p);
    EXPECT_EQ(value_of(parse_partial_drive(R"({"drive_id": "x"})")), (PartialDrive{"x", {}, {}}));
    EXPECT_TRUE(
        has_all(error_of(parse_partial_drive(R"({"drive_id": "x", "is_read_only": true})")),
                {"unknown field \"is_read_only\"", "drive_id, path_on_host, rate_limiter"}));
}

TEST(ModelNetworkInterface, GettingStartedExample) {
    const auto n = value_of(parse_network_interface(R"({
        "iface_id": "net1", "guest_mac": "06:00:AC:10:00:02", "host_dev_name": "tap0"
    })"));
    EXPECT_EQ(n.iface_id, "net1");
    EXPECT_EQ(n.host_dev_name, "tap0");
    EXPECT_EQ(n.guest_mac, (MacAddress{0x06, 0x00, 0xac, 0x10, 0x00, 0x02}));
    EXPECT_EQ(to_json(n),
              R"({"guest_mac":"06:00:ac:10:00:02","host_dev_name":"tap0","iface_id":"net1"})");
    EXPECT_EQ(value_of(parse_network_interface(to_json(n))), n);
}

TEST(ModelNetworkInterface, EveryFieldAndBadInput) {
    const auto n = value_of(parse_network_interface(
        R"({"iface_id": "eth0", "host_dev_name": "tap012345678901", "mtu": 9000,
            "rx_rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 10}},
            "tx_rate_limiter": {"ops": {"size": 5, "refill_time": 10}}})"));
    EXPECT_EQ(n.mtu.value(), 9000);
    EXPECT_EQ(value_of(parse_network_interface(to_json(n))), n);
    const char* bad_macs[] = {"06:00:AC:10:00", "06:00:AC:10:00:0g", "06-00-AC-10-00-02",
                              "06:00:AC:10:00:002", "+6:00:AC:10:00:02"};
    for (const char* mac : bad_macs)
        EXPECT_TRUE(
            has_all(error_of(parse_network_interface(fmt::format(
                        R"({{"iface_id": "a", "host_dev_name": "t", "guest_mac": "{}"}})", mac))),
                    {"guest_mac", "is not valid"}))
            << mac;
    EXPECT_TRUE(has_all(error_of(parse_network_interface(
                            R"({"iface_id": "a", "host_dev_name": "tap0123456789012"})")),
                        {"host_dev_name is 16 bytes long; at most 15"}));
    EXPECT_TRUE(has_all(
        error_of(parse_network_interface(R"({"iface_id": "a", "host_dev_name": "t", "mtu": 67})")),
        {"mtu 67 is out of range; use 68..65535"}));
    EXPECT_TRUE(has_all(error_of(parse_network_interface(R"({"iface_id": "a"})")),
                        {"network-interfaces: host_dev_name is required"}));
    EXPECT_TRUE(
        has_all(error_of(parse_network_interface(R"({"iface_id": "a.b", "host_dev_name": "t"})")),
                {"iface_id 'a.b' is not valid: use 1 to 64"}));
    const auto p = value_of(parse_partial_network_interface(
        R"({"iface_id": "eth0", "tx_rate_limiter": {"ops": {"size": 0, "refill_time": 0}}})"));
    EXPECT_EQ(p.tx_rate_limiter->ops, (TokenBucket{0, std::nullopt, 0}));
    EXPECT_EQ(value_of(parse_partial_network_interface(to_json(p))), p);
    EXPECT_TRUE(has_all(
        error_of(parse_partial_network_interface(R"({"iface_id": "eth0", "host_dev_name": "t"})")),
        {"unknown field \"host_dev_name\""}));
}

TEST(ModelNetworkInterface, Macs) {
    EXPECT_EQ(parse_mac("ff:FF:00:0a:B0:01"), (MacAddress{0xff, 0xff, 0x00, 0x0a, 0xb0, 0x01}));
    EXPECT_FALSE(parse_mac("").has_value());
    EXPECT_FALSE(parse_mac("ff:ff:ff:ff:ff:ff:").has_value());
    EXPECT_EQ(format_mac(MacAddress{0x06, 0, 0xac, 0x10, 0, 2}), "06:00:ac:10:00:02");
}

} // namespace
} // namespace ember::api::model
