#include "api/http/http_parser.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace ember::api::http {
namespace {

// A body this large is read and dropped after its 413 (or 501) so that the connection survives;
// a larger one closes the connection instead of tying it up for the whole transfer.
constexpr uint64_t kMaxDiscard = uint64_t{1024} * 1024;
// Longer values are cut in fault messages: enough to recognise, never an 8 KiB echo.
constexpr size_t kQuoteMax = 64;
// Consumed bytes are dropped from the buffer at least this often (leading empty lines, skipped
// bodies), so the buffer never grows with bytes already parsed.
constexpr size_t kCompactAt = 4096;

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
    return !s.empty() && std::ranges::all_of(s, is_tchar);
}

bool is_ctl(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
}

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// For messages: printable, and cut after kQuoteMax bytes.
std::string quote(std::string_view s) {
    std::string out;
    for (const char c : s.substr(0, kQuoteMax))
        out += (is_ctl(c) || static_cast<unsigned char>(c) >= 0x80) ? '?' : c;
    if (s.size() > kQuoteMax) out += "...";
    return out;
}

// Calls f(token) for each comma-separated element of a header value (RFC 9110 §5.6.1).
template <class F> void for_each_element(std::string_view value, F&& f) {
    while (!value.empty()) {
        const size_t comma = value.find(',');
        f(trim_ows(value.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

bool keep_alive_of(const Request& r) {
    bool close = false;
    bool keep = false;
    for (const auto& [name, value] : r.headers.fields()) {
        if (!iequals(name, "Connection")) continue;
        for_each_element(value, [&](std::string_view token) {
            close = close || iequals(token, "close");
            keep = keep || iequals(token, "keep-alive");
        });
    }
    if (close) return false;
    return r.version == Version::kHttp11 || keep;
}

} // namespace

void RequestParser::feed(std::string_view bytes) {
    if (state_ == State::kFailed) return;
    if (pos_ == buffer_.size() || pos_ >= kCompactAt) compact();
    buffer_.append(bytes);
}

ParseOutcome RequestParser::next() {
    for (;;) {
        Step step;
        switch (state_) {
        case State::kRequestLine:
            step = step_request_line();
            break;
        case State::kHeaders:
            step = step_header_line();
            break;
        case State::kBody:
            step = step_body();
            break;
        case State::kDiscard:
            step_discard();
            break;
        case State::kFailed:
            return NeedMore{};
        }
        if (step) return std::move(*step);
        if (state_ == State::kDiscard && discard_left_ > 0) return NeedMore{};
    }
}

void RequestParser::compact() {
    buffer_.erase(0, pos_);
    scan_ -= std::min(scan_, pos_);
    pos_ = 0;
}

HttpError RequestParser::fail(Status status, std::string message) {
    state_ = State::kFailed;
    buffer_.clear();
    buffer_.shrink_to_fit();
    pos_ = scan_ = 0;
    return HttpError{status, std::move(message), true};
}

std::optional<std::string_view> RequestParser::take_line(size_t limit, bool& too_long) {
    const size_t nl = buffer_.find('\n', std::max(scan_, pos_));
    if (nl == std::string::npos) {
        scan_ = buffer_.size();
        too_long = buffer_.size() - pos_ > limit;
        return std::nullopt;
    }
    if (nl + 1 - pos_ > limit) {
        too_long = true;
        return std::nullopt;
    }
    std::string_view line(buffer_.data() + pos_, nl - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos_ = scan_ = nl + 1;
    return line;
}

RequestParser::Step RequestParser::step_request_line() {
    bool too_long = false;
    const auto line = take_line(limits_.max_request_line + 2, too_long);
    if (too_long)
        return fail(Status::kUriTooLong,
                    fmt::format("request line is longer than {} bytes", limits_.max_request_line));
    if (!line) return NeedMore{};
    // RFC 9112 §2.2: empty lines before a request line are ignored (some clients send a CRLF
    // after a body).
    if (line->empty()) return std::nullopt;

    const auto* const bad_char = std::ranges::find_if(*line, is_ctl);
    if (bad_char != line->end())
        return fail(Status::kBadRequest,
                    fmt::format("request line contains control character 0x{:02x} at byte {}",
                                static_cast<unsigned char>(*bad_char), bad_char - line->begin()));
    const size_t sp1 = line->find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line->find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1 ||
        line->find(' ', sp2 + 1) != std::string_view::npos)
        return fail(Status::kBadRequest,
                    fmt::format("malformed request line '{}': expected 'METHOD /path HTTP/1.1'",
                                quote(*line)));
    const std::string_view method = line->substr(0, sp1);
    const std::string_view target = line->substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line->substr(sp2 + 1);

    // The version first: without it we do not know how to frame what follows.
    if (version.size() != 8 || !version.starts_with("HTTP/") || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
        return fail(Status::kBadRequest,
                    fmt::format("malformed HTTP version '{}': expected HTTP/1.1 or HTTP/1.0",
                                quote(version)));
    if (version[5] != '1')
        return fail(Status::kHttpVersionNotSupported,
                    fmt::format("HTTP version '{}' is not supported: use HTTP/1.1 or HTTP/1.0",
                                quote(version)));
    if (!is_token(method))
        return fail(
            Status::kBadRequest,
            fmt::format("malformed request line: method '{}' is not a token", quote(method)));

    request_ = Request{};
    // HTTP/1.x with x > 1 is answered as 1.1 (RFC 9110 §6.2: the highest minor we support).
    request_.version = version[7] == '0' ? Version::kHttp10 : Version::kHttp11;
    std::string_view path = target;
    if (path.size() >= 7 && iequals(path.substr(0, 7), "http://")) {
        // absolute-form (RFC 9112 §3.2.2): the authority is ignored, the socket names the server.
        const size_t slash = path.find('/', 7);
        path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
    }
    if (!path.starts_with('/'))
        return fail(Status::kBadRequest,
                    fmt::format("request target '{}' must start with '/'", quote(target)));
    if (std::ranges::any_of(path, [](char c) { return static_cast<unsigned char>(c) >= 0x80; }))
        return fail(Status::kBadRequest,
                    fmt::format("request target '{}' contains a non-ASCII byte", quote(target)));
    const size_t q = path.find('?');
    request_.path = std::string(path.substr(0, q));
    if (q != std::string_view::npos) request_.query = std::string(path.substr(q + 1));

    if (const auto m = method_from_name(method)) {
        request_.method = *m;
        unknown_method_.clear();
    } else {
        // Answered once the head is framed, so that the connection can go on.
        unknown_method_ = std::string(method);
    }
    header_bytes_ = 0;
    state_ = State::kHeaders;
    return std::nullopt;
}

RequestParser::Step RequestParser::step_header_line() {
    bool too_long = false;
    const size_t start = pos_;
    const auto line = take_line(limits_.max_header_bytes - header_bytes_, too_long);
    if (too_long)
        return fail(Status::kRequestHeaderFieldsTooLarge,
                    fmt::format("request header fields are larger than {} bytes",
                                limits_.max_header_bytes));
    if (!line) return NeedMore{};
    header_bytes_ += pos_ - start;
    if (line->empty()) return finish_head();

    if (line->front() == ' ' || line->front() == '\t')
        return fail(Status::kBadRequest,
                    "header line starts with whitespace: obsolete line folding is not supported");
    if (request_.headers.size() >= limits_.max_header_count)
        return fail(Status::kRequestHeaderFieldsTooLarge,
                    fmt::format("more than {} header fields", limits_.max_header_count));
    const size_t colon = line->find(':');
    if (colon == std::string_view::npos)
        return fail(Status::kBadRequest, fmt::format("header line '{}' has no ':'", quote(*line)));
    const std::string_view name = line->substr(0, colon);
    if (!name.empty() && (name.back() == ' ' || name.back() == '\t'))
        return fail(Status::kBadRequest,
                    fmt::format("whitespace between header name '{}' and ':'", quote(name)));
    if (!is_token(name))
        return fail(Status::kBadRequest,
                    fmt::format("header name '{}' is not a token", quote(name)));
    const std::string_view value = trim_ows(line->substr(colon + 1));
    if (std::ranges::any_of(value, [](char c) { return c != '\t' && is_ctl(c); }))
        return fail(Status::kBadRequest,
                    fmt::format("header '{}' contains a control character", quote(name)));
    request_.headers.add(std::string(name), std::string(value));
    return std::nullopt;
}

RequestParser::Step RequestParser::finish_head() {
    const Headers& h = request_.headers;
    request_.keep_alive = keep_alive_of(request_);
    if (h.count("Transfer-Encoding") > 0)
        return fail(Status::kNotImplemented,
                    "Transfer-Encoding is not supported: send the body with Content-Length");
    const size_t lengths = h.count("Content-Length");
    if (lengths > 1) return fail(Status::kBadRequest, "more than one Content-Length header");
    body_length_ = 0;
    if (lengths == 1) {
        const std::string_view v = *h.get("Content-Length");
        if (v.empty() || !std::ranges::all_of(v, [](char c) { return c >= '0' && c <= '9'; }))
            return fail(
                Status::kBadRequest,
                fmt::format("invalid Content-Length '{}': expected a byte count", quote(v)));
        // 19 digits cannot overflow; a longer count is too large either way.
        body_length_ = std::numeric_limits<uint64_t>::max();
        if (v.size() <= 19) body_length_ = std::stoull(std::string(v));
    }
    expect_continue_ = false;
    if (const auto expect = h.get("Expect")) {
        if (!iequals(*expect, "100-continue"))
            return fail(
                Status::kExpectationFailed,
                fmt::format("Expect '{}' is not supported: only 100-continue is", quote(*expect)));
        // An HTTP/1.0 client cannot wait for a 100 (RFC 9110 §10.1.1): ignore it there.
        expect_continue_ = request_.version == Version::kHttp11 && body_length_ > 0;
    }

    if (!unknown_method_.empty())
        return reject_framed(Status::kNotImplemented,
                             fmt::format("method '{}' is not implemented", quote(unknown_method_)));
    if (body_length_ > limits_.max_body)
        return reject_framed(
            Status::kPayloadTooLarge,
            fmt::format("request body of {} bytes is larger than the limit of {} bytes "
                        "(--http-api-max-payload-size)",
                        body_length_, limits_.max_body));
    state_ = State::kBody;
    if (expect_continue_) return SendContinue{};
    return std::nullopt;
}

RequestParser::Step RequestParser::reject_framed(Status status, std::string message) {
    // The client that waits for a 100 may or may not send its body after our refusal, so the
    // next byte cannot be framed; the same holds for a body too large to skip.
    if (expect_continue_ || body_length_ > kMaxDiscard || !request_.keep_alive)
        return fail(status, std::move(message));
    discard_left_ = body_length_;
    state_ = State::kDiscard;
    return HttpError{status, std::move(message), false};
}

RequestParser::Step RequestParser::step_body() {
    if (buffered() < body_length_) return NeedMore{};
    const auto length = static_cast<size_t>(body_length_);
    request_.body.assign(buffer_, pos_, length);
    pos_ += length;
    scan_ = pos_;
    state_ = State::kRequestLine;
    compact();
    return std::move(request_);
}

void RequestParser::step_discard() {
    const auto n = static_cast<size_t>(std::min<uint64_t>(buffered(), discard_left_));
    pos_ += n;
    scan_ = pos_;
    discard_left_ -= n;
    compact();
    if (discard_left_ == 0) state_ = State::kRequestLine;
}

} // namespace ember::api::http
