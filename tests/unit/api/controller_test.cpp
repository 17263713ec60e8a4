// Controller before boot (no KVM: nothing here starts a VM): each pre-boot PUT/PATCH shows in
// GET /vm/config and /machine-config, post-boot-only actions are refused, InstanceStart needs a
// kernel, FlushMetrics and PUT /metrics, PUT /logger, GET / and the per-action counts.
#include "api/controller.hpp"

#include "api/router.hpp"
#include "tests/unit/api/api_test_util.hpp"
#include "vmm/sys/logger.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

namespace ember::api {
namespace {

using http::Method;
using http::Status;
using testing::fault_of;
using testing::read_file;
using testing::request;
using testing::TempDir;
using Json = nlohmann::json;

class ControllerTest : public ::testing::Test {
protected:
    void SetUp() override {
        saved_level_ = log::level();
        saved_show_level_ = log::show_level();
        saved_show_origin_ = log::show_origin();
        controller_ = std::make_unique<Controller>(model::VmConfigBuilder{}, "vm-7", timings_);
    }
    void TearDown() override {
        controller_.reset();
        log::set_fd(STDERR_FILENO);
        log::set_level(saved_level_);
        log::set_show_level(saved_show_level_);
        log::set_show_origin(saved_show_origin_);
    }

    // The request through the router and, if it became an action, the controller.
    http::Response send(Method method, std::string path, std::string body = {}) {
        Routed routed = route(request(method, std::move(path), std::move(body)));
        if (auto* answer = std::get_if<http::Response>(&routed)) return *answer;
        return controller_->handle(std::get<VmmAction>(routed));
    }
    Json get_json(std::string path) {
        const http::Response r = send(Method::kGet, std::move(path));
        EXPECT_EQ(r.status, Status::kOk) << r.body;
        return Json::parse(r.body, nullptr, false);
    }
    void expect_no_content(Method method, std::string path, std::string body) {
        const http::Response r = send(method, path, std::move(body));
        EXPECT_EQ(r.status, Status::kNoContent) << path << ": " << r.body;
    }
    std::string expect_400(Method method, std::string path, std::string body) {
        const http::Response r = send(method, path, std::move(body));
        EXPECT_EQ(r.status, Status::kBadRequest) << path << ": " << r.body;
        return fault_of(r);
    }

