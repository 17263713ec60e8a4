// Router: every route with each of its methods (HEAD as GET), 405 + Allow for the others, 404 for
// unknown paths, ids in paths, empty bodies, the Firecracker resources ember refuses, GET /version,
// and which VmmAction each PUT/PATCH body becomes, with its parsed values.
#include "api/router.hpp"

#include "api/model/ids.hpp"
#include "api/model/vm_config_builder.hpp"
#include "tests/unit/api/api_test_util.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace ember::api {
namespace {

using http::Method;
using http::Status;
using testing::fault_of;
using testing::header_of;
using testing::request;

constexpr std::array kAllMethods{Method::kGet,     Method::kHead,  Method::kPost,
                                 Method::kPut,     Method::kPatch, Method::kDelete,
                                 Method::kOptions, Method::kTrace, Method::kConnect};

// The routes as the docs list them, with the Allow field each must send: written out here so a
// route added or dropped in router.cpp shows up as a failure.
const std::map<std::string, std::string>& expected_allow() {
    static const std::map<std::string, std::string> allow{
        {"/", "GET, HEAD"},
        {"/version", "GET, HEAD"},
        {"/vm/config", "GET, HEAD"},
        {"/machine-config", "GET, HEAD, PUT, PATCH"},
        {"/boot-source", "PUT"},
        {"/drives/{drive_id}", "PUT, PATCH"},
        {"/network-interfaces/{iface_id}", "PUT, PATCH"},
        {"/vsock", "PUT"},
        {"/entropy", "PUT"},
        {"/logger", "PUT"},
        {"/metrics", "PUT"},
        {"/serial", "PUT"},
        {"/actions", "PUT"},
        {"/vm", "PATCH"},
    };
    return allow;
}

// A concrete path for a route ("/drives/rootfs" for "/drives/{drive_id}").
std::string concrete(std::string_view route_path) {
    if (route_path == "/drives/{drive_id}") return "/drives/rootfs";
    if (route_path == "/network-interfaces/{iface_id}") return "/network-interfaces/eth0";
    return std::string(route_path);
}

// A body each PUT/PATCH route accepts.
std::string valid_body(std::string_view path, Method method) {
    static const std::map<std::pair<std::string, Method>, std::string> bodies{
        {{"/machine-config", Method::kPut}, R"({"vcpu_count": 2, "mem_size_mib": 256})"},
        {{"/machine-config", Method::kPatch}, R"({"vcpu_count": 4})"},
        {{"/boot-source", Method::kPut},
         R"({"kernel_image_path": "vmlinux", "boot_args": "console=ttyS0"})"},
        {{"/drives/rootfs", Method::kPut},
         R"({"drive_id": "rootfs", "path_on_host": "disk.img", "is_root_device": true})"},
        {{"/drives/rootfs", Method::kPatch},
         R"({"drive_id": "rootfs", "path_on_host": "new.img"})"},
        {{"/network-interfaces/eth0", Method::kPut},
         R"({"iface_id": "eth0", "host_dev_name": "tap0"})"},
        {{"/network-interfaces/eth0", Method::kPatch},
         R"({"iface_id": "eth0", "rx_rate_limiter": {"ops": {"size": 10, "refill_time": 100}}})"},
        {{"/vsock", Method::kPut}, R"({"guest_cid": 3, "uds_path": "/tmp/v.sock"})"},
        {{"/entropy", Method::kPut}, R"({})"},
        {{"/logger", Method::kPut}, R"({"level": "Info", "show_log_origin": true})"},
        {{"/metrics", Method::kPut}, R"({"metrics_path": "metrics.json"})"},
        {{"/serial", Method::kPut}, R"({"serial_out_path": "serial.log"})"},
        {{"/actions", Method::kPut}, R"({"action_type": "FlushMetrics"})"},
        {{"/vm", Method::kPatch}, R"({"state": "Paused"})"},
    };
    const auto it = bodies.find({std::string(path), method});
    return it == bodies.end() ? std::string{} : it->second;
}

const http::Response* response_of(const Routed& routed) {
    return std::get_if<http::Response>(&routed);
}

// The action a request routes to; fails the test when it was answered instead.
VmmAction action_of(const http::Request& req) {
    Routed routed = route(req);
    if (const auto* r = response_of(routed)) {
        ADD_FAILURE() << http::method_name(req.method) << " " << req.path << " answered "
                      << http::code(r->status) << ": " << r->body;
        return action::GetInstanceInfo{};
    }
    return std::get<VmmAction>(std::move(routed));
}

template <class A> A get(const http::Request& req) {
    VmmAction a = action_of(req);
    EXPECT_TRUE(std::holds_alternative<A>(a))
        << req.path << " routed to " << action_name(a) << " (index " << a.index() << ")";
    if (!std::holds_alternative<A>(a)) return A{};
    return std::get<A>(std::move(a));
}

// The answer a request gets from the router itself; fails the test when it became an action.
http::Response answer_of(const http::Request& req) {
    Routed routed = route(req);
    if (const auto* r = response_of(routed)) return *r;
    ADD_FAILURE() << http::method_name(req.method) << " " << req.path << " became action "
                  << action_name(std::get<VmmAction>(routed));
    return {};
}

TEST(Router, RouteTableIsTheDocumentedOne) {
    std::map<std::string, std::string> seen;
    for (const RouteInfo& r : routes()) {
        std::string allow;
        for (Method m : r.methods) {
            if (!allow.empty()) allow += ", ";
            allow += http::method_name(m);
            if (m == Method::kGet) allow += ", HEAD";
        }
        EXPECT_TRUE(seen.emplace(std::string(r.path), allow).second) << "twice: " << r.path;
    }
    EXPECT_EQ(seen, expected_allow());
}

TEST(Router, EveryRouteAnswersEachOfItsMethods) {
    for (const RouteInfo& r : routes()) {
        const std::string path = concrete(r.path);
        for (Method m : r.methods) {
            SCOPED_TRACE(std::string(http::method_name(m)) + " " + path);
            const Routed routed = route(request(m, path, valid_body(path, m)));
            if (const auto* resp = response_of(routed)) {
                // Only GET /version is answered by the router itself.
                EXPECT_EQ(path, "/version");
                EXPECT_EQ(resp->status, Status::kOk) << resp->body;
            }
        }
    }
}

TEST(Router, HeadIsServedAsGet) {
    for (const RouteInfo& r : routes()) {
        if (std::ranges::find(r.methods, Method::kGet) == r.methods.end()) continue;
        const std::string path = concrete(r.path);
        SCOPED_TRACE(path);
        const Routed get_routed = route(request(Method::kGet, path));
        const Routed head_routed = route(request(Method::kHead, path));
        ASSERT_EQ(get_routed.index(), head_routed.index());
        if (const auto* g = response_of(get_routed)) {
            EXPECT_EQ(g->status, response_of(head_routed)->status);
            EXPECT_EQ(g->body, response_of(head_routed)->body);
        } else {
            EXPECT_EQ(std::get<VmmAction>(get_routed).index(),
                      std::get<VmmAction>(head_routed).index());
        }
    }
    EXPECT_TRUE(
        std::holds_alternative<action::GetInstanceInfo>(action_of(request(Method::kHead, "/"))));
    EXPECT_TRUE(std::holds_alternative<action::GetMachineConfig>(
        action_of(request(Method::kHead, "/machine-config"))));
}

TEST(Router, OtherMethodsAre405WithExactlyTheRoutesMethodsInAllow) {
    for (const RouteInfo& r : routes()) {
        const std::string path = concrete(r.path);
        const std::string& allow = expected_allow().at(std::string(r.path));
        const bool takes_get = std::ranges::find(r.methods, Method::kGet) != r.methods.end();
        for (Method m : kAllMethods) {
            const bool taken = std::ranges::find(r.methods, m) != r.methods.end() ||
                               (m == Method::kHead && takes_get);
            if (taken) continue;
            SCOPED_TRACE(std::string(http::method_name(m)) + " " + path);
            const http::Response resp = answer_of(request(m, path, R"({"a": 1})"));
            EXPECT_EQ(resp.status, Status::kMethodNotAllowed);
            EXPECT_EQ(header_of(resp, "Allow"), allow);
            EXPECT_EQ(fault_of(resp), fmt::format("Invalid request method and/or path: {} {} "
                                                  "(it takes {})",
                                                  http::method_name(m), path, allow));
        }
    }
}

TEST(Router, A405ComesBeforeTheBodyAndIdChecks) {
    // No body, a bad id: the method is what is wrong first.
    const http::Response resp = answer_of(request(Method::kGet, "/drives/bad-id"));
    EXPECT_EQ(resp.status, Status::kMethodNotAllowed);
    EXPECT_EQ(header_of(resp, "Allow"), "PUT, PATCH");
    EXPECT_EQ(answer_of(request(Method::kDelete, "/vm")).status, Status::kMethodNotAllowed);
}

TEST(Router, UnknownPathsAre404WithFirecrackersMessage) {
    for (const char* path :
         {"/nope", "/drives", "/network-interfaces", "/drives/a/b", "/machine-config/", "/version/",
          "/VERSION", "/vm/config/x", "/vm/state", "/balloonx", "/pmem", "/actions/x", "//"}) {
        SCOPED_TRACE(path);
        const http::Response resp = answer_of(request(Method::kGet, path));
        EXPECT_EQ(resp.status, Status::kNotFound);
        EXPECT_EQ(fault_of(resp), fmt::format("Invalid request method and/or path: GET {}", path));
        EXPECT_FALSE(header_of(resp, "Allow").has_value());
    }
    // The message names the method the client sent (HEAD stays HEAD).
    EXPECT_EQ(fault_of(answer_of(request(Method::kHead, "/nope"))),
              "Invalid request method and/or path: HEAD /nope");
    EXPECT_EQ(fault_of(answer_of(request(Method::kPut, "/nope", "{}"))),
              "Invalid request method and/or path: PUT /nope");
}

TEST(Router, BadIdsInPathsAre400NamingTheIdAndTheRule) {
    struct Case {
        std::string path;
        std::string message;
    };
    const std::string long_drive(21, 'd');
    const std::string long_iface(65, 'i');
    const std::vector<Case> cases{
        {"/drives/bad-id", "drives: drive_id 'bad-id' is not valid: use 1 to 20 ASCII letters, "
                           "digits or underscores"},
        {"/drives/", "drives: drive_id '' is not valid: use 1 to 20 ASCII letters, digits or "
                     "underscores"},
        {"/drives/" + long_drive, "drives: drive_id '" + long_drive +
                                      "' is not valid: use 1 to 20 ASCII letters, digits or "
                                      "underscores"},
        {"/drives/a.b", "drives: drive_id 'a.b' is not valid"},
        {"/network-interfaces/", "network-interfaces: iface_id '' is not valid: use 1 to 64"},
        {"/network-interfaces/" + long_iface,
         "network-interfaces: iface_id '" + long_iface + "' is not valid: use 1 to 64"},
        {"/network-interfaces/eth:0", "network-interfaces: iface_id 'eth:0' is not valid"},
    };
    for (const Case& c : cases) {
        for (Method m : {Method::kPut, Method::kPatch}) {
            SCOPED_TRACE(std::string(http::method_name(m)) + " " + c.path);
            const http::Response resp = answer_of(request(m, c.path, R"({"x": 1})"));
            EXPECT_EQ(resp.status, Status::kBadRequest);
            EXPECT_TRUE(fault_of(resp).starts_with(c.message)) << fault_of(resp);
        }
    }
    // The longest ids are fine.
    const std::string max_drive(20, 'd');
    EXPECT_EQ(get<action::PatchDrive>(request(Method::kPatch, "/drives/" + max_drive,
                                              fmt::format(R"({{"drive_id": "{}"}})", max_drive)))
                  .id,
              max_drive);
    const std::string max_iface(64, 'i');
    EXPECT_EQ(get<action::PatchNetworkInterface>(
                  request(Method::kPatch, "/network-interfaces/" + max_iface,
                          fmt::format(R"({{"iface_id": "{}"}})", max_iface)))
                  .id,
              max_iface);
}

TEST(Router, PathIdAndBodyIdTravelSeparatelyAndAMismatchIsTheModelsError) {
    const auto put = get<action::PutDrive>(
        request(Method::kPut, "/drives/a",
                R"({"drive_id": "b", "path_on_host": "p", "is_root_device": false})"));
    EXPECT_EQ(put.id, "a");
    EXPECT_EQ(put.drive.drive_id, "b");
    // The builder refuses it (api/controller.cpp answers 400 with this message).
    model::VmConfigBuilder builder;
    const auto refused = builder.put_drive(put.id, put.drive);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message(),
              "drives: the id in the path ('a') differs from drive_id in the body ('b'); they "
              "must be the same");
    const auto net = get<action::PutNetworkInterface>(request(
        Method::kPut, "/network-interfaces/x", R"({"iface_id": "y", "host_dev_name": "t"})"));
    EXPECT_EQ(net.id, "x");
    EXPECT_EQ(net.iface.iface_id, "y");
}

