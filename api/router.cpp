#include "api/router.hpp"

#include "api/model/ids.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

namespace ember::api {
namespace {

using http::Method;
using http::Response;
using http::Status;

// Turns a parsed body into the action; errors become 400 with the parser's message.
template <class Model, class Make> Routed from_body(Result<Model> parsed, Make make) {
    if (!parsed) return Response::fault(Status::kBadRequest, parsed.error().message());
    return VmmAction{make(std::move(*parsed))};
}

Routed route_fixed(std::string_view path, Method method, std::string_view body) {
    using namespace model;
    if (path == "/") return VmmAction{action::GetInstanceInfo{}};
    if (path == "/version")
        return Response::json(Status::kOk,
                              fmt::format(R"({{"firecracker_version":"{}","ember_version":"{}"}})",
                                          kFirecrackerApiVersion, EMBER_VERSION));
    if (path == "/vm/config") return VmmAction{action::GetVmConfig{}};
    if (path == "/machine-config") {
        if (method == Method::kGet) return VmmAction{action::GetMachineConfig{}};
        if (method == Method::kPut)
            return from_body(parse_machine_config(body),
                             [](MachineConfig c) { return action::PutMachineConfig{c}; });
        return from_body(parse_machine_config_update(body),
                         [](MachineConfigUpdate u) { return action::PatchMachineConfig{u}; });
    }
    if (path == "/boot-source")
        return from_body(parse_boot_source(body),
                         [](BootSource s) { return action::PutBootSource{std::move(s)}; });
    if (path == "/vsock")
        return from_body(parse_vsock(body), [](Vsock v) { return action::PutVsock{std::move(v)}; });
    if (path == "/entropy")
        return from_body(parse_entropy(body),
                         [](Entropy e) { return action::PutEntropy{std::move(e)}; });
    if (path == "/logger")
        return from_body(parse_logger(body),
                         [](Logger l) { return action::PutLogger{std::move(l)}; });
    if (path == "/metrics")
        return from_body(parse_metrics(body),
                         [](Metrics m) { return action::PutMetrics{std::move(m)}; });
    if (path == "/serial")
        return from_body(parse_serial(body),
                         [](Serial s) { return action::PutSerial{std::move(s)}; });
    if (path == "/actions")
        return from_body(parse_instance_action(body),
                         [](InstanceActionInfo a) { return action::Instance{a.action_type}; });
    return from_body(parse_vm(body), [](Vm v) { return action::PatchVm{v.state}; }); // "/vm"
}

Routed route_with_id(std::string_view prefix, std::string id, Method method,
                     std::string_view body) {
    using namespace model;
    if (prefix == "/drives/") {
        if (auto ok = check_id("drives", "drive_id", id, kMaxDriveIdBytes); !ok)
            return Response::fault(Status::kBadRequest, ok.error().message());
        if (method == Method::kPut)
            return from_body(parse_drive(body), [&](Drive d) {
                return action::PutDrive{std::move(id), std::move(d)};
            });
        return from_body(parse_partial_drive(body), [&](PartialDrive d) {
            return action::PatchDrive{std::move(id), std::move(d)};
        });
    }
    if (auto ok = check_id("network-interfaces", "iface_id", id, kMaxIdBytes); !ok)
        return Response::fault(Status::kBadRequest, ok.error().message());
    if (method == Method::kPut)
        return from_body(parse_network_interface(body), [&](NetworkInterface n) {
            return action::PutNetworkInterface{std::move(id), std::move(n)};
        });
    return from_body(parse_partial_network_interface(body), [&](PartialNetworkInterface n) {
        return action::PatchNetworkInterface{std::move(id), std::move(n)};
    });
}

const std::vector<RouteInfo>& route_table() {
    static const std::vector<RouteInfo> table{
        {"/", {Method::kGet}},
        {"/version", {Method::kGet}},
        {"/vm/config", {Method::kGet}},
        {"/machine-config", {Method::kGet, Method::kPut, Method::kPatch}},
        {"/boot-source", {Method::kPut}},
        {"/drives/{drive_id}", {Method::kPut, Method::kPatch}},
        {"/network-interfaces/{iface_id}", {Method::kPut, Method::kPatch}},
        {"/vsock", {Method::kPut}},
        {"/entropy", {Method::kPut}},
        {"/logger", {Method::kPut}},
        {"/metrics", {Method::kPut}},
        {"/serial", {Method::kPut}},
        {"/actions", {Method::kPut}},
        {"/vm", {Method::kPatch}},
    };
    return table;
}

constexpr std::array<std::string_view, 9> kUnsupported{
    "/balloon",       "/balloon/statistics", "/balloon/hinting",
    "/mmds",          "/mmds/config",        "/snapshot/create",
    "/snapshot/load", "/cpu-config",         "/hotplug/memory",
};

// The table entry `path` matches, and the id it carries for a "{...}" route.
const RouteInfo* match(std::string_view path, std::string& id) {
    for (const RouteInfo& r : route_table()) {
        const size_t brace = r.path.find('{');
        if (brace == std::string_view::npos) {
            if (path == r.path) return &r;
            continue;
        }
        const std::string_view prefix = r.path.substr(0, brace);
        if (path.starts_with(prefix) && path.find('/', prefix.size()) == std::string_view::npos) {
            id = std::string(path.substr(prefix.size()));
            return &r;
        }
    }
    return nullptr;
}

std::string allow_header(const RouteInfo& r) {
    std::string allow;
    for (Method m : r.methods) {
        if (!allow.empty()) allow += ", ";
        allow += http::method_name(m);
        if (m == Method::kGet) allow += ", HEAD";
    }
    return allow;
}

Response unsupported(std::string_view path) {
    return Response::fault(
        Status::kBadRequest,
        fmt::format("{} is a Firecracker resource ember does not implement (no balloon, MMDS, "
                    "snapshots, CPU templates or memory hotplug yet; docs/api-resources.md)",
                    path));
}

} // namespace

std::span<const RouteInfo> routes() {
    return route_table();
}

std::span<const std::string_view> unsupported_paths() {
    return kUnsupported;
}

Routed route(const http::Request& request) {
    const std::string_view path = request.path;
    const Method method = request.method == Method::kHead ? Method::kGet : request.method;
    std::string id;
    const RouteInfo* r = match(path, id);
    if (r == nullptr) {
        const bool refused = std::ranges::any_of(kUnsupported, [&](std::string_view p) {
            return path == p || (path.starts_with(p) && path.substr(p.size()).starts_with('/'));
        });
        if (refused || path.starts_with("/pmem/")) return unsupported(path);
        return Response::fault(Status::kNotFound,
                               fmt::format("Invalid request method and/or path: {} {}",
                                           http::method_name(request.method), path));
    }
    if (std::ranges::find(r->methods, method) == r->methods.end()) {
        Response refused =
            Response::fault(Status::kMethodNotAllowed,
                            fmt::format("Invalid request method and/or path: {} {} (it takes {})",
                                        http::method_name(request.method), path, allow_header(*r)));
        refused.headers.emplace_back("Allow", allow_header(*r));
        return refused;
    }
    if ((method == Method::kPut || method == Method::kPatch) && request.body.empty())
        return Response::fault(Status::kBadRequest,
                               fmt::format("{} {} needs a JSON body (docs/api-resources.md)",
                                           http::method_name(method), path));
    if (r->path.find('{') != std::string_view::npos)
        return route_with_id(r->path.substr(0, r->path.find('{')), std::move(id), method,
                             request.body);
    return route_fixed(path, method, request.body);
}

std::string_view action_name(const VmmAction& action) {
    static constexpr std::array<std::string_view, std::variant_size_v<VmmAction>> kNames{
        "GetInstanceInfo",
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
    return kNames.at(action.index());
}

} // namespace ember::api
