// Each resource's body: Firecracker's getting-started examples and full shapes parse, ember's
// refusals say why, and to_json() writes what parses back to the same model.
#include "api/model/boot_source.hpp"
#include "api/model/entropy.hpp"
#include "api/model/logger.hpp"
#include "api/model/machine_config.hpp"
#include "api/model/metrics.hpp"
#include "api/model/serial.hpp"
#include "api/model/vsock.hpp"
#include "tests/unit/api/model_test_util.hpp"

#include <gtest/gtest.h>

namespace ember::api::model {
namespace {

using testing::error_of;
using testing::has_all;
using testing::value_of;

template <class T> void expect_round_trip(const T& model, Result<T> (*parse)(std::string_view)) {
    const std::string text = to_json(model);
    EXPECT_EQ(value_of(parse(text)), model) << text;
}

TEST(ModelBootSource, GettingStartedExample) {
    const auto b = value_of(parse_boot_source(R"({
        "kernel_image_path": "./vmlinux-5.10.225",
        "boot_args": "console=ttyS0 reboot=k panic=1"
    })"));
    EXPECT_EQ(b.kernel_image_path, "./vmlinux-5.10.225");
    EXPECT_EQ(b.boot_args.value(), "console=ttyS0 reboot=k panic=1");
    EXPECT_FALSE(b.initrd_path.has_value());
    EXPECT_FALSE(b.boot_protocol.has_value());
}

TEST(ModelBootSource, AllFieldsAndRoundTrip) {
    EXPECT_TRUE(
        has_all(error_of(parse_boot_source(
                    R"({"kernel_image_path": "k", "initrd_path": "i", "initrd_path": null})")),
                {"field \"initrd_path\" appears twice"}));
    const auto ok = value_of(parse_boot_source(
        R"({"kernel_image_path": "k", "boot_args": "", "initrd_path": "i", "boot_protocol": "Pvh"})"));
    EXPECT_EQ(ok.boot_args.value(), "");
    EXPECT_EQ(ok.boot_protocol.value(), boot::BootProtocol::kPvh);
    expect_round_trip(ok, parse_boot_source);
    expect_round_trip(BootSource{"k", std::nullopt, std::nullopt, std::nullopt}, parse_boot_source);
}

TEST(ModelBootSource, BadInput) {
    EXPECT_EQ(error_of(parse_boot_source(R"({"boot_args": "x"})")),
              "boot-source: kernel_image_path is required");
    EXPECT_EQ(error_of(parse_boot_source(R"({"kernel_image_path": ""})")),
              "boot-source: kernel_image_path must not be empty");
    EXPECT_TRUE(has_all(
        error_of(parse_boot_source(R"({"kernel_image_path": "k", "boot_protocol": "pvh"})")),
        {"boot_protocol \"pvh\" is not valid; use \"Auto\", \"Pvh\" or \"Linux\""}));
    EXPECT_TRUE(has_all(error_of(parse_boot_source(R"({"kernel_image_path": "k", "kernel": "k"})")),
                        {"unknown field \"kernel\""}));
}

TEST(ModelMachineConfig, FirecrackerShapes) {
    const auto m = value_of(parse_machine_config(
        R"({"vcpu_count": 2, "mem_size_mib": 1024, "smt": false, "track_dirty_pages": false,
            "cpu_template": "None", "huge_pages": "None"})"));
    EXPECT_EQ(m, (MachineConfig{2, 1024}));
    expect_round_trip(m, parse_machine_config);
    EXPECT_EQ(
        to_json(MachineConfig{1, 128}),
        R"({"huge_pages":"None","mem_size_mib":128,"smt":false,"track_dirty_pages":false,"vcpu_count":1})");
}

TEST(ModelMachineConfig, RangesAndUnsupportedFeatures) {
    EXPECT_EQ(error_of(parse_machine_config(R"({"vcpu_count": 33, "mem_size_mib": 128})")),
              "machine-config: vcpu_count 33 is out of range; use 1..32");
    EXPECT_EQ(error_of(parse_machine_config(R"({"vcpu_count": 1, "mem_size_mib": 1})")),
              "machine-config: mem_size_mib 1 is out of range; use 2..1048576");
    EXPECT_TRUE(has_all(
        error_of(parse_machine_config(R"({"vcpu_count": 2, "mem_size_mib": 128, "smt": true})")),
        {"smt true is not supported by ember"}));
    EXPECT_TRUE(
        has_all(error_of(parse_machine_config(
                    R"({"vcpu_count": 2, "mem_size_mib": 128, "track_dirty_pages": true})")),
                {"track_dirty_pages true is not supported", "snapshots"}));
    EXPECT_TRUE(has_all(error_of(parse_machine_config(
                            R"({"vcpu_count": 2, "mem_size_mib": 128, "cpu_template": "T2"})")),
                        {"cpu_template \"T2\" is not supported by ember"}));
    EXPECT_TRUE(has_all(error_of(parse_machine_config(
                            R"({"vcpu_count": 2, "mem_size_mib": 128, "cpu_template": "T9"})")),
                        {"cpu_template \"T9\" is not valid", "\"None\", \"C3\""}));
    EXPECT_TRUE(has_all(error_of(parse_machine_config(
                            R"({"vcpu_count": 2, "mem_size_mib": 128, "huge_pages": "2M"})")),
                        {"huge_pages \"2M\" is not supported by ember"}));
}

TEST(ModelMachineConfig, Patch) {
    EXPECT_EQ(value_of(parse_machine_config_update(R"({"vcpu_count": 4})")),
              (MachineConfigUpdate{4, std::nullopt}));
    EXPECT_EQ(value_of(parse_machine_config_update(R"({"mem_size_mib": 512})")),
              (MachineConfigUpdate{std::nullopt, 512}));
    expect_round_trip(MachineConfigUpdate{2, 256}, parse_machine_config_update);
    EXPECT_EQ(to_json(MachineConfigUpdate{}), "{}");
    // A field that changes nothing still makes a PATCH (Firecracker's rule).
    EXPECT_EQ(value_of(parse_machine_config_update(R"({"smt": false})")), MachineConfigUpdate{});
    EXPECT_TRUE(has_all(error_of(parse_machine_config_update("{}")),
                        {"machine-config: the PATCH body sets no field"}));
    EXPECT_TRUE(has_all(error_of(parse_machine_config_update(R"({"vcpu_count": null})")),
                        {"sets no field"}));
    EXPECT_TRUE(has_all(error_of(parse_machine_config_update(R"({"vcpu_count": 0})")),
                        {"vcpu_count 0 is out of range"}));
}

TEST(ModelVsock, GoodBadRoundTrip) {
    const auto v = value_of(parse_vsock(R"({"guest_cid": 3, "uds_path": "/tmp/v.sock"})"));
    EXPECT_EQ(v, (Vsock{3, "/tmp/v.sock", std::nullopt}));
    expect_round_trip(v, parse_vsock);
    expect_round_trip(Vsock{4294967294U, "x", "vsock0"}, parse_vsock);
    EXPECT_EQ(error_of(parse_vsock(R"({"guest_cid": 2, "uds_path": "a"})")),
              "vsock: guest_cid 2 is out of range; use 3..4294967294");
    EXPECT_EQ(error_of(parse_vsock(R"({"uds_path": "a"})")), "vsock: guest_cid is required");
}

TEST(ModelEntropy, GoodBadRoundTrip) {
    EXPECT_EQ(value_of(parse_entropy("{}")), Entropy{});
    const auto e = value_of(
        parse_entropy(R"({"rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100}}})"));
    EXPECT_EQ(e.rate_limiter->bandwidth, (TokenBucket{1000, std::nullopt, 100}));
    expect_round_trip(e, parse_entropy);
    EXPECT_TRUE(has_all(error_of(parse_entropy(R"({"rate_limiter": {"bandwidth": {"size": 1}}})")),
                        {"entropy: rate_limiter.bandwidth.refill_time is required"}));
}