TEST(Router, PutAndPatchNeedABody) {
    for (const RouteInfo& r : routes()) {
        const std::string path = concrete(r.path);
        for (Method m : r.methods) {
            if (m != Method::kPut && m != Method::kPatch) continue;
            SCOPED_TRACE(path);
            const http::Response resp = answer_of(request(m, path));
            EXPECT_EQ(resp.status, Status::kBadRequest);
            EXPECT_EQ(fault_of(resp), fmt::format("{} {} needs a JSON body (docs/api-resources.md)",
                                                  http::method_name(m), path));
        }
    }
}

TEST(Router, BodiesThatDoNotParseAre400WithTheModelsMessage) {
    struct Case {
        Method method;
        std::string path;
        std::string body;
        std::string message;
    };
    const auto message = [](auto parsed) {
        EXPECT_FALSE(parsed.has_value());
        return parsed ? std::string{} : parsed.error().message();
    };
    const std::vector<Case> cases{
        {Method::kPut, "/machine-config", R"({"vcpu_count": 33, "mem_size_mib": 128})",
         message(model::parse_machine_config(R"({"vcpu_count": 33, "mem_size_mib": 128})"))},
        {Method::kPatch, "/machine-config", R"({"vcpu_count": 0})",
         message(model::parse_machine_config_update(R"({"vcpu_count": 0})"))},
        {Method::kPut, "/boot-source", R"({"boot_args": "x"})",
         message(model::parse_boot_source(R"({"boot_args": "x"})"))},
        {Method::kPut, "/drives/a", R"({"drive_id": "a"})",
         message(model::parse_drive(R"({"drive_id": "a"})"))},
        {Method::kPatch, "/drives/a", "[1]", message(model::parse_partial_drive("[1]"))},
        {Method::kPut, "/network-interfaces/a", "{", message(model::parse_network_interface("{"))},
        {Method::kPatch, "/network-interfaces/a", "{}",
         message(model::parse_partial_network_interface("{}"))},
        {Method::kPut, "/vsock", R"({"uds_path": "a"})",
         message(model::parse_vsock(R"({"uds_path": "a"})"))},
        {Method::kPut, "/entropy", R"({"rate_limiter": []})",
         message(model::parse_entropy(R"({"rate_limiter": []})"))},
        {Method::kPut, "/logger", R"({"level": "verbose"})",
         message(model::parse_logger(R"({"level": "verbose"})"))},
        {Method::kPut, "/metrics", "{}", message(model::parse_metrics("{}"))},
        {Method::kPut, "/serial", R"({"serial_out_path": 5})",
         message(model::parse_serial(R"({"serial_out_path": 5})"))},
        {Method::kPut, "/actions", R"({"action_type": "Reboot"})",
         message(model::parse_instance_action(R"({"action_type": "Reboot"})"))},
        {Method::kPatch, "/vm", R"({"state": "Stopped"})",
         message(model::parse_vm(R"({"state": "Stopped"})"))},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.path + " " + c.body);
        ASSERT_FALSE(c.message.empty());
        const http::Response resp = answer_of(request(c.method, c.path, c.body));
        EXPECT_EQ(resp.status, Status::kBadRequest);
        EXPECT_EQ(fault_of(resp), c.message);
    }
}

