#include "api/http/http_parser.hpp"

#include "http_client.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ember::api::http {
namespace {

using Outcomes = std::vector<ParseOutcome>;
using testing::get;
using testing::put;

// Everything next() returns until it needs more bytes.
Outcomes drain(RequestParser& parser) {
    Outcomes out;
    for (;;) {
        auto o = parser.next();
        if (std::holds_alternative<NeedMore>(o)) return out;
        out.push_back(std::move(o));
    }
}

Outcomes parse(std::string_view bytes, ParserLimits limits = {}) {
    RequestParser parser(limits);
    parser.feed(bytes);
    return drain(parser);
}

const Request& request_at(const Outcomes& o, size_t i) {
    EXPECT_LT(i, o.size());
    EXPECT_TRUE(std::holds_alternative<Request>(o.at(i))) << "outcome " << i << " is no request";
    return std::get<Request>(o.at(i));
}

const HttpError& error_at(const Outcomes& o, size_t i) {
    EXPECT_LT(i, o.size());
    EXPECT_TRUE(std::holds_alternative<HttpError>(o.at(i))) << "outcome " << i << " is no error";
    return std::get<HttpError>(o.at(i));
}

// The only outcome of `bytes` is an error; returns it.
HttpError only_error(std::string_view bytes, ParserLimits limits = {}) {
    const auto o = parse(bytes, limits);
    EXPECT_EQ(o.size(), 1U) << bytes;
    if (o.size() != 1 || !std::holds_alternative<HttpError>(o[0]))
        return HttpError{Status::kOk, "", false};
    return std::get<HttpError>(o[0]);
}

// A comparable rendering of outcomes, to check that splitting the input changes nothing.
std::string render(const Outcomes& outcomes) {
    std::string s;
    for (const auto& o : outcomes) {
        if (std::holds_alternative<SendContinue>(o)) s += "[100]";
        if (const auto* e = std::get_if<HttpError>(&o))
            s += "[err " + std::to_string(code(e->status)) + " " + e->message +
                 (e->close ? " close]" : "]");
        if (const auto* r = std::get_if<Request>(&o)) {
            s += "[" + std::string(method_name(r->method)) + " " + r->path + " ?" + r->query +
                 (r->version == Version::kHttp10 ? " 1.0" : " 1.1") +
                 (r->keep_alive ? " ka" : " close");
            for (const auto& [n, v] : r->headers.fields())
                s += " " + n + "=" + v;
            s += " body=" + r->body + "]";
        }
    }
    return s;
}

TEST(HttpParser, ParsesAGet) {
    const auto o = parse("GET /machine-config HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
    ASSERT_EQ(o.size(), 1U);
    const auto& r = request_at(o, 0);
    EXPECT_EQ(r.method, Method::kGet);
    EXPECT_EQ(r.path, "/machine-config");
    EXPECT_EQ(r.query, "");
    EXPECT_EQ(r.version, Version::kHttp11);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.headers.size(), 2U);
    EXPECT_EQ(r.headers.get("host").value_or(""), "localhost");
    EXPECT_EQ(r.headers.get("ACCEPT").value_or(""), "*/*");
    EXPECT_FALSE(r.headers.get("Content-Length").has_value());
    EXPECT_EQ(r.body, "");
}

TEST(HttpParser, ParsesAPutWithBodyAndTrimsHeaderValues) {
    const auto o = parse("PUT /drives/rootfs HTTP/1.1\r\ncontent-length:  7 \t\r\n"
                         "Content-Type: application/json\r\n\r\n{\"a\":1}");
    const auto& r = request_at(o, 0);
    EXPECT_EQ(r.method, Method::kPut);
    EXPECT_EQ(r.path, "/drives/rootfs");
    EXPECT_EQ(r.headers.get("Content-Length").value_or(""), "7");
    EXPECT_EQ(r.body, "{\"a\":1}");
}

TEST(HttpParser, KnowsEveryMethodCaseSensitively) {
    for (const auto* m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}) {
        const auto o = parse(std::string(m) + " / HTTP/1.1\r\n\r\n");
        EXPECT_EQ(method_name(request_at(o, 0).method), m);
    }
    const auto e = parse("get / HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n");
    ASSERT_EQ(e.size(), 2U);
    EXPECT_EQ(error_at(e, 0).status, Status::kNotImplemented);
    EXPECT_EQ(error_at(e, 0).message, "method 'get' is not implemented");
    EXPECT_FALSE(error_at(e, 0).close); // framed: the next request is served
    EXPECT_EQ(request_at(e, 1).path, "/next");
}

