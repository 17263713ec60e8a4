#include "api/http/http_response.hpp"

#include "api/http/http_request.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iterator>

namespace ember::api::http {

Response Response::fault(Status status, std::string_view message) {
    const nlohmann::json body = {{"fault_message", message}};
    // replace: invalid UTF-8 (a client's bytes quoted in the message) must not throw.
    return json(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void serialize(const Response& response, const SerializeOptions& options, std::string& out) {
    const uint16_t status = code(response.status);
    auto it = std::back_inserter(out);
    fmt::format_to(it, "HTTP/1.1 {} {}\r\nServer: ember\r\n", status,
                   reason_phrase(response.status));
    if (options.close)
        out += "Connection: close\r\n";
    else if (options.keep_alive_header)
        out += "Connection: keep-alive\r\n";
    const bool has_type = std::ranges::any_of(
        response.headers, [](const auto& f) { return iequals(f.first, "Content-Type"); });
    if (!response.body.empty() && !has_type) out += "Content-Type: application/json\r\n";
    for (const auto& [name, value] : response.headers)
        fmt::format_to(it, "{}: {}\r\n", name, value);
    const bool bodiless = status < 200 || response.status == Status::kNoContent;
    if (!bodiless) fmt::format_to(it, "Content-Length: {}\r\n", response.body.size());
    out += "\r\n";
    if (!bodiless && !options.omit_body) out += response.body;
}

std::string serialize(const Response& response, const SerializeOptions& options) {
    std::string out;
    serialize(response, options, out);
    return out;
}

} // namespace ember::api::http
