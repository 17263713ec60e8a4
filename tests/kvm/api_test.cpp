// The REST API end to end: ember with --api-sock, driven with the real curl through
// Firecracker's getting-started flow and the post-boot requests, and ember's answers to bad
// requests. Every guest here is one of ours (resources/guests).
#include "tests/kvm/api_client.hpp"
#include "tests/kvm/kvm_available.hpp"
#include "tests/kvm/subprocess.hpp"
#include "vmm/sys/exit_code.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ember {
namespace {

namespace fs = std::filesystem;
using test::BackgroundEmber;

class Api : public ::testing::Test {
protected:
    void SetUp() override {
        static int counter = 0;
        dir_ =
            fs::temp_directory_path() / fmt::format("ember-api-test-{}-{}", ::getpid(), counter++);
        fs::create_directories(dir_);
        sock_ = (dir_ / "api.sock").string();
    }
    void TearDown() override { fs::remove_all(dir_); }

    static std::string guest(const std::string& name) {
        return std::string(EMBER_GUEST_DIR) + "/" + name + ".elf";
    }
    // ember --api-sock with `extra` flags; waits for the socket.
    std::unique_ptr<BackgroundEmber> start(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{EMBER_BINARY, "--api-sock", sock_};
        args.insert(args.end(), extra.begin(), extra.end());
        auto e = std::make_unique<BackgroundEmber>(args, dir_);
        EXPECT_TRUE(e->wait_for_file(sock_)) << e->err();
        return e;
    }
    test::HttpResult put(const std::string& path, const std::string& body) const {
        return test::curl(sock_, "PUT", path, body);
    }
    test::HttpResult patch(const std::string& path, const std::string& body) const {
        return test::curl(sock_, "PATCH", path, body);
    }
    test::HttpResult get(const std::string& path) const { return test::curl(sock_, "GET", path); }
    std::string image(const std::string& name, uint64_t bytes) const {
        const fs::path p = dir_ / name;
        std::ofstream(p).close();
        fs::resize_file(p, bytes);
        return p.string();
    }
    std::string read(const std::string& name) const {
        std::ifstream in(dir_ / name);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    std::string state() const {
        return nlohmann::json::parse(get("/").body).at("state").get<std::string>();
    }

    fs::path dir_;
    std::string sock_;
};

#define EXPECT_STATUS(result, code) EXPECT_EQ((result).status, code) << (result).body

TEST_F(Api, GettingStartedFlowBootsTheGuest) {
    EMBER_REQUIRE_KVM();
    auto e = start();
    EXPECT_EQ(state(), "Not started");
    const std::string log = (dir_ / "ember.log").string();
    const std::string metrics = (dir_ / "ember.metrics").string();
    EXPECT_STATUS(put("/logger", fmt::format(R"({{"log_path":"{}","level":"Info",
        "show_level":true,"show_log_origin":true}})",
                                             log)),
                  204);
    EXPECT_STATUS(put("/metrics", fmt::format(R"({{"metrics_path":"{}"}})", metrics)), 204);
    EXPECT_STATUS(put("/boot-source", fmt::format(R"({{"kernel_image_path":"{}",
        "boot_args":"blk=selftest seed=7"}})",
                                                  guest("virtio_blk"))),
                  204);
    EXPECT_STATUS(put("/drives/rootfs", fmt::format(R"({{"drive_id":"rootfs",
        "path_on_host":"{}","is_root_device":true,"is_read_only":false}})",
                                                    image("rootfs.img", 4 << 20))),
                  204);
    EXPECT_STATUS(put("/machine-config", R"({"vcpu_count":1,"mem_size_mib":64})"), 204);
    const auto config = nlohmann::json::parse(get("/vm/config").body);
    EXPECT_EQ(config.at("drives").at(0).at("drive_id"), "rootfs");
    EXPECT_EQ(config.at("machine-config").at("mem_size_mib"), 64);
    EXPECT_STATUS(put("/actions", R"({"action_type":"InstanceStart"})"), 204);
    EXPECT_EQ(e->wait(), 0) << e->out() << e->err();
    EXPECT_NE(e->out().find("blk: selftest passed"), std::string::npos) << e->out();
    // The socket is removed when ember ends.
    EXPECT_FALSE(fs::exists(sock_));
    // The log took the API's lines, with origins; the metrics' last line has the drive's work.
    const std::string log_text = read("ember.log");
    EXPECT_NE(log_text.find("microVM started"), std::string::npos) << log_text;
    EXPECT_NE(log_text.find("ember: info: [controller.cpp:"), std::string::npos) << log_text;
    const std::string lines = read("ember.metrics");
    ASSERT_FALSE(lines.empty());
    const auto last = nlohmann::json::parse(lines.substr(lines.rfind('\n', lines.size() - 2) + 1));
    EXPECT_GT(last.at("block").at("rootfs").at("requests").get<uint64_t>(), 100U);
    EXPECT_EQ(last.at("api_requests").at("PutDrive").at("count"), 1);
    EXPECT_GE(last.at("api_server").at("requests").get<uint64_t>(), 7U);
    EXPECT_GE(last.at("vcpu").at("exits").get<uint64_t>(), 1U);
}

