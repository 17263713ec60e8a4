// RequestParser: an incremental HTTP/1.1 request parser for the API socket.
//
// Bytes are fed as they arrive, split anywhere; next() hands out one outcome at a time:
// a complete Request, a request to send "100 Continue", an HttpError to answer, or nothing yet.
// Bytes after a complete request stay buffered for the next one (pipelining).
//
// Scope (docs/api.md): request bodies framed by Content-Length only — Transfer-Encoding is
// answered 501, as Firecracker supports no chunked bodies either; no percent-decoding; no
// obsolete line folding. Lines may end in CRLF or a bare LF (RFC 9112 §2.2).
//
// Every limit is enforced before the bytes are buffered past it, so a hostile client can make
// the parser hold at most max_request_line + max_header_bytes + max_body bytes (plus one read).
#pragma once

#include "api/http/http_request.hpp"
#include "api/http/http_status.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace ember::api::http {

struct ParserLimits {
    // Longer → 414 URI Too Long (the target is what makes a request line long).
    size_t max_request_line = size_t{8} * 1024;
    // More fields → 431 Request Header Fields Too Large.
    size_t max_header_count = 100;
    // All header lines with their line ends, the empty line included; more → 431.
    size_t max_header_bytes = size_t{16} * 1024;
    // Firecracker's --http-api-max-payload-size; a larger body → 413 Payload Too Large.
    size_t max_body = 51200;
};

// A request that is answered by the parser's verdict rather than the handler.
struct HttpError {
    Status status = Status::kBadRequest;
    std::string message; // for {"fault_message": ...}: what was wrong, and the limit if one
    // True when the connection must close after the reply: the bytes that follow cannot be
    // framed as a next request (or the client asked to close, or waits for a 100 we refuse).
    bool close = true;
};

// next() found no complete request yet: feed more bytes.
struct NeedMore {};
// The client sent "Expect: 100-continue" and waits for "HTTP/1.1 100 Continue" before its body.
struct SendContinue {};

using ParseOutcome = std::variant<NeedMore, SendContinue, Request, HttpError>;

class RequestParser final {
public:
    explicit RequestParser(ParserLimits limits = {}) : limits_(limits) {}

    // Appends bytes received from the peer. Ignored once a closing error was returned.
    void feed(std::string_view bytes);

    // The next outcome. After an HttpError with close == true the parser stays failed and
    // returns NeedMore forever: the connection is to be closed.
    [[nodiscard]] ParseOutcome next();

    // Bytes buffered and not yet part of an outcome (a partial or pipelined request).
    [[nodiscard]] size_t buffered() const { return buffer_.size() - pos_; }
    // True between requests: no byte of a next request has arrived (a peer that closes now
    // loses nothing).
    [[nodiscard]] bool idle() const { return state_ == State::kRequestLine && buffered() == 0; }
    [[nodiscard]] const ParserLimits& limits() const { return limits_; }

private:
    enum class State { kRequestLine, kHeaders, kBody, kDiscard, kFailed };

    // One of the steps below: nullopt means "keep going", a value is the outcome to return.
    using Step = std::optional<ParseOutcome>;
    Step step_request_line();
    Step step_header_line();
    Step step_body();
    void step_discard();
    Step finish_head();
    // Answers a request whose head is framed: the body is skipped, the connection kept when the
    // client allows it.
    Step reject_framed(Status status, std::string message);
    HttpError fail(Status status, std::string message);
    // The next line (without its line end) or nullopt when none is complete; `limit` bounds the
    // line's length, line end included, whether or not it is complete yet.
    std::optional<std::string_view> take_line(size_t limit, bool& too_long);
    void compact();

    ParserLimits limits_;
    State state_ = State::kRequestLine;
    std::string buffer_;
    size_t pos_ = 0;  // first byte not yet consumed
    size_t scan_ = 0; // where the search for the next '\n' resumes (no rescans of a long line)
    // The request being parsed.
    Request request_;
    size_t header_bytes_ = 0;
    uint64_t body_length_ = 0;
    bool expect_continue_ = false;
    // A method name we do not implement: answered 501 once the head is framed.
    std::string unknown_method_;
    // Bytes still to skip of a body answered early (413, 501) on a connection that goes on.
    uint64_t discard_left_ = 0;
};

} // namespace ember::api::http
