#include "api/http/http_status.hpp"

namespace ember::api::http {

std::string_view reason_phrase(Status status) {
    switch (status) {
    case Status::kContinue:
        return "Continue";
    case Status::kOk:
        return "OK";
    case Status::kCreated:
        return "Created";
    case Status::kNoContent:
        return "No Content";
    case Status::kBadRequest:
        return "Bad Request";
    case Status::kNotFound:
        return "Not Found";
    case Status::kMethodNotAllowed:
        return "Method Not Allowed";
    case Status::kConflict:
        return "Conflict";
    case Status::kPayloadTooLarge:
        return "Payload Too Large";
    case Status::kUriTooLong:
        return "URI Too Long";
    case Status::kUnsupportedMediaType:
        return "Unsupported Media Type";
    case Status::kExpectationFailed:
        return "Expectation Failed";
    case Status::kRequestHeaderFieldsTooLarge:
        return "Request Header Fields Too Large";
    case Status::kInternalServerError:
        return "Internal Server Error";
    case Status::kNotImplemented:
        return "Not Implemented";
    case Status::kServiceUnavailable:
        return "Service Unavailable";
    case Status::kHttpVersionNotSupported:
        return "HTTP Version Not Supported";
    }
    return {};
}

} // namespace ember::api::http