TEST(ModelRateLimiter, BucketsAndTheirChecks) {
    const auto e = value_of(parse_entropy(
        R"({"rate_limiter": {"bandwidth": {"size": 0, "refill_time": 0},
                             "ops": {"size": 100, "one_time_burst": 50, "refill_time": 1000}}})"));
    EXPECT_EQ(e.rate_limiter->ops, (TokenBucket{100, 50, 1000}));
    const RateLimiterConfig config = to_config(e.rate_limiter);
    EXPECT_TRUE(config.bandwidth.unlimited());
    EXPECT_EQ(config.ops, (TokenBucketConfig{100, 50, 1000}));
    EXPECT_EQ(from_config(config)->ops, e.rate_limiter->ops);
    EXPECT_FALSE(from_config(config)->bandwidth.has_value());
    EXPECT_FALSE(from_config(RateLimiterConfig{}).has_value());
    const RateLimiterUpdate update = to_update(RateLimiter{TokenBucket{0, std::nullopt, 0}, {}});
    EXPECT_TRUE(update.bandwidth.has_value() && update.bandwidth->unlimited());
    EXPECT_FALSE(update.ops.has_value());

    EXPECT_EQ(
        error_of(parse_entropy(R"({"rate_limiter": {"ops": {"size": 5, "refill_time": 0}}})")),
        "entropy: rate_limiter.ops.refill_time 0 is out of range when size is 5; use "
        "1..18446744073709 (milliseconds), or size 0 for no limit");
    EXPECT_TRUE(has_all(
        error_of(parse_entropy(
            R"({"rate_limiter": {"ops": {"size": 0, "one_time_burst": 5, "refill_time": 1}}})")),
        {"rate_limiter.ops.one_time_burst 5 needs a size above 0"}));
    EXPECT_TRUE(has_all(
        error_of(parse_entropy(R"({"rate_limiter": {"ops": {"size": -1, "refill_time": 1}}})")),
        {"rate_limiter.ops.size -1 is out of range"}));
    EXPECT_TRUE(
        has_all(error_of(parse_entropy(
                    R"({"rate_limiter": {"ops": {"size": 1, "refill_time": 1, "x": 1}}})")),
                {"unknown field \"rate_limiter.ops.x\"", "size, one_time_burst, refill_time"}));
    EXPECT_TRUE(has_all(error_of(parse_entropy(R"({"rate_limiter": {"iops": {}}})")),
                        {"unknown field \"rate_limiter.iops\"", "bandwidth, ops"}));
    EXPECT_TRUE(has_all(error_of(parse_entropy(R"({"rate_limiter": {"ops": 5}})")),
                        {"rate_limiter.ops must be an object, not an integer"}));
    EXPECT_TRUE(has_all(error_of(parse_entropy(R"({"rate_limiter": []})")),
                        {"rate_limiter must be an object, not an array"}));
}