TEST_F(Api, PostBootPauseResumePatchesAndFlushMetrics) {
    EMBER_REQUIRE_KVM();
    auto e = start({"--metrics-path", (dir_ / "m.json").string()});
    EXPECT_STATUS(
        put("/boot-source", fmt::format(R"({{"kernel_image_path":"{}"}})", guest("echo"))), 204);
    const std::string disk = image("data.img", 1 << 20);
    EXPECT_STATUS(put("/drives/data", fmt::format(R"({{"drive_id":"data","path_on_host":"{}",
        "is_root_device":false}})",
                                                  disk)),
                  204);
    EXPECT_STATUS(patch("/drives/data", R"({"drive_id":"data"})"), 400); // before boot
    EXPECT_STATUS(put("/actions", R"({"action_type":"InstanceStart"})"), 204);
    ASSERT_TRUE(e->wait_for_output("echo: ready")) << e->out() << e->err();
    EXPECT_EQ(state(), "Running");

    EXPECT_STATUS(patch("/vm", R"({"state":"Paused"})"), 204);
    EXPECT_EQ(state(), "Paused");
    e->write_stdin("ab");
    EXPECT_FALSE(e->wait_for_output("AB", 300)) << "a paused guest echoed";
    EXPECT_STATUS(patch("/vm", R"({"state":"Resumed"})"), 204);
    EXPECT_TRUE(e->wait_for_output("AB")) << e->out();
    EXPECT_EQ(state(), "Running");

    // Post-boot rules: PUTs that configure are refused, PATCH of a drive works.
    const auto late = put("/machine-config", R"({"vcpu_count":2,"mem_size_mib":64})");
    EXPECT_STATUS(late, 400);
    EXPECT_NE(late.body.find("not supported after starting"), std::string::npos) << late.body;
    EXPECT_STATUS(patch("/drives/data", R"({"drive_id":"data","rate_limiter":
        {"bandwidth":{"size":1048576,"refill_time":100}}})"),
                  204);
    const std::string bigger = image("bigger.img", 2 << 20);
    EXPECT_STATUS(patch("/drives/data", fmt::format(R"({{"drive_id":"data",
        "path_on_host":"{}"}})",
                                                    bigger)),
                  204);
    EXPECT_NE(get("/vm/config").body.find("bigger.img"), std::string::npos);
    const auto missing = patch("/drives/data", R"({"drive_id":"data","path_on_host":"/nope"})");
    EXPECT_STATUS(missing, 400);
    EXPECT_NE(missing.body.find("/nope"), std::string::npos) << missing.body;
    EXPECT_STATUS(patch("/drives/other", R"({"drive_id":"other"})"), 400);
    EXPECT_STATUS(put("/actions", R"({"action_type":"InstanceStart"})"), 400);

    EXPECT_STATUS(put("/actions", R"({"action_type":"FlushMetrics"})"), 204);
    const std::string lines = read("m.json");
    ASSERT_FALSE(lines.empty());
    const auto line = nlohmann::json::parse(lines.substr(0, lines.find('\n')));
    EXPECT_EQ(line.at("instance").at("state"), "Running");
    EXPECT_EQ(line.at("api_requests").at("PatchVm").at("count"), 2);

    e->write_stdin("q");
    EXPECT_EQ(e->wait(), 2) << e->err(); // echo's status: the bytes before the 'q'
}