    Timings timings_;
    std::unique_ptr<Controller> controller_;
    log::Level saved_level_ = log::Level::kWarn;
    bool saved_show_level_ = true;
    bool saved_show_origin_ = false;
};

TEST_F(ControllerTest, StartsEmptyAndNotStarted) {
    EXPECT_FALSE(controller_->started());
    EXPECT_EQ(controller_->vmm(), nullptr);
    EXPECT_EQ(controller_->state(), "Not started");
    const Json info = get_json("/");
    EXPECT_EQ(info,
              Json::parse(fmt::format(
                  R"({{"app_name":"ember","id":"vm-7","state":"Not started","vmm_version":"{}"}})",
                  EMBER_VERSION)));
    const Json config = get_json("/vm/config");
    EXPECT_TRUE(config["boot-source"].is_null());
    EXPECT_EQ(config["drives"], Json::array());
    EXPECT_EQ(config["network-interfaces"], Json::array());
    EXPECT_TRUE(config["vsock"].is_null());
    EXPECT_TRUE(config["metrics"].is_null());
    const Json machine = get_json("/machine-config");
    EXPECT_EQ(machine["vcpu_count"], 1);
    EXPECT_EQ(machine["mem_size_mib"], VmConfig::kDefaultMemMib);
}

TEST_F(ControllerTest, PreBootPutsAndPatchesShowInVmConfigAndMachineConfig) {
    expect_no_content(Method::kPut, "/boot-source",
                      R"({"kernel_image_path": "vmlinux", "boot_args": "console=ttyS0 quiet",
                          "initrd_path": "initrd.img"})");
    expect_no_content(Method::kPut, "/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 256})");
    Json machine = get_json("/machine-config");
    EXPECT_EQ(machine["vcpu_count"], 2);
    EXPECT_EQ(machine["mem_size_mib"], 256);
    expect_no_content(Method::kPatch, "/machine-config", R"({"mem_size_mib": 512})");
    machine = get_json("/machine-config");
    EXPECT_EQ(machine["vcpu_count"], 2); // PATCH keeps what it does not name
    EXPECT_EQ(machine["mem_size_mib"], 512);
    expect_no_content(Method::kPut, "/drives/rootfs",
                      R"({"drive_id": "rootfs", "path_on_host": "root.ext4",
                          "is_root_device": true, "is_read_only": true})");
    expect_no_content(Method::kPut, "/drives/data",
                      R"({"drive_id": "data", "path_on_host": "data.img",
                          "is_root_device": false})");
    expect_no_content(Method::kPut, "/network-interfaces/eth0",
                      R"({"iface_id": "eth0", "host_dev_name": "tap0",
                          "guest_mac": "06:00:00:00:00:01"})");
    expect_no_content(Method::kPut, "/vsock", R"({"guest_cid": 7, "uds_path": "/tmp/v.sock"})");
    expect_no_content(Method::kPut, "/entropy", R"({})");
    expect_no_content(Method::kPut, "/serial", R"({"serial_out_path": "serial.log"})");

    const Json config = get_json("/vm/config");
    EXPECT_EQ(config["boot-source"]["kernel_image_path"], "vmlinux");
    EXPECT_EQ(config["boot-source"]["boot_args"], "console=ttyS0 quiet");
    EXPECT_EQ(config["boot-source"]["initrd_path"], "initrd.img");
    EXPECT_EQ(config["machine-config"]["vcpu_count"], 2);
    EXPECT_EQ(config["machine-config"]["mem_size_mib"], 512);
    ASSERT_EQ(config["drives"].size(), 2U);
    EXPECT_EQ(config["drives"][0]["drive_id"], "rootfs");
    EXPECT_EQ(config["drives"][0]["path_on_host"], "root.ext4");
    EXPECT_EQ(config["drives"][0]["is_root_device"], true);
    EXPECT_EQ(config["drives"][0]["is_read_only"], true);
    EXPECT_EQ(config["drives"][1]["drive_id"], "data");
    ASSERT_EQ(config["network-interfaces"].size(), 1U);
    EXPECT_EQ(config["network-interfaces"][0]["iface_id"], "eth0");
    EXPECT_EQ(config["network-interfaces"][0]["host_dev_name"], "tap0");
    EXPECT_EQ(config["network-interfaces"][0]["guest_mac"], "06:00:00:00:00:01");
    EXPECT_EQ(config["vsock"]["guest_cid"], 7);
    EXPECT_EQ(config["vsock"]["uds_path"], "/tmp/v.sock");
    EXPECT_TRUE(config["entropy"].is_object());
    EXPECT_EQ(config["serial"]["serial_out_path"], "serial.log");

    // The builder holds the same, for InstanceStart.
    const VmConfig& c = controller_->builder().config();
    EXPECT_EQ(c.kernel_path, "vmlinux");
    EXPECT_EQ(c.vcpus, 2U);
    EXPECT_EQ(c.mem_mib, 512U);
    ASSERT_EQ(c.drives.size(), 2U);
    EXPECT_TRUE(c.drives[0].read_only);
    EXPECT_EQ(c.serial.mode, SerialConfig::Mode::kFile);
    EXPECT_FALSE(controller_->started());
}