TEST(ModelLogger, GettingStartedExample) {
    const auto l = value_of(parse_logger(R"({
        "log_path": "firecracker.log", "level": "Debug", "show_level": true,
        "show_log_origin": true
    })"));
    EXPECT_EQ(l.log_path.value(), "firecracker.log");
    EXPECT_EQ(l.level.value(), LogLevel::kDebug);
    EXPECT_TRUE(l.show_level.value());
    EXPECT_TRUE(l.show_log_origin.value());
    expect_round_trip(l, parse_logger);
}

TEST(ModelLogger, LevelsAreCaseInsensitive) {
    const std::pair<const char*, LogLevel> cases[] = {
        {"error", LogLevel::kError}, {"WARNING", LogLevel::kWarn}, {"Warn", LogLevel::kWarn},
        {"info", LogLevel::kInfo},   {"DEBUG", LogLevel::kDebug},  {"trace", LogLevel::kTrace}};
    for (const auto& [text, level] : cases)
        EXPECT_EQ(value_of(parse_logger(fmt::format(R"({{"level": "{}"}})", text))).level, level)
            << text;
    EXPECT_EQ(to_log_level(LogLevel::kTrace), log::Level::kDebug);
    EXPECT_EQ(to_log_level(LogLevel::kWarn), log::Level::kWarn);
    EXPECT_TRUE(has_all(error_of(parse_logger(R"({"level": "Off"})")),
                        {"level \"Off\" is not supported by ember"}));
    EXPECT_TRUE(has_all(error_of(parse_logger(R"({"level": "verbose"})")),
                        {"level \"verbose\" is not valid"}));
    EXPECT_TRUE(has_all(error_of(parse_logger(R"({"module": "api_server"})")),
                        {"logger: module is not supported by ember"}));
}

TEST(ModelMetrics, GoodBadRoundTrip) {
    const auto m = value_of(parse_metrics(R"({"metrics_path": "m.fifo", "emit_id": false,
                                             "properties": {}})"));
    EXPECT_EQ(m.metrics_path, "m.fifo");
    expect_round_trip(m, parse_metrics);
    EXPECT_EQ(error_of(parse_metrics("{}")), "metrics: metrics_path is required");
    EXPECT_TRUE(has_all(error_of(parse_metrics(R"({"metrics_path": "m", "emit_id": true})")),
                        {"emit_id true is not supported"}));
    EXPECT_TRUE(
        has_all(error_of(parse_metrics(R"({"metrics_path": "m", "properties": {"a": "b"}})")),
                {"properties is not supported by ember yet"}));
}

TEST(ModelSerial, GoodBadRoundTrip) {
    const auto s = value_of(parse_serial(R"({"serial_out_path": "/tmp/console"})"));
    EXPECT_EQ(to_serial_config(s).mode, SerialConfig::Mode::kFile);
    EXPECT_EQ(to_serial_config(s).path, "/tmp/console");
    EXPECT_EQ(to_serial_config(value_of(parse_serial("{}"))).mode, SerialConfig::Mode::kStdout);
    expect_round_trip(s, parse_serial);
    EXPECT_TRUE(
        has_all(error_of(parse_serial(R"({"rate_limiter": {"size": 1, "refill_time": 1}})")),
                {"serial: rate_limiter is not supported"}));
}

} // namespace
} // namespace ember::api::model