TEST(Router, UnsupportedFirecrackerResourcesAre400NamingThem) {
    const std::set<std::string> expected{
        "/balloon",       "/balloon/statistics", "/balloon/hinting",
        "/mmds",          "/mmds/config",        "/snapshot/create",
        "/snapshot/load", "/cpu-config",         "/hotplug/memory"};
    std::set<std::string> listed;
    for (std::string_view p : unsupported_paths())
        listed.emplace(p);
    EXPECT_EQ(listed, expected);

    std::vector<std::string> paths(expected.begin(), expected.end());
    for (const char* more : {"/pmem/x", "/pmem/rootfs", "/balloon/hinting/start",
                             "/balloon/hinting/status", "/mmds/config/x", "/snapshot/create/x"})
        paths.emplace_back(more);
    for (const std::string& path : paths) {
        for (Method m : {Method::kGet, Method::kPut, Method::kPatch}) {
            SCOPED_TRACE(std::string(http::method_name(m)) + " " + path);
            const http::Response resp = answer_of(request(m, path, "{}"));
            EXPECT_EQ(resp.status, Status::kBadRequest);
            const std::string fault = fault_of(resp);
            EXPECT_TRUE(fault.starts_with(path + " is a Firecracker resource ember does not "
                                                 "implement"))
                << fault;
            EXPECT_NE(fault.find("docs/api-resources.md"), std::string::npos) << fault;
        }
    }
}

