// Response: what a handler answers; serialize() turns it into HTTP/1.1 bytes.
#pragma once

#include "api/http/http_status.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::api::http {

struct Response {
    Status status = Status::kOk;
    // Extra fields (e.g. Allow for a 405). Server, Connection, Content-Type and Content-Length
    // are written by serialize(); a Content-Type here replaces the default.
    std::vector<std::pair<std::string, std::string>> headers;
    // A JSON document, or empty.
    std::string body;

    // 204 No Content: Firecracker's answer to a successful PUT/PATCH.
    [[nodiscard]] static Response no_content() { return Response{Status::kNoContent, {}, {}}; }
    [[nodiscard]] static Response json(Status status, std::string body) {
        return Response{status, {}, std::move(body)};
    }
    // Firecracker's error body: {"fault_message": "..."}, the message JSON-escaped (bytes that
    // are not UTF-8 become U+FFFD, so any message is safe to pass).
    [[nodiscard]] static Response fault(Status status, std::string_view message);
};

struct SerializeOptions {
    // Adds "Connection: close": the server closes the connection after this reply.
    bool close = false;
    // Adds "Connection: keep-alive": an HTTP/1.0 client asked for it and gets it.
    bool keep_alive_header = false;
    // An answer to HEAD: the fields as for GET, no body.
    bool omit_body = false;
};

// Appends the status line, fields and body to `out`. Content-Length is always written, except
// for 1xx and 204, where RFC 9110 §8.6 forbids it; Content-Type: application/json whenever there
// is a body.
void serialize(const Response& response, const SerializeOptions& options, std::string& out);
[[nodiscard]] std::string serialize(const Response& response, const SerializeOptions& options = {});

} // namespace ember::api::http
