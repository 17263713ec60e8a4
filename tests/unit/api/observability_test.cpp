// metrics_line()'s JSON with and without a VM, MetricsSink (appending, errors naming the path),
// and apply_logger()'s effects on the logger.
#include "api/observability.hpp"

#include "tests/unit/api/api_test_util.hpp"
#include "vmm/sys/logger.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

namespace ember::api {
namespace {

using testing::read_file;
using testing::TempDir;
using Json = nlohmann::json;

// The top-level keys of a line, in the order written.
std::vector<std::string> keys(const std::string& line) {
    const auto object = nlohmann::ordered_json::parse(line, nullptr, false);
    std::vector<std::string> out;
    for (auto it = object.begin(); it != object.end(); ++it)
        out.push_back(it.key());
    return out;
}

Json parse_line(const std::string& line) {
    EXPECT_TRUE(line.ends_with("\n")) << line;
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
    return Json::parse(line, nullptr, false);
}

TEST(MetricsLine, BeforeBootHasTheInstanceTheRequestsAndTheLogger) {
    MetricsInputs in{"vm-1", "Not started", std::nullopt, std::nullopt, {}};
    in.actions["PutDrive"] = ActionCount{2, 1};
    in.actions["GetVmConfig"] = ActionCount{5, 0};
    const auto before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    const std::string line = metrics_line(in);
    const Json j = parse_line(line);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(keys(line),
              (std::vector<std::string>{"utc_timestamp_ms", "instance", "api_requests", "logger"}));
    EXPECT_GE(j["utc_timestamp_ms"].get<int64_t>(), before_ms);
    EXPECT_EQ(j["instance"], Json::parse(R"({"id": "vm-1", "state": "Not started"})"));
    EXPECT_EQ(j["api_requests"], Json::parse(R"({"GetVmConfig": {"count": 5, "fails": 0},
                                                 "PutDrive": {"count": 2, "fails": 1}})"));
    EXPECT_EQ(j["logger"],
              Json::parse(fmt::format(R"({{"suppressed_lines": {}}})", log::suppressed_lines())));
}

TEST(MetricsLine, NoActionsIsAnEmptyObjectAndApiStatsAverage) {
    MetricsInputs in{"x", "Running", std::nullopt, http::ServerStats{4, 0, 1, 0, 0}, {}};
    Json j = parse_line(metrics_line(in));
    EXPECT_EQ(j["api_requests"], Json::object());
    // No requests yet: the average is 0, not a division by zero.
    EXPECT_EQ(j["api_server"], Json::parse(R"({"connections": 4, "requests": 0, "refused": 1,
                                               "latency_us_avg": 0, "latency_us_max": 0})"));
    in.api = http::ServerStats{1, 4, 0, 1000, 700};
    j = parse_line(metrics_line(in));
    EXPECT_EQ(j["api_server"]["latency_us_avg"], 250);
    EXPECT_EQ(j["api_server"]["latency_us_max"], 700);
}

TEST(MetricsLine, AfterBootHasVcpuBlockAndBootTimer) {
    VmmMetrics vm;
    vm.exits.io_in = 1;
    vm.exits.io_out = 2;
    vm.exits.mmio_read = 3;
    vm.exits.mmio_write = 4;
    vm.exits.unhandled_access = 5;
    vm.exits.interrupted = 6;
    vm.exits.other = 7;
    DriveMetrics rootfs;
    rootfs.id = "rootfs";
    rootfs.name = "virtio-blk 'rootfs'";
    rootfs.block.notifications = 11;
    rootfs.block.requests = 80;
    rootfs.block.reads = 60;
    rootfs.block.writes = 15;
    rootfs.block.flushes = 2;
    rootfs.block.discards = 1;
    rootfs.block.write_zeroes = 1;
    rootfs.block.get_ids = 1;
    rootfs.block.read_bytes = 245760;
    rootfs.block.write_bytes = 61440;
    rootfs.block.io_errors = 3;
    rootfs.block.unsupported = 4;
    rootfs.block.throttled = 5;
    rootfs.block.interrupts = 70;
    rootfs.block.broken = 1;
    rootfs.block.polled = 9;
    rootfs.transport.notifies = 12;
    rootfs.transport.resets = 2;
    DriveMetrics unnamed;
    unnamed.name = "virtio-blk 1";
    unnamed.block.reads = 1;
    vm.drives = {rootfs, unnamed};
    vm.boot_time = devices::BootTime{5321, 2210};
    MetricsInputs in{"vm-2", "Paused", vm, std::nullopt, {}};

    const std::string line = metrics_line(in);
    const Json j = parse_line(line);
    EXPECT_EQ(keys(line),
              (std::vector<std::string>{"utc_timestamp_ms", "instance", "api_requests", "vcpu",
                                        "block", "net", "boot_timer", "logger"}));
    EXPECT_EQ(j["net"], Json::object()); // no interfaces
    EXPECT_EQ(j["instance"]["state"], "Paused");
    EXPECT_EQ(j["vcpu"], Json::parse(R"({"exits": 23, "io_in": 1, "io_out": 2, "mmio_read": 3,
        "mmio_write": 4, "kicks": 6, "unhandled_access": 5, "other": 7})"));
    EXPECT_EQ(j["block"]["rootfs"], Json::parse(R"({"requests": 80, "reads": 60, "writes": 15,
        "flushes": 2, "discards": 1, "write_zeroes": 1, "get_ids": 1, "read_bytes": 245760,
        "write_bytes": 61440, "io_errors": 3, "unsupported": 4, "throttled": 5, "kicks": 11,
        "interrupts": 70, "polled": 9, "needs_reset": 1, "notifies_exited": 12, "resets": 2})"));
    // A drive without an id is listed under its device name.
    ASSERT_TRUE(j["block"].contains("virtio-blk 1")) << j["block"].dump();
    EXPECT_EQ(j["block"]["virtio-blk 1"]["reads"], 1);
    EXPECT_EQ(j["block"].size(), 2U);
    EXPECT_EQ(j["boot_timer"], Json::parse(R"({"boot_time_us": 5321, "cpu_us": 2210})"));

    // No boot signal yet, no drives: no boot_timer, an empty block object.
    in.vmm = VmmMetrics{};
    const Json bare = parse_line(metrics_line(in));
    EXPECT_FALSE(bare.contains("boot_timer"));
    EXPECT_EQ(bare["block"], Json::object());
    EXPECT_EQ(bare["vcpu"]["exits"], 0);
}

TEST(MetricsLine, EscapesTheInstanceId) {
    MetricsInputs in{R"(a"b\c)", "Running", std::nullopt, std::nullopt, {}};
    const Json j = parse_line(metrics_line(in));
    EXPECT_EQ(j["instance"]["id"], R"(a"b\c)");
}

TEST(MetricsSink, AppendsOneWritePerLine) {
    const TempDir dir;
    const std::string path = dir.file("metrics.json");
    {
        // An existing file is appended to, not truncated.
        FILE* f = std::fopen(path.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fputs("old\n", f);
        std::fclose(f);
    }
    auto sink = MetricsSink::open(path);
    ASSERT_TRUE(sink) << sink.error().describe();
    EXPECT_EQ(sink->path(), path);
    ASSERT_TRUE(sink->write("{\"a\":1}\n"));
    ASSERT_TRUE(sink->write("{\"a\":2}\n"));
    EXPECT_EQ(read_file(path), "old\n{\"a\":1}\n{\"a\":2}\n");
}

TEST(MetricsSink, AMissingDirectoryNamesThePath) {
    const TempDir dir;
    const std::string path = dir.file("missing/metrics.json");
    auto sink = MetricsSink::open(path);
    ASSERT_FALSE(sink);
    EXPECT_EQ(sink.error().code(), Errc::kNotFound);
    EXPECT_NE(sink.error().message().find("metrics_path '" + path + "'"), std::string::npos)
        << sink.error().message();
    EXPECT_NE(sink.error().describe().find("does its directory exist"), std::string::npos)
        << sink.error().describe();
}

class ApplyLoggerTest : public ::testing::Test {
protected:
    void SetUp() override {
        level_ = log::level();
        show_level_ = log::show_level();
        show_origin_ = log::show_origin();
    }
    void TearDown() override {
        log::set_fd(STDERR_FILENO);
        log::set_level(level_);
        log::set_show_level(show_level_);
        log::set_show_origin(show_origin_);
    }
    log::Level level_ = log::Level::kWarn;
    bool show_level_ = true;
    bool show_origin_ = false;
};

TEST_F(ApplyLoggerTest, SetsTheFileTheLevelAndTheShowFlags) {
    const TempDir dir;
    const std::string path = dir.file("ember.log");
    log::set_level(log::Level::kWarn);
    log::set_show_level(true);
    log::set_show_origin(false);
    model::Logger logger;
    logger.log_path = path;
    logger.level = model::LogLevel::kDebug;
    logger.show_level = false;
    logger.show_log_origin = true;
    auto fd = apply_logger(logger);
    ASSERT_TRUE(fd) << fd.error().describe();
    EXPECT_TRUE(static_cast<bool>(*fd));
    EXPECT_EQ(log::level(), log::Level::kDebug);
    EXPECT_FALSE(log::show_level());
    EXPECT_TRUE(log::show_origin());
    log::debug("into the file");
    const int line = __LINE__ - 1;
    EXPECT_EQ(read_file(path),
              fmt::format("ember: [observability_test.cpp:{}] into the file\n", line));
    log::set_fd(STDERR_FILENO); // before the fd closes
}

TEST_F(ApplyLoggerTest, AbsentFieldsChangeNothing) {
    log::set_level(log::Level::kError);
    log::set_show_level(false);
    log::set_show_origin(true);
    auto fd = apply_logger(model::Logger{});
    ASSERT_TRUE(fd);
    EXPECT_FALSE(static_cast<bool>(*fd)); // no log_path: no fd
    EXPECT_EQ(log::level(), log::Level::kError);
    EXPECT_FALSE(log::show_level());
    EXPECT_TRUE(log::show_origin());
    // Trace is ember's debug.
    model::Logger trace;
    trace.level = model::LogLevel::kTrace;
    ASSERT_TRUE(apply_logger(trace));
    EXPECT_EQ(log::level(), log::Level::kDebug);
}

TEST_F(ApplyLoggerTest, AMissingDirectoryNamesThePathAndChangesNothing) {
    const TempDir dir;
    const std::string path = dir.file("missing/ember.log");
    log::set_level(log::Level::kWarn);
    model::Logger logger;
    logger.log_path = path;
    logger.level = model::LogLevel::kDebug;
    logger.show_log_origin = true;
    log::set_show_origin(false);
    auto fd = apply_logger(logger);
    ASSERT_FALSE(fd);
    EXPECT_EQ(fd.error().code(), Errc::kNotFound);
    EXPECT_NE(fd.error().message().find("log_path '" + path + "'"), std::string::npos)
        << fd.error().message();
    EXPECT_EQ(log::level(), log::Level::kWarn);
    EXPECT_FALSE(log::show_origin());
}

} // namespace
} // namespace ember::api