TEST(Router, VersionIsJsonWithBothVersions) {
    const http::Response resp = answer_of(request(Method::kGet, "/version"));
    EXPECT_EQ(resp.status, Status::kOk);
    const auto json = nlohmann::json::parse(resp.body, nullptr, false);
    ASSERT_TRUE(json.is_object()) << resp.body;
    EXPECT_EQ(json.size(), 2U);
    EXPECT_EQ(json.value("firecracker_version", ""), kFirecrackerApiVersion);
    EXPECT_EQ(json.value("ember_version", ""), EMBER_VERSION);
}

TEST(Router, GetsBecomeTheirActions) {
    EXPECT_TRUE(
        std::holds_alternative<action::GetInstanceInfo>(action_of(request(Method::kGet, "/"))));
    EXPECT_TRUE(std::holds_alternative<action::GetVmConfig>(
        action_of(request(Method::kGet, "/vm/config"))));
    EXPECT_TRUE(std::holds_alternative<action::GetMachineConfig>(
        action_of(request(Method::kGet, "/machine-config"))));
    // A query string does not change the route (the parser split it off).
    http::Request with_query = request(Method::kGet, "/machine-config");
    with_query.query = "pretty=1";
    EXPECT_TRUE(std::holds_alternative<action::GetMachineConfig>(action_of(with_query)));
}