TEST_F(ControllerTest, RefusedPutsLeaveTheConfigurationAlone) {
    expect_no_content(Method::kPut, "/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 256})");
    // Path id and body id differ: the builder's message.
    EXPECT_EQ(expect_400(Method::kPut, "/drives/a",
                         R"({"drive_id": "b", "path_on_host": "p", "is_root_device": false})"),
              "drives: the id in the path ('a') differs from drive_id in the body ('b'); they "
              "must be the same");
    EXPECT_EQ(expect_400(Method::kPut, "/network-interfaces/x",
                         R"({"iface_id": "y", "host_dev_name": "tap0"})"),
              "network-interfaces: the id in the path ('x') differs from iface_id in the body "
              "('y'); they must be the same");
    // A second root drive.
    expect_no_content(Method::kPut, "/drives/a",
                      R"({"drive_id": "a", "path_on_host": "p", "is_root_device": true})");
    const std::string two_roots =
        expect_400(Method::kPut, "/drives/b",
                   R"({"drive_id": "b", "path_on_host": "q", "is_root_device": true})");
    EXPECT_NE(two_roots.find("root"), std::string::npos) << two_roots;
    const Json config = get_json("/vm/config");
    ASSERT_EQ(config["drives"].size(), 1U);
    EXPECT_EQ(config["drives"][0]["drive_id"], "a");
    EXPECT_EQ(config["network-interfaces"], Json::array());
    EXPECT_EQ(get_json("/machine-config")["vcpu_count"], 2);
}

TEST_F(ControllerTest, PostBootOnlyActionsAreRefusedBeforeBoot) {
    const std::string prefix = "The requested operation is not supported before starting the "
                               "microVM: ";
    const std::string suffix = " acts on a running microVM; send InstanceStart first";
    EXPECT_EQ(expect_400(Method::kPatch, "/drives/rootfs",
                         R"({"drive_id": "rootfs", "path_on_host": "new.img"})"),
              prefix + "PATCH /drives" + suffix);
    EXPECT_EQ(expect_400(Method::kPatch, "/network-interfaces/eth0", R"({"iface_id": "eth0"})"),
              prefix + "PATCH /network-interfaces" + suffix);
    EXPECT_EQ(expect_400(Method::kPatch, "/vm", R"({"state": "Paused"})"),
              prefix + "PATCH /vm" + suffix);
    EXPECT_EQ(expect_400(Method::kPatch, "/vm", R"({"state": "Resumed"})"),
              prefix + "PATCH /vm" + suffix);
    EXPECT_EQ(expect_400(Method::kPut, "/actions", R"({"action_type": "SendCtrlAltDel"})"),
              prefix + "SendCtrlAltDel" + suffix);
    EXPECT_EQ(controller_->state(), "Not started");
}

TEST_F(ControllerTest, InstanceStartWithoutABootSourceIs400) {
    EXPECT_EQ(expect_400(Method::kPut, "/actions", R"({"action_type": "InstanceStart"})"),
              "Cannot start microvm without kernel configuration: PUT /boot-source with a "
              "kernel_image_path first");
    EXPECT_FALSE(controller_->started());
    // Configuring other things does not change that.
    expect_no_content(Method::kPut, "/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 64})");
    EXPECT_TRUE(expect_400(Method::kPut, "/actions", R"({"action_type": "InstanceStart"})")
                    .starts_with("Cannot start microvm without kernel configuration"));
    EXPECT_FALSE(controller_->started());
}

TEST_F(ControllerTest, FlushMetricsWithoutMetricsIs400) {
    EXPECT_EQ(expect_400(Method::kPut, "/actions", R"({"action_type": "FlushMetrics"})"),
              "FlushMetrics: metrics are not configured; PUT /metrics with a metrics_path (or "
              "start with --metrics-path)");
    // flush_metrics() itself has nothing to do.
    EXPECT_TRUE(controller_->flush_metrics());
}

std::vector<Json> json_lines(const std::string& text) {
    std::vector<Json> lines;
    size_t start = 0;
    while (start < text.size()) {
        const size_t end = text.find('\n', start);
        EXPECT_NE(end, std::string::npos) << "unterminated line: " << text.substr(start);
        if (end == std::string::npos) break;
        lines.push_back(Json::parse(text.substr(start, end - start), nullptr, false));
        EXPECT_TRUE(lines.back().is_object()) << text.substr(start, end - start);
        start = end + 1;
    }
    return lines;
}

