// libFuzzer target: bytes from an API client through the HTTP request parser.
//
// The input is parsed twice: fed whole, and fed in pieces whose sizes come from the input, with
// every outcome drained after each piece. Both must give the same outcomes (splitting a stream
// changes nothing), every outcome must keep the parser's promises (limits, paths, statuses),
// the parser must hold no more than its limits allow while it waits, and every refusal must
// make a valid {"fault_message": ...} body. Anything else — or a crash, a sanitizer report, a
// hang — is a bug.
#include "api/http/http_parser.hpp"
#include "api/http/http_response.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using ember::api::http::HttpError;
using ember::api::http::NeedMore;
using ember::api::http::ParserLimits;
using ember::api::http::Request;
using ember::api::http::RequestParser;
using ember::api::http::Response;
using ember::api::http::SendContinue;

void check(bool ok) {
    if (!ok) std::abort();
}

void check_request(const Request& r, const ParserLimits& limits) {
    check(!r.path.empty() && r.path.front() == '/');
    check(r.path.size() + r.query.size() < limits.max_request_line);
    check(std::ranges::none_of(r.path, [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f;
    }));
    check(r.body.size() <= limits.max_body);
    check(r.headers.size() <= limits.max_header_count);
    (void)ember::api::http::serialize(Response::json(ember::api::http::Status::kOk, r.body));
}

void check_error(const HttpError& e) {
    const auto status = ember::api::http::code(e.status);
    check(status >= 400 && status < 600 && !e.message.empty());
    const auto body =
        nlohmann::json::parse(Response::fault(e.status, e.message).body, nullptr, false);
    check(!body.is_discarded() && body.size() == 1 && body["fault_message"] == e.message);
}

// Drains the parser; appends a rendering of each outcome to `out`.
void drain(RequestParser& parser, std::string& out) {
    for (;;) {
        auto o = parser.next();
        if (std::holds_alternative<NeedMore>(o)) return;
        if (std::holds_alternative<SendContinue>(o)) out += "[100]";
        if (const auto* e = std::get_if<HttpError>(&o)) {
            check_error(*e);
            out += "[" + std::to_string(ember::api::http::code(e->status)) + e->message +
                   (e->close ? "!]" : "]");
            if (e->close) {
                // A closing error leaves the parser failed for good.
                check(std::holds_alternative<NeedMore>(parser.next()) && parser.buffered() == 0);
                return;
            }
        }
        if (const auto* r = std::get_if<Request>(&o)) {
            check_request(*r, parser.limits());
            out += "[" + std::string(ember::api::http::method_name(r->method)) + r->path + "?" +
                   r->query + (r->keep_alive ? "+" : "-") + std::to_string(r->headers.size()) +
                   ":" + r->body + "]";
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    // Byte 0 picks the limits (small ones reach every limit with short inputs), byte 1 seeds
    // the piece sizes.
    ParserLimits limits;
    if ((data[0] & 1) != 0) limits = ParserLimits{32, 3, 64, 16};
    uint32_t seed = data[1];
    // Safety: the same bytes viewed as chars.
    const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);

    RequestParser whole(limits);
    whole.feed(input);
    std::string expected;
    drain(whole, expected);

    RequestParser pieces(limits);
    std::string got;
    const size_t held = std::max({limits.max_request_line + 2, limits.max_header_bytes,
                                  static_cast<size_t>(limits.max_body)});
    for (size_t at = 0; at < input.size();) {
        seed = seed * 1103515245U + 12345U;
        const size_t n = std::min<size_t>(1 + (seed >> 16) % 64, input.size() - at);
        pieces.feed(input.substr(at, n));
        at += n;
        drain(pieces, got);
        // Waiting for more: never more than one request's worth by the limits.
        check(pieces.buffered() <= held);
    }
    check(got == expected);
    return 0;
}