TEST(Router, PutAndPatchBodiesBecomeTheRightActionsWithTheirValues) {
    const auto body = [](std::string_view path, Method m) {
        return request(m, std::string(path), valid_body(path, m));
    };
    const auto machine = get<action::PutMachineConfig>(body("/machine-config", Method::kPut));
    EXPECT_EQ(machine.config, (model::MachineConfig{2, 256}));

    const auto patch_machine =
        get<action::PatchMachineConfig>(body("/machine-config", Method::kPatch));
    EXPECT_EQ(patch_machine.update.vcpu_count, 4U);
    EXPECT_FALSE(patch_machine.update.mem_size_mib.has_value());

    const auto boot = get<action::PutBootSource>(body("/boot-source", Method::kPut));
    EXPECT_EQ(boot.source.kernel_image_path, "vmlinux");
    EXPECT_EQ(boot.source.boot_args, "console=ttyS0");
    EXPECT_FALSE(boot.source.initrd_path.has_value());

    const auto drive = get<action::PutDrive>(body("/drives/rootfs", Method::kPut));
    EXPECT_EQ(drive.id, "rootfs");
    EXPECT_EQ(drive.drive.drive_id, "rootfs");
    EXPECT_EQ(drive.drive.path_on_host, "disk.img");
    EXPECT_TRUE(drive.drive.is_root_device);

    const auto patch_drive = get<action::PatchDrive>(body("/drives/rootfs", Method::kPatch));
    EXPECT_EQ(patch_drive.id, "rootfs");
    EXPECT_EQ(patch_drive.drive.path_on_host, "new.img");
    EXPECT_FALSE(patch_drive.drive.rate_limiter.has_value());

    const auto net =
        get<action::PutNetworkInterface>(body("/network-interfaces/eth0", Method::kPut));
    EXPECT_EQ(net.id, "eth0");
    EXPECT_EQ(net.iface.iface_id, "eth0");
    EXPECT_EQ(net.iface.host_dev_name, "tap0");

    const auto patch_net =
        get<action::PatchNetworkInterface>(body("/network-interfaces/eth0", Method::kPatch));
    EXPECT_EQ(patch_net.id, "eth0");
    ASSERT_TRUE(patch_net.iface.rx_rate_limiter.has_value());
    ASSERT_TRUE(patch_net.iface.rx_rate_limiter->ops.has_value());
    EXPECT_EQ(patch_net.iface.rx_rate_limiter->ops->size, 10U);
    EXPECT_EQ(patch_net.iface.rx_rate_limiter->ops->refill_time, 100U);
    EXPECT_FALSE(patch_net.iface.tx_rate_limiter.has_value());

    const auto vsock = get<action::PutVsock>(body("/vsock", Method::kPut));
    EXPECT_EQ(vsock.vsock.guest_cid, 3U);
    EXPECT_EQ(vsock.vsock.uds_path, "/tmp/v.sock");

    EXPECT_EQ(get<action::PutEntropy>(body("/entropy", Method::kPut)).entropy, model::Entropy{});
    const auto with_limit = get<action::PutEntropy>(
        request(Method::kPut, "/entropy",
                R"({"rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100}}})"));
    ASSERT_TRUE(with_limit.entropy.rate_limiter.has_value());
    EXPECT_EQ(with_limit.entropy.rate_limiter->bandwidth->size, 1000U);

    const auto logger = get<action::PutLogger>(body("/logger", Method::kPut));
    EXPECT_EQ(logger.logger.level, model::LogLevel::kInfo);
    EXPECT_EQ(logger.logger.show_log_origin, true);
    EXPECT_FALSE(logger.logger.log_path.has_value());
    EXPECT_FALSE(logger.logger.show_level.has_value());

    EXPECT_EQ(get<action::PutMetrics>(body("/metrics", Method::kPut)).metrics.metrics_path,
              "metrics.json");
    EXPECT_EQ(get<action::PutSerial>(body("/serial", Method::kPut)).serial.serial_out_path,
              "serial.log");

    const std::pair<const char*, model::ActionType> actions[] = {
        {"InstanceStart", model::ActionType::kInstanceStart},
        {"SendCtrlAltDel", model::ActionType::kSendCtrlAltDel},
        {"FlushMetrics", model::ActionType::kFlushMetrics},
    };
    for (const auto& [name, type] : actions)
        EXPECT_EQ(get<action::Instance>(request(Method::kPut, "/actions",
                                                fmt::format(R"({{"action_type": "{}"}})", name)))
                      .type,
                  type)
            << name;

    EXPECT_EQ(get<action::PatchVm>(body("/vm", Method::kPatch)).state, model::VmState::kPaused);
    EXPECT_EQ(get<action::PatchVm>(request(Method::kPatch, "/vm", R"({"state": "Resumed"})")).state,
              model::VmState::kResumed);
}