TEST_F(ControllerTest, FlushMetricsWritesOneJsonLineWithTheCounts) {
    const TempDir dir;
    const std::string path = dir.file("metrics.json");
    // Counted before metrics exist: one refused FlushMetrics, one GET /.
    (void)expect_400(Method::kPut, "/actions", R"({"action_type": "FlushMetrics"})");
    (void)get_json("/");
    expect_no_content(Method::kPut, "/metrics", fmt::format(R"({{"metrics_path": "{}"}})", path));
    EXPECT_EQ(read_file(path), ""); // nothing until a flush
    expect_no_content(Method::kPut, "/actions", R"({"action_type": "FlushMetrics"})");

    std::vector<Json> lines = json_lines(read_file(path));
    ASSERT_EQ(lines.size(), 1U);
    const Json& line = lines[0];
    EXPECT_EQ(line["instance"], Json::parse(R"({"id": "vm-7", "state": "Not started"})"));
    EXPECT_TRUE(line["utc_timestamp_ms"].is_number_unsigned() ||
                line["utc_timestamp_ms"].is_number_integer());
    // The flush being handled is counted once it is answered, so it shows in the next line.
    EXPECT_EQ(line["api_requests"], Json::parse(R"({
        "GetInstanceInfo": {"count": 1, "fails": 0},
        "InstanceAction": {"count": 1, "fails": 1},
        "PutMetrics": {"count": 1, "fails": 0}})"));
    EXPECT_FALSE(line.contains("vcpu"));       // no VM yet
    EXPECT_FALSE(line.contains("api_server")); // no server stats were set
    EXPECT_TRUE(line["logger"].contains("suppressed_lines"));

    // The API server's counters, once set, are in the next line.
    controller_->set_api_stats([] { return http::ServerStats{3, 10, 2, 500, 120}; });
    (void)expect_400(Method::kPatch, "/vm", R"({"state": "Paused"})");
    expect_no_content(Method::kPut, "/actions", R"({"action_type": "FlushMetrics"})");
    lines = json_lines(read_file(path));
    ASSERT_EQ(lines.size(), 2U);
    EXPECT_EQ(lines[1]["api_requests"]["InstanceAction"],
              Json::parse(R"({"count": 2, "fails": 1})"));
    EXPECT_EQ(lines[1]["api_requests"]["PatchVm"], Json::parse(R"({"count": 1, "fails": 1})"));
    EXPECT_EQ(lines[1]["api_server"], Json::parse(R"({"connections": 3, "requests": 10,
        "refused": 2, "latency_us_avg": 50, "latency_us_max": 120})"));
    // GET /vm/config shows the metrics resource.
    EXPECT_EQ(get_json("/vm/config")["metrics"]["metrics_path"], path);
}

TEST_F(ControllerTest, MetricsCanBeSetOnceAndABadPathNamesIt) {
    const TempDir dir;
    const std::string missing = dir.file("no-such-dir/metrics.json");
    const std::string refused =
        expect_400(Method::kPut, "/metrics", fmt::format(R"({{"metrics_path": "{}"}})", missing));
    EXPECT_NE(refused.find("metrics_path '" + missing + "'"), std::string::npos) << refused;
    EXPECT_TRUE(get_json("/vm/config")["metrics"].is_null());

    const std::string first = dir.file("first.json");
    expect_no_content(Method::kPut, "/metrics", fmt::format(R"({{"metrics_path": "{}"}})", first));
    const std::string second = dir.file("second.json");
    EXPECT_EQ(
        expect_400(Method::kPut, "/metrics", fmt::format(R"({{"metrics_path": "{}"}})", second)),
        fmt::format("metrics: already configured (metrics_path '{}'); they can be set once",
                    first));
    EXPECT_EQ(::access(second.c_str(), F_OK), -1); // never created
    EXPECT_EQ(get_json("/vm/config")["metrics"]["metrics_path"], first);
    // Flushes still go to the first file.
    expect_no_content(Method::kPut, "/actions", R"({"action_type": "FlushMetrics"})");
    EXPECT_EQ(json_lines(read_file(first)).size(), 1U);
}

