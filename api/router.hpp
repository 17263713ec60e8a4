// Router: the API thread's half of a request. It maps method + path onto a VmmAction, parsing
// and checking the body on the way (api/model), or answers by itself when no VM state is
// needed: GET /version, 404 for a path ember does not serve, 405 (with Allow) for a method a
// path does not take, 400 for a body that does not parse or for a Firecracker resource ember
// does not implement (the fault_message says which and why).
//
// Firecracker answers an unknown path or method with 400; ember answers 404 and 405 as HTTP
// says (docs/api.md), with the same fault_message. HEAD is served as GET without the body.
#pragma once

#include "api/http/http_request.hpp"
#include "api/http/http_response.hpp"
#include "api/vmm_action.hpp"

#include <span>
#include <string_view>
#include <variant>
#include <vector>

namespace ember::api {

// The Firecracker API version ember's routes and bodies follow (GET /version's
// firecracker_version, for clients that check it).
inline constexpr std::string_view kFirecrackerApiVersion = "1.7.0";

// One route: a path ("/drives/{drive_id}" takes one path segment as the id) and the methods it
// answers. The OpenAPI description (docs/openapi.json) lists exactly these.
struct RouteInfo {
    std::string_view path;
    std::vector<http::Method> methods;
};

// Every route ember serves (not the Firecracker routes it refuses).
[[nodiscard]] std::span<const RouteInfo> routes();

// Firecracker paths ember refuses with 400 and a reason (balloon, snapshots, MMDS, ...).
[[nodiscard]] std::span<const std::string_view> unsupported_paths();

// The request as an action for the VMM thread, or the answer to send back as it is.
using Routed = std::variant<VmmAction, http::Response>;
[[nodiscard]] Routed route(const http::Request& request);

} // namespace ember::api