template <size_t... I> std::vector<std::string> all_names(std::index_sequence<I...> /*unused*/) {
    return {std::string(action_name(VmmAction(std::in_place_index<I>)))...};
}

TEST(Router, ActionNameNamesEveryAlternative) {
    const std::vector<std::string> names =
        all_names(std::make_index_sequence<std::variant_size_v<VmmAction>>{});
    const std::vector<std::string> expected{"GetInstanceInfo",
                                            "GetVmConfig",
                                            "GetMachineConfig",
                                            "PutBootSource",
                                            "PutMachineConfig",
                                            "PatchMachineConfig",
                                            "PutDrive",
                                            "PatchDrive",
                                            "PutNetworkInterface",
                                            "PatchNetworkInterface",
                                            "PutVsock",
                                            "PutEntropy",
                                            "PutLogger",
                                            "PutMetrics",
                                            "PutSerial",
                                            "InstanceAction",
                                            "PatchVm"};
    EXPECT_EQ(names, expected);
    // And the names match the alternatives they are for.
    EXPECT_EQ(action_name(action::PatchDrive{}), "PatchDrive");
    EXPECT_EQ(action_name(action::Instance{}), "InstanceAction");
    EXPECT_EQ(action_name(action::PatchVm{}), "PatchVm");
    EXPECT_EQ(action_name(action::PutSerial{}), "PutSerial");
}

} // namespace
} // namespace ember::api