TEST(HttpParser, SplitsTheQueryAndReducesAbsoluteForm) {
    auto r = request_at(parse("GET /vm/config?x=1&y HTTP/1.1\r\n\r\n"), 0);
    EXPECT_EQ(r.path, "/vm/config");
    EXPECT_EQ(r.query, "x=1&y");
    r = request_at(parse("GET http://localhost/version HTTP/1.1\r\n\r\n"), 0);
    EXPECT_EQ(r.path, "/version");
    r = request_at(parse("GET HTTP://localhost:80 HTTP/1.1\r\n\r\n"), 0);
    EXPECT_EQ(r.path, "/");
}

TEST(HttpParser, KeepAliveRules) {
    EXPECT_TRUE(request_at(parse("GET / HTTP/1.1\r\n\r\n"), 0).keep_alive);
    EXPECT_FALSE(request_at(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"), 0).keep_alive);
    EXPECT_FALSE(
        request_at(parse("GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n"), 0).keep_alive);
    EXPECT_FALSE(request_at(parse("GET / HTTP/1.0\r\n\r\n"), 0).keep_alive);
    EXPECT_TRUE(
        request_at(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0).keep_alive);
    EXPECT_EQ(request_at(parse("GET / HTTP/1.0\r\n\r\n"), 0).version, Version::kHttp10);
    // A later 1.x minor is answered as 1.1.
    EXPECT_EQ(request_at(parse("GET / HTTP/1.7\r\n\r\n"), 0).version, Version::kHttp11);
}

TEST(HttpParser, ABodyWithoutContentLengthIsEmpty) {
    const auto o = parse("PUT /actions HTTP/1.1\r\n\r\nPATCH /vm HTTP/1.1\r\n\r\n");
    ASSERT_EQ(o.size(), 2U);
    EXPECT_EQ(request_at(o, 0).body, "");
    EXPECT_EQ(request_at(o, 1).method, Method::kPatch);
    EXPECT_EQ(request_at(o, 1).body, "");
}

TEST(HttpParser, PipelinedRequestsStayBufferedInOrder) {
    RequestParser parser;
    parser.feed(get("/a") + put("/b", "xyz") + "GET /c HTT");
    auto r = parser.next();
    EXPECT_EQ(std::get<Request>(r).path, "/a");
    EXPECT_EQ(parser.buffered(), put("/b", "xyz").size() + 10);
    r = parser.next();
    EXPECT_EQ(std::get<Request>(r).body, "xyz");
    EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
    EXPECT_EQ(parser.buffered(), 10U);
    EXPECT_FALSE(parser.idle());
    parser.feed("P/1.1\r\n\r\n");
    EXPECT_EQ(std::get<Request>(parser.next()).path, "/c");
    EXPECT_TRUE(parser.idle());
}

// The same outcomes whatever the split: every byte boundary, and one byte at a time.
TEST(HttpParser, EveryByteBoundaryGivesTheSameOutcomes) {
    const std::string input = "\r\n" + put("/drives/root", R"({"path_on_host":"/x"})") +
                              "PATCH /vm HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3"
                              "\r\n\r\nabcget /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nzz" +
                              get("/v?q") + "GET /v HTTP/1.1\nConnection: close\n\n" +
                              "GET / HTTP/9.9\r\n\r\n";
    const std::string whole = render(parse(input));
    EXPECT_EQ(whole, "[PUT /drives/root ? 1.1 ka Host=localhost Content-Length=21 "
                     "body={\"path_on_host\":\"/x\"}][100][PATCH /vm ? 1.1 ka Expect=100-continue "
                     "Content-Length=3 body=abc][err 501 method 'get' is not implemented][GET /v "
                     "?q 1.1 ka Host=localhost body=][GET /v ? 1.1 close Connection=close body=]"
                     "[err 505 HTTP version 'HTTP/9.9' is not supported: use HTTP/1.1 or HTTP/1.0 "
                     "close]");
    for (size_t split = 0; split <= input.size(); ++split) {
        RequestParser parser;
        parser.feed(input.substr(0, split));
        Outcomes o = drain(parser);
        parser.feed(input.substr(split));
        for (auto& x : drain(parser))
            o.push_back(std::move(x));
        ASSERT_EQ(render(o), whole) << "split at " << split;
    }
    RequestParser parser;
    Outcomes o;
    for (const char c : input) {
        parser.feed(std::string_view(&c, 1));
        for (auto& x : drain(parser))
            o.push_back(std::move(x));
    }
    EXPECT_EQ(render(o), whole);
}

TEST(HttpParser, AcceptsBareLineFeedsAndLeadingEmptyLines) {
    const auto o = parse("\r\n\n\r\nGET /x HTTP/1.1\nHost: a\n\n");
    EXPECT_EQ(request_at(o, 0).path, "/x");
    EXPECT_EQ(request_at(o, 0).headers.get("host").value_or(""), "a");
}

TEST(HttpParser, RequestLineLimitIs414) {
    ParserLimits limits;
    limits.max_request_line = 64;
    const std::string at_limit = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.1";
    ASSERT_EQ(at_limit.size(), 64U);
    EXPECT_EQ(request_at(parse(at_limit + "\r\n\r\n", limits), 0).path.size(), 51U);
    const auto e = only_error("GET /" + std::string(51, 'a') + " HTTP/1.1\r\n\r\n", limits);
    EXPECT_EQ(e.status, Status::kUriTooLong);
    EXPECT_EQ(e.message, "request line is longer than 64 bytes");
    EXPECT_TRUE(e.close);
    // Detected before the line ends: the parser does not buffer an endless line.
    RequestParser parser(limits);
    parser.feed("GET /" + std::string(100, 'a'));
    EXPECT_EQ(std::get<HttpError>(parser.next()).status, Status::kUriTooLong);
    EXPECT_EQ(parser.buffered(), 0U);
}

TEST(HttpParser, HeaderLimitsAre431) {
    ParserLimits limits;
    limits.max_header_count = 3;
    limits.max_header_bytes = 40;
    EXPECT_EQ(request_at(parse("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\n\r\n", limits), 0)
                  .headers.size(),
              3U);
    auto e = only_error("GET / HTTP/1.1\r\na: 1\r\nb: 2\r\nc: 3\r\nd: 4\r\n\r\n", limits);
    EXPECT_EQ(e.status, Status::kRequestHeaderFieldsTooLarge);
    EXPECT_EQ(e.message, "more than 3 header fields");
    e = only_error("GET / HTTP/1.1\r\nx: " + std::string(40, 'v') + "\r\n\r\n", limits);
    EXPECT_EQ(e.status, Status::kRequestHeaderFieldsTooLarge);
    EXPECT_EQ(e.message, "request header fields are larger than 40 bytes");
    EXPECT_TRUE(e.close);
    // The default limits: 100 fields, 16 KiB.
    std::string head = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 100; ++i)
        head += "h" + std::to_string(i) + ": v\r\n";
    EXPECT_EQ(request_at(parse(head + "\r\n"), 0).headers.size(), 100U);
    EXPECT_EQ(only_error(head + "h: v\r\n\r\n").status, Status::kRequestHeaderFieldsTooLarge);
    EXPECT_EQ(
        only_error("GET / HTTP/1.1\r\nx: " + std::string(16 * 1024, 'v') + "\r\n\r\n").message,
        "request header fields are larger than 16384 bytes");
}

TEST(HttpParser, BodyLimitIs413AndTheBodyIsSkipped) {
    ParserLimits limits;
    limits.max_body = 10;
    EXPECT_EQ(request_at(parse(put("/x", "0123456789"), limits), 0).body, "0123456789");
    RequestParser parser(limits);
    parser.feed("PUT /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n0123");
    const auto e = std::get<HttpError>(parser.next());
    EXPECT_EQ(e.status, Status::kPayloadTooLarge);
    EXPECT_EQ(e.message, "request body of 11 bytes is larger than the limit of 10 bytes "
                         "(--http-api-max-payload-size)");
    EXPECT_FALSE(e.close);
    EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
    parser.feed("4567");
    EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
    parser.feed("89a" + get("/after"));
    EXPECT_EQ(std::get<Request>(parser.next()).path, "/after");
}

TEST(HttpParser, Oversize413ClosesWhenTheBodyCannotBeSkipped) {
    ParserLimits limits;
    limits.max_body = 10;
    // The client waits for a 100 it will not get: it may never send the body.
    auto e =
        only_error("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n", limits);
    EXPECT_EQ(e.status, Status::kPayloadTooLarge);
    EXPECT_TRUE(e.close);
    e = only_error("PUT /x HTTP/1.1\r\nConnection: close\r\nContent-Length: 11\r\n\r\n", limits);
    EXPECT_TRUE(e.close);
    // Too large to skip (over 1 MiB), or beyond 64 bits.
    EXPECT_TRUE(only_error("PUT /x HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n").close);
    e = only_error("PUT /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
    EXPECT_EQ(e.status, Status::kPayloadTooLarge);
    EXPECT_TRUE(e.close);
}

TEST(HttpParser, ExpectContinue) {
    RequestParser parser;
    parser.feed("PUT /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n");
    EXPECT_TRUE(std::holds_alternative<SendContinue>(parser.next()));
    EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
    parser.feed("ok");
    EXPECT_EQ(std::get<Request>(parser.next()).body, "ok");
    // Nothing to continue without a body, nor for HTTP/1.0.
    EXPECT_EQ(parse("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").size(), 1U);
    EXPECT_EQ(parse("PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz").size(),
              1U);
    const auto e = only_error("GET / HTTP/1.1\r\nExpect: 103-checkpoint\r\n\r\n");
    EXPECT_EQ(e.status, Status::kExpectationFailed);
    EXPECT_EQ(e.message, "Expect '103-checkpoint' is not supported: only 100-continue is");
}

TEST(HttpParser, TransferEncodingIs501) {
    const auto e =
        only_error("PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    EXPECT_EQ(e.status, Status::kNotImplemented);
    EXPECT_EQ(e.message, "Transfer-Encoding is not supported: send the body with Content-Length");
    EXPECT_TRUE(e.close);
}

TEST(HttpParser, BadContentLengthIs400) {
    const auto dup =
        only_error("PUT /x HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nz");
    EXPECT_EQ(dup.status, Status::kBadRequest);
    EXPECT_EQ(dup.message, "more than one Content-Length header");
    for (const auto* v : {"-1", "+1", "1x", "", "1, 1", "0x10", "1 2"}) {
        const auto e =
            only_error(std::string("PUT /x HTTP/1.1\r\nContent-Length: ") + v + "\r\n\r\n");
        EXPECT_EQ(e.status, Status::kBadRequest) << v;
        EXPECT_EQ(e.message,
                  std::string("invalid Content-Length '") + v + "': expected a byte count");
        EXPECT_TRUE(e.close);
    }
}

TEST(HttpParser, MalformedRequestLinesAre400) {
    const auto bad = [](std::string_view line, std::string_view message) {
        const auto e = only_error(std::string(line) + "\r\n\r\n");
        EXPECT_EQ(e.status, Status::kBadRequest) << line;
        EXPECT_EQ(e.message, message) << line;
        EXPECT_TRUE(e.close) << line;
    };
    const auto* shape = "': expected 'METHOD /path HTTP/1.1'";
    bad("GET", std::string("malformed request line 'GET") + shape);
    bad("GET /", std::string("malformed request line 'GET /") + shape);
    bad("GET  / HTTP/1.1", std::string("malformed request line 'GET  / HTTP/1.1") + shape);
    bad("GET / HTTP/1.1 x", std::string("malformed request line 'GET / HTTP/1.1 x") + shape);
    bad(" GET / HTTP/1.1", std::string("malformed request line ' GET / HTTP/1.1") + shape);
    bad("GET / HTTP/1", "malformed HTTP version 'HTTP/1': expected HTTP/1.1 or HTTP/1.0");
    bad("GET / http/1.1", "malformed HTTP version 'http/1.1': expected HTTP/1.1 or HTTP/1.0");
    bad("GET / HTTP/1.x", "malformed HTTP version 'HTTP/1.x': expected HTTP/1.1 or HTTP/1.0");
    bad("G(T / HTTP/1.1", "malformed request line: method 'G(T' is not a token");
    bad("GET vm HTTP/1.1", "request target 'vm' must start with '/'");
    bad("GET * HTTP/1.1", "request target '*' must start with '/'");
    bad("GET /\x01 HTTP/1.1", "request line contains control character 0x01 at byte 5");
    bad("GET /\x7f HTTP/1.1", "request line contains control character 0x7f at byte 5");
    bad("GET /a\rb HTTP/1.1", "request line contains control character 0x0d at byte 6");
    bad("GET /\tb HTTP/1.1", "request line contains control character 0x09 at byte 5");
    bad("GET /\xc3\xa9 HTTP/1.1", "request target '/?"
                                  "?' contains a non-ASCII byte");
}

TEST(HttpParser, UnsupportedVersionIs505) {
    for (const auto* v : {"HTTP/2.0", "HTTP/0.9", "HTTP/3.0"}) {
        const auto e = only_error(std::string("GET / ") + v + "\r\n\r\n");
        EXPECT_EQ(e.status, Status::kHttpVersionNotSupported) << v;
        EXPECT_TRUE(e.close);
    }
}

TEST(HttpParser, MalformedHeadersAre400) {
    const auto bad = [](std::string_view header, std::string_view message) {
        const auto e = only_error("GET / HTTP/1.1\r\n" + std::string(header) + "\r\n\r\n");
        EXPECT_EQ(e.status, Status::kBadRequest) << header;
        EXPECT_EQ(e.message, message) << header;
        EXPECT_TRUE(e.close);
    };
    bad("NoColon", "header line 'NoColon' has no ':'");
    bad("Host : x", "whitespace between header name 'Host ' and ':'");
    bad(": x", "header name '' is not a token");
    bad("Ho(st: x", "header name 'Ho(st' is not a token");
    bad("X: a\x01z", "header 'X' contains a control character");
    bad("X: a\rz", "header 'X' contains a control character");
    bad("X: a\x7fz", "header 'X' contains a control character");
    bad("X: a\r\n b", "header line starts with whitespace: obsolete line folding is not supported");
    // A tab inside a value and bytes above 0x7f are allowed (RFC 9110 field-vchar, obs-text).
    const auto r = request_at(parse("GET / HTTP/1.1\r\nX: a\tb\xe2\x82\xac\r\n\r\n"), 0);
    EXPECT_EQ(r.headers.get("x").value_or(""), "a\tb\xe2\x82\xac");
}

TEST(HttpParser, StaysFailedAfterAClosingError) {
    RequestParser parser;
    parser.feed("BROKEN\r\n" + get("/a"));
    EXPECT_TRUE(std::get<HttpError>(parser.next()).close);
    EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
    parser.feed(get("/b"));
    EXPECT_TRUE(std::holds_alternative<NeedMore>(parser.next()));
    EXPECT_EQ(parser.buffered(), 0U);
}

TEST(HttpParser, QuotesLongAndBinaryValuesShortly) {
    const auto e = only_error("GET " + std::string(100, 'x') + " HTTP/1.1\r\n\r\n");
    EXPECT_EQ(e.message, "request target '" + std::string(64, 'x') + "...' must start with '/'");
}

} // namespace
} // namespace ember::api::http