TEST_F(Api, SendCtrlAltDelReachesTheGuestKeyboard) {
    EMBER_REQUIRE_KVM();
    auto e = start();
    EXPECT_STATUS(put("/actions", R"({"action_type":"SendCtrlAltDel"})"), 400); // before boot
    EXPECT_STATUS(
        put("/boot-source", fmt::format(R"({{"kernel_image_path":"{}"}})", guest("keyboard"))),
        204);
    EXPECT_STATUS(put("/actions", R"({"action_type":"InstanceStart"})"), 204);
    ASSERT_TRUE(e->wait_for_output("keyboard: ready")) << e->out() << e->err();
    EXPECT_STATUS(put("/actions", R"({"action_type":"SendCtrlAltDel"})"), 204);
    EXPECT_EQ(e->wait(), 42) << e->out() << e->err();
    EXPECT_NE(e->out().find("keyboard: ctrl-alt-del"), std::string::npos);
}

TEST_F(Api, BadRequestsAreAnsweredAndEmberKeepsServing) {
    EMBER_REQUIRE_KVM();
    auto e = start();
    struct Case {
        std::string method, path, body;
        int status;
        std::string fault; // a part of the fault_message
    };
    const std::vector<Case> cases{
        {"PUT", "/machine-config", "{", 400, ""},
        {"PUT", "/machine-config", R"({"vcpu_count":"2","mem_size_mib":64})", 400, "vcpu_count"},
        {"PUT", "/machine-config", R"({"vcpu_count":2,"mem_size_mib":64,"x":1})", 400, "x"},
        {"PUT", "/machine-config", R"({"mem_size_mib":64})", 400, "vcpu_count"},
        {"PUT", "/machine-config", R"({"vcpu_count":0,"mem_size_mib":64})", 400, "vcpu_count"},
        {"PUT", "/drives/bad-id", R"({"drive_id":"bad-id"})", 400, "drive_id"},
        {"PUT", "/drives/a", R"({"drive_id":"b","path_on_host":"x","is_root_device":false})", 400,
         "drive_id"},
        {"DELETE", "/drives/a", "", 405, "DELETE"},
        {"GET", "/nothing/here", "", 404, "/nothing/here"},
        {"PUT", "/snapshot/create", R"({})", 400, "does not implement"},
        {"PUT", "/boot-source", "", 400, "needs a JSON body"},
        {"PUT", "/actions", R"({"action_type":"Reboot"})", 400, "action_type"},
        {"PUT", "/actions", R"({"action_type":"InstanceStart"})", 400, "kernel"},
        {"PATCH", "/vm", R"({"state":"Paused"})", 400, "before starting"},
    };
    for (const Case& c : cases) {
        const auto r = test::curl(sock_, c.method, c.path, c.body);
        EXPECT_EQ(r.status, c.status)
            << c.method << " " << c.path << " " << c.body << ": " << r.body;
        const auto fault = nlohmann::json::parse(r.body, nullptr, false);
        ASSERT_FALSE(fault.is_discarded()) << r.body;
        EXPECT_NE(fault.at("fault_message").get<std::string>().find(c.fault), std::string::npos)
            << r.body;
    }
    const auto big = put("/boot-source", std::string(60000, ' '));
    EXPECT_STATUS(big, 413);
    EXPECT_STATUS(get("/"), 200);
    e->signal(SIGTERM);
    EXPECT_EQ(e->wait(), 128 + SIGTERM);
    EXPECT_FALSE(fs::exists(sock_)) << "the socket outlived ember";
}

TEST_F(Api, MaxPayloadSizeIsConfigurable) {
    EMBER_REQUIRE_KVM();
    auto e = start({"--http-api-max-payload-size", "64"});
    const auto r =
        put("/boot-source", fmt::format(R"({{"kernel_image_path":"{}"}})", std::string(100, 'k')));
    EXPECT_STATUS(r, 413);
    EXPECT_STATUS(put("/boot-source", R"({"kernel_image_path":"k"})"), 204);
}

TEST_F(Api, ConfigFileBootsAndTheApiServesTheRunningVm) {
    EMBER_REQUIRE_KVM();
    std::ofstream(dir_ / "vm.json")
        << fmt::format(R"({{"boot-source":{{"kernel_image_path":"{}"}}}})", guest("keyboard"));
    auto e = start({"--config-file", (dir_ / "vm.json").string()});
    ASSERT_TRUE(e->wait_for_output("keyboard: ready")) << e->err();
    EXPECT_EQ(state(), "Running");
    EXPECT_STATUS(put("/actions", R"({"action_type":"SendCtrlAltDel"})"), 204);
    EXPECT_EQ(e->wait(), 42);
}

