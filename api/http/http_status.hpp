// Status: the HTTP status codes ember answers with, and their reason phrases.
#pragma once

#include <cstdint>
#include <string_view>

namespace ember::api::http {

enum class Status : uint16_t {
    kContinue = 100,
    kOk = 200,
    kCreated = 201,
    kNoContent = 204,
    kBadRequest = 400,
    kNotFound = 404,
    kMethodNotAllowed = 405,
    kConflict = 409,
    kPayloadTooLarge = 413,
    kUriTooLong = 414,
    kUnsupportedMediaType = 415,
    kExpectationFailed = 417,
    kRequestHeaderFieldsTooLarge = 431,
    kInternalServerError = 500,
    kNotImplemented = 501,
    kServiceUnavailable = 503,
    kHttpVersionNotSupported = 505,
};

[[nodiscard]] constexpr uint16_t code(Status status) {
    return static_cast<uint16_t>(status);
}

// The reason phrase of the status line; empty for a code not listed above (RFC 9112 allows an
// empty reason phrase, and clients ignore it).
[[nodiscard]] std::string_view reason_phrase(Status status);

} // namespace ember::api::http