TEST_F(ControllerTest, PutLoggerSendsLaterLinesToItsFile) {
    const TempDir dir;
    const std::string path = dir.file("ember.log");
    expect_no_content(
        Method::kPut, "/logger",
        fmt::format(R"({{"log_path": "{}", "level": "Info", "show_level": false}})", path));
    EXPECT_EQ(log::level(), log::Level::kInfo);
    EXPECT_FALSE(log::show_level());
    log::warn("a line for the log file {}", 42);
    // A refused request is logged at info.
    (void)expect_400(Method::kPatch, "/vm", R"({"state": "Paused"})");
    const std::string text = read_file(path);
    EXPECT_NE(text.find("ember: a line for the log file 42\n"), std::string::npos) << text;
    EXPECT_NE(text.find("ember: API: PatchVm refused (400): "), std::string::npos) << text;
    EXPECT_EQ(text.find("warn:"), std::string::npos) << text; // show_level false

    const Json logger = get_json("/vm/config")["logger"];
    EXPECT_EQ(logger["log_path"], path);
    EXPECT_EQ(logger["level"], "Info");
    EXPECT_EQ(logger["show_level"], false);
    EXPECT_EQ(controller_->builder().config().log_level, log::Level::kInfo);

    // A second PUT changes only what it names.
    expect_no_content(Method::kPut, "/logger", R"({"show_log_origin": true})");
    EXPECT_TRUE(log::show_origin());
    EXPECT_EQ(log::level(), log::Level::kInfo);
    const Json merged = get_json("/vm/config")["logger"];
    EXPECT_EQ(merged["log_path"], path);
    EXPECT_EQ(merged["show_log_origin"], true);

    // The controller gives the file back when it goes: lines go to stderr again.
    controller_.reset();
    log::set_show_origin(false);
    const size_t before = read_file(path).size();
    ::testing::internal::CaptureStderr();
    log::warn("back on stderr");
    const std::string err = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("back on stderr"), std::string::npos) << err;
    EXPECT_EQ(read_file(path).size(), before);
}

TEST_F(ControllerTest, PutLoggerWithABadPathChangesNothing) {
    const TempDir dir;
    const std::string missing = dir.file("missing/ember.log");
    log::set_level(log::Level::kWarn);
    const std::string refused = expect_400(
        Method::kPut, "/logger", fmt::format(R"({{"log_path": "{}", "level": "Debug"}})", missing));
    EXPECT_NE(refused.find("log_path '" + missing + "'"), std::string::npos) << refused;
    EXPECT_EQ(log::level(), log::Level::kWarn);
    EXPECT_TRUE(get_json("/vm/config")["logger"].is_null());
}

TEST_F(ControllerTest, GetsAreServedAndCounted) {
    for (int i = 0; i < 3; ++i)
        (void)get_json("/");
    (void)get_json("/vm/config");
    (void)get_json("/machine-config");
    // Refused by the builder (a body the router refuses never reaches the controller).
    (void)expect_400(Method::kPut, "/drives/a",
                     R"({"drive_id": "b", "path_on_host": "p", "is_root_device": false})");
    const TempDir dir;
    const std::string path = dir.file("m.json");
    ASSERT_TRUE(controller_->configure_metrics(model::Metrics{path}));
    ASSERT_TRUE(controller_->flush_metrics());
    const auto lines = json_lines(read_file(path));
    ASSERT_EQ(lines.size(), 1U);
    EXPECT_EQ(lines[0]["api_requests"], Json::parse(R"({
        "GetInstanceInfo": {"count": 3, "fails": 0},
        "GetMachineConfig": {"count": 1, "fails": 0},
        "GetVmConfig": {"count": 1, "fails": 0},
        "PutDrive": {"count": 1, "fails": 1}})"));
}

} // namespace
} // namespace ember::api
