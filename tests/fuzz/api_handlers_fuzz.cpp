// libFuzzer target: the API's request handlers, router and controller together. The input is
//
//   METHOD '\n' PATH '\n' BODY
//
// (a method name ember does not know picks one from its first byte; a missing line is empty).
// The request goes through api::route() and, when it becomes an action, into one long-lived
// pre-boot api::Controller, so sequences of requests build up state across inputs (drives,
// interfaces, machine config, ...). Left out: the actions that touch the file system or boot
// (PUT /actions, /logger, /metrics, /serial).
//
// Beyond "no crash, no exception, no sanitizer report", every reply must be a 2xx or a 4xx; a
// 4xx carries a JSON {"fault_message": "..."}; a 200 carries a JSON body and a 204 none; a 405
// names the allowed methods in Allow.
#include "api/controller.hpp"
#include "api/router.hpp"
#include "vmm/timings.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using namespace ember::api; // NOLINT(google-build-using-namespace): a test driver
using ember::api::http::Method;

constexpr size_t kMaxPayload = 51200; // the server's default limit: larger bodies never get here

constexpr std::array kMethods{Method::kGet,     Method::kHead,  Method::kPost,
                              Method::kPut,     Method::kPatch, Method::kDelete,
                              Method::kOptions, Method::kTrace, Method::kConnect};

Controller& controller() {
    static ember::Timings timings;
    static Controller instance(model::VmConfigBuilder{}, "fuzz", timings);
    return instance;
}

// What the HTTP parser would hand the router: a path of printable ASCII starting with '/', the
// query split off. False when no parsed request could look like this.
bool make_request(std::string_view text, http::Request& request) {
    const size_t first = text.find('\n');
    const std::string_view method = text.substr(0, first);
    std::string_view rest = first == std::string_view::npos ? "" : text.substr(first + 1);
    const size_t second = rest.find('\n');
    std::string_view target = rest.substr(0, second);
    const std::string_view body = second == std::string_view::npos ? "" : rest.substr(second + 1);
    if (body.size() > kMaxPayload) return false;

    if (auto m = http::method_from_name(method)) {
        request.method = *m;
    } else {
        const auto pick = method.empty() ? 0U : static_cast<unsigned char>(method[0]);
        request.method = kMethods.at(pick % kMethods.size());
    }
    for (const char c : target)
        if (c <= ' ' || c >= 0x7f) return false;
    if (const size_t q = target.find('?'); q != std::string_view::npos) {
        request.query = std::string(target.substr(q + 1));
        target = target.substr(0, q);
    }
    request.path = target.starts_with('/') ? std::string(target) : "/" + std::string(target);
    request.body = std::string(body);
    return true;
}

// Actions left out: they open files (logger, metrics, serial) or boot (InstanceStart).
bool excluded(const VmmAction& action) {
    return std::holds_alternative<action::Instance>(action) ||
           std::holds_alternative<action::PutLogger>(action) ||
           std::holds_alternative<action::PutMetrics>(action) ||
           std::holds_alternative<action::PutSerial>(action);
}

void check(const http::Response& response) {
    const int code = http::code(response.status);
    if (code >= 200 && code < 300) {
        if (code == 204) {
            if (!response.body.empty()) std::abort();
        } else if (!nlohmann::json::accept(response.body)) {
            std::abort();
        }
        return;
    }
    if (code < 400 || code >= 500) std::abort();
    const auto json = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object() || !json.contains("fault_message") || !json["fault_message"].is_string())
        std::abort();
    if (code == 405) {
        bool allow = false;
        for (const auto& [name, value] : response.headers)
            allow = allow || (http::iequals(name, "Allow") && !value.empty());
        if (!allow) std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // Safety: libFuzzer's buffer of `size` bytes, viewed as characters.
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    http::Request request;
    if (!make_request(text, request)) return 0;
    Routed routed = route(request);
    if (const auto* answer = std::get_if<http::Response>(&routed)) {
        check(*answer);
        return 0;
    }
    const VmmAction& action = std::get<VmmAction>(routed);
    if (excluded(action)) return 0;
    Controller& c = controller();
    check(c.handle(action));
    if (c.started()) std::abort(); // nothing here may boot
    // The GETs must always answer, whatever the configuration has become.
    check(c.handle(action::GetVmConfig{}));
    check(c.handle(action::GetMachineConfig{}));
    return 0;
}