TEST_F(Api, NoApiNeedsAConfigFile) {
    BackgroundEmber e({EMBER_BINARY, "--no-api"}, dir_);
    EXPECT_EQ(e.wait(), to_int(ExitCode::kBadArguments));
    EXPECT_NE(e.err().find("--no-api needs --config-file"), std::string::npos) << e.err();
}

TEST_F(Api, BootTimerLogsTheGuestBootTime) {
    EMBER_REQUIRE_KVM();
    auto e = start({"--boot-timer", "--metrics-path", (dir_ / "m.json").string()});
    EXPECT_STATUS(put("/boot-source", fmt::format(R"({{"kernel_image_path":"{}",
        "boot_args":"times=3"}})",
                                                  guest("boot_timer"))),
                  204);
    EXPECT_STATUS(put("/actions", R"({"action_type":"InstanceStart"})"), 204);
    EXPECT_EQ(e->wait(), 0) << e->err();
    const std::string err = e->err();
    const size_t first = err.find("Guest-boot-time =");
    ASSERT_NE(first, std::string::npos) << err;
    EXPECT_EQ(err.find("Guest-boot-time =", first + 1), std::string::npos) << "logged twice";
    const std::string lines = read("m.json");
    const auto last = nlohmann::json::parse(lines.substr(lines.rfind('\n', lines.size() - 2) + 1));
    EXPECT_GT(last.at("boot_timer").at("boot_time_us").get<uint64_t>(), 0U);
}

// Network interfaces and entropy through the API, on a real tap in a namespace of the test's
// own: the devices are built, PATCH /network-interfaces reaches the running device, the
// metrics have per-device counters.
TEST_F(Api, NetworkInterfaceAndEntropyOverTheApi) {
    EMBER_REQUIRE_KVM();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace and a tap";
    const std::string ip = fs::exists("/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip";
    if (!fs::exists(ip)) GTEST_SKIP() << "iproute2 (ip) is not installed";
    const std::string ns = fmt::format("ember-api-{}", ::getpid());
    const std::string tap = fmt::format("emapi{}", ::getpid() % 1000000);
    struct Namespace {
        std::string ip, ns;
        ~Namespace() { (void)test::run_process({ip, "netns", "del", ns}); }
    } cleanup{ip, ns};
    (void)test::run_process({ip, "netns", "del", ns});
    ASSERT_EQ(test::run_process({ip, "netns", "add", ns}).status, 0);
    ASSERT_EQ(test::run_process({ip, "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"}).status,
              0);
    BackgroundEmber e({ip, "netns", "exec", ns, EMBER_BINARY, "--api-sock", sock_, "--metrics-path",
                       (dir_ / "m.json").string()},
                      dir_);
    ASSERT_TRUE(e.wait_for_file(sock_)) << e.err();
    EXPECT_STATUS(
        put("/boot-source", fmt::format(R"({{"kernel_image_path":"{}"}})", guest("keyboard"))),
        204);
    EXPECT_STATUS(
        put("/network-interfaces/eth0", fmt::format(R"({{"iface_id":"eth0","host_dev_name":"{}",
                                      "guest_mac":"06:00:0a:c8:00:02"}})",
                                                    tap)),
        204);
    EXPECT_STATUS(put("/entropy", R"({"rate_limiter":{"ops":{"size":100,"refill_time":1000}}})"),
                  204);
    EXPECT_STATUS(put("/actions", R"({"action_type":"InstanceStart"})"), 204);
    ASSERT_TRUE(e.wait_for_output("keyboard: ready")) << e.out() << e.err();
    EXPECT_STATUS(patch("/network-interfaces/eth0", R"({"iface_id":"eth0",
        "rx_rate_limiter":{"bandwidth":{"size":1048576,"refill_time":100}}})"),
                  204);
    EXPECT_STATUS(patch("/network-interfaces/eth1", R"({"iface_id":"eth1"})"), 400);
    EXPECT_STATUS(put("/actions", R"({"action_type":"FlushMetrics"})"), 204);
    const std::string lines = read("m.json");
    const auto line = nlohmann::json::parse(lines.substr(0, lines.find('\n')));
    EXPECT_TRUE(line.at("net").contains("eth0")) << lines;
    EXPECT_TRUE(line.contains("entropy")) << lines;
    EXPECT_STATUS(put("/actions", R"({"action_type":"SendCtrlAltDel"})"), 204);
    EXPECT_EQ(e.wait(), 42) << e.err();
}

} // namespace
} // namespace ember
