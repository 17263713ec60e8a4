#include "api/http/http_server.hpp"

#include "http_client.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ember::api::http {
namespace {

using testing::get;
using testing::HttpReply;
using testing::put;
using testing::RawClient;
using testing::TempSocketPath;

// Echoes what it got, so each test can check what reached the handler. Special paths: /empty
// (204), /fault (400 + fault_message), /throw (an exception), /big (a 2 MiB body).
class EchoHandler {
public:
    Response operator()(const Request& r) {
        const int now = ++in_flight_;
        int seen = max_in_flight_.load();
        while (now > seen && !max_in_flight_.compare_exchange_weak(seen, now)) {
        }
        ++calls_;
        Response out;
        if (r.path == "/empty") {
            out = Response::no_content();
        } else if (r.path == "/fault") {
            out = Response::fault(Status::kBadRequest, "drive_id: \"x\" is not allowed");
        } else if (r.path == "/throw") {
            --in_flight_;
            throw std::runtime_error("boom");
        } else if (r.path == "/big") {
            out = Response::json(Status::kOk, std::string(2 * 1024 * 1024, 'b'));
        } else if (r.path == "/slow") {
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            out = Response::json(Status::kOk, "{}");
        } else {
            const nlohmann::json j = {{"method", method_name(r.method)},
                                      {"path", r.path},
                                      {"query", r.query},
                                      {"body", r.body}};
            out = Response::json(Status::kOk, j.dump());
        }
        --in_flight_;
        return out;
    }
    std::atomic<int> calls_{0};
    std::atomic<int> in_flight_{0};
    std::atomic<int> max_in_flight_{0};
};

class HttpServerTest : public ::testing::Test {
protected:
    void start(ServerOptions options = {}) {
        auto s = HttpServer::create(path_.str(), options,
                                    [this](const Request& r) { return handler_(r); });
        ASSERT_TRUE(s.has_value()) << s.error().describe();
        server_ = std::move(*s);
    }
    static std::string echo(std::string_view method, std::string_view path, std::string_view body,
                            std::string_view query = "") {
        return nlohmann::json{{"method", method}, {"path", path}, {"query", query}, {"body", body}}
            .dump();
    }

    TempSocketPath path_;
    EchoHandler handler_;
    std::unique_ptr<HttpServer> server_;
};

// Runs a shell command (with a timeout), returns its stdout.
std::string run(const std::string& command) {
    std::string out;
    FILE* p = ::popen(("timeout 20 " + command).c_str(), "r");
    if (p == nullptr) return out;
    std::array<char, 4096> buf{};
    size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
        out.append(buf.data(), n);
    ::pclose(p);
    return out;
}

bool have_curl() {
    return std::system("curl --version >/dev/null 2>&1") == 0;
}

TEST_F(HttpServerTest, CurlRoundTrip) {
    if (!have_curl()) GTEST_SKIP() << "curl is not installed";
    start();
    const std::string curl = "curl -sS --max-time 10 --unix-socket " + path_.str() + " ";
    EXPECT_EQ(run(curl + "-X PUT -H 'Content-Type: application/json' -d '{\"id\":1}' "
                         "-w ' %{http_code}' 'http://localhost/drives/rootfs?x=1'"),
              echo("PUT", "/drives/rootfs", "{\"id\":1}", "x=1") + " 200");
    EXPECT_EQ(run(curl + "-i http://localhost/empty"),
              "HTTP/1.1 204 No Content\r\nServer: ember\r\n\r\n");
    EXPECT_EQ(run(curl + "-w ' %{http_code}' http://localhost/fault"),
              R"({"fault_message":"drive_id: \"x\" is not allowed"} 400)");
    // Two URLs in one curl: one keep-alive connection.
    EXPECT_EQ(run(curl + "http://localhost/a http://localhost/b"),
              echo("GET", "/a", "") + echo("GET", "/b", ""));
    // curl's Expect: 100-continue is answered, and the body arrives.
    const std::string body(1000, 'j');
    EXPECT_EQ(run(curl + "-H 'Expect: 100-continue' -X PATCH -d " + body +
                  " -w ' %{http_code}' http://localhost/vm"),
              echo("PATCH", "/vm", body) + " 200");
    const auto stats = server_->stats();
    EXPECT_EQ(stats.connections, 5U);
    EXPECT_EQ(stats.requests, 6U);
    EXPECT_EQ(stats.refused, 0U);
}

TEST_F(HttpServerTest, CurlOversizeBodyIs413) {
    if (!have_curl()) GTEST_SKIP() << "curl is not installed";
    ServerOptions options;
    options.max_payload = 100;
    start(options);
    const std::string curl = "curl -sS --max-time 10 --unix-socket " + path_.str() + " ";
    EXPECT_EQ(
        run(curl + "-X PUT -d " + std::string(101, 'x') + " -w ' %{http_code}' http://localhost/x"),
        R"({"fault_message":"request body of 101 bytes is larger than the limit of 100 )"
        R"j(bytes (--http-api-max-payload-size)"} 413)j");
    EXPECT_EQ(run(curl + "-X PUT -d " + std::string(100, 'x') +
                  " -w ' %{http_code}' "
                  "http://localhost/x"),
              echo("PUT", "/x", std::string(100, 'x')) + " 200");
    EXPECT_EQ(handler_.calls_, 1);
}

TEST_F(HttpServerTest, RepliesCarryLengthTypeAndConnectionFields) {
    start();
    RawClient c(path_.str());
    auto r = c.request(get("/v"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(r->head.starts_with("HTTP/1.1 200 OK\r\n"));
    EXPECT_TRUE(r->has_field("Content-Type: application/json"));
    EXPECT_TRUE(r->has_field("Content-Length: " + std::to_string(r->body.size())));
    EXPECT_FALSE(r->has_field("Connection: close"));
    // HTTP/1.0 with keep-alive is told so, and stays open.
    r = c.request("GET /ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->has_field("Connection: keep-alive"));
    // HEAD: the fields of a GET, no body.
    ASSERT_TRUE(c.send("HEAD /h HTTP/1.1\r\n\r\n"));
    r = c.read_reply(5000, true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "");
    const auto length = echo("HEAD", "/h", "").size();
    EXPECT_TRUE(r->head.find("Content-Length: " + std::to_string(length)) != std::string::npos);
    ASSERT_TRUE(c.send(get("/after-head")));
    // The HEAD reply has no body, so the next reply follows its head directly.
    r = c.read_reply();
    ASSERT_TRUE(r) << "no reply after HEAD";
    EXPECT_EQ(r->status, 200);
    // A plain HTTP/1.0 request: reply, then close.
    r = c.request("GET /old HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->has_field("Connection: close"));
    EXPECT_TRUE(c.at_eof());
}

TEST_F(HttpServerTest, HandlerExceptionIs500AndTheConnectionGoesOn) {
    start();
    RawClient c(path_.str());
    auto r = c.request(get("/throw"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(r->body, R"({"fault_message":"internal error while handling GET /throw: boom"})");
    r = c.request(get("/ok"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, MalformedRequestIs400ThenClose) {
    start();
    RawClient c(path_.str());
    auto r = c.request("GET /x HTTP/1.1\r\nBad Header\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_TRUE(r->has_field("Connection: close"));
    EXPECT_EQ(r->body, R"({"fault_message":"header line 'Bad Header' has no ':'"})");
    EXPECT_TRUE(c.at_eof());
    // Others are still served.
    RawClient d(path_.str());
    r = d.request(get("/next"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(handler_.calls_, 1);
    EXPECT_EQ(server_->stats().refused, 1U);
}

TEST_F(HttpServerTest, EveryParserStatusReachesTheClient) {
    ServerOptions options;
    options.max_request_line = 100;
    options.max_header_bytes = 100;
    start(options);
    const std::vector<std::pair<std::string, int>> cases = {
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"GET /" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n", 414},
        {"GET / HTTP/1.1\r\nX: " + std::string(200, 'a') + "\r\n\r\n", 431},
        {"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501},
        {"GET / HTTP/1.1\r\nExpect: nothing\r\n\r\n", 417},
        {"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400},
    };
    for (const auto& [bytes, status] : cases) {
        RawClient c(path_.str());
        const auto r = c.request(bytes);
        ASSERT_TRUE(r) << bytes;
        EXPECT_EQ(r->status, status) << bytes;
        EXPECT_TRUE(r->body.starts_with(R"({"fault_message":")")) << r->body;
        EXPECT_TRUE(c.at_eof()) << bytes;
    }
    EXPECT_EQ(handler_.calls_, 0);
}

TEST_F(HttpServerTest, OversizeBodyIs413AndTheConnectionKeepsServing) {
    start();
    RawClient c(path_.str());
    const std::string big(51201, 'x');
    auto r = c.request(put("/drives/a", big));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(r->body, R"({"fault_message":"request body of 51201 bytes is larger than the limit )"
                       R"j(of 51200 bytes (--http-api-max-payload-size)"})j");
    EXPECT_FALSE(r->has_field("Connection: close"));
    r = c.request(put("/drives/a", std::string(51200, 'y')));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, echo("PUT", "/drives/a", std::string(51200, 'y')));
    EXPECT_EQ(handler_.calls_, 1);
}

TEST_F(HttpServerTest, ExpectContinueOnARawSocket) {
    start();
    RawClient c(path_.str());
    ASSERT_TRUE(c.send("PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 100);
    EXPECT_EQ(r->head, "HTTP/1.1 100 Continue\r\n");
    r = c.request("abcd");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, echo("PUT", "/x", "abcd"));
}

TEST_F(HttpServerTest, TruncatedRequestAndDisconnectIsDropped) {
    start();
    {
        RawClient c(path_.str());
        ASSERT_TRUE(c.send("PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"));
    }
    {
        RawClient c(path_.str());
        ASSERT_TRUE(c.send("GET /half"));
        c.shutdown_write();
        EXPECT_TRUE(c.at_eof()); // nothing answered, connection closed
    }
    RawClient d(path_.str());
    const auto r = d.request(get("/next"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, echo("GET", "/next", ""));
    EXPECT_EQ(handler_.calls_, 1);
}

TEST_F(HttpServerTest, HalfClosedClientStillGetsItsReplies) {
    start();
    RawClient c(path_.str());
    ASSERT_TRUE(c.send(get("/one") + get("/two")));
    c.shutdown_write();
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, echo("GET", "/one", ""));
    r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, echo("GET", "/two", ""));
    EXPECT_TRUE(c.at_eof());
}

TEST_F(HttpServerTest, AClientThatLeavesBeforeItsReplyCostsNothing) {
    start();
    {
        // The reply is written to a closed socket: EPIPE, never SIGPIPE (MSG_NOSIGNAL, and the
        // server thread blocks signals), and the server goes on.
        RawClient c(path_.str());
        ASSERT_TRUE(c.send(get("/big")));
    }
    RawClient d(path_.str());
    const auto r = d.request(get("/next"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, echo("GET", "/next", ""));
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
    start();
    RawClient c(path_.str());
    ASSERT_TRUE(c.send(get("/1") + put("/2", "two") + "DELETE /3 HTTP/1.1\r\n\r\n"));
    for (const auto& expected :
         {echo("GET", "/1", ""), echo("PUT", "/2", "two"), echo("DELETE", "/3", "")}) {
        const auto r = c.read_reply();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, expected);
    }
}

TEST_F(HttpServerTest, LargeRepliesSurvivePartialWrites) {
    start();
    RawClient c(path_.str());
    // The 2 MiB reply is far beyond the socket buffer: the server must wait for EPOLLOUT, and
    // the pipelined request behind it must still be answered.
    ASSERT_TRUE(c.send(get("/big") + get("/after")));
    std::this_thread::sleep_for(std::chrono::milliseconds(50)); // let the buffer fill
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, std::string(2 * 1024 * 1024, 'b'));
    r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, echo("GET", "/after", ""));
}

TEST_F(HttpServerTest, AThousandSequentialRequestsOnOneConnection) {
    start();
    RawClient c(path_.str());
    for (int i = 0; i < 1000; ++i) {
        const std::string body = std::to_string(i);
        const auto r = c.request(put("/seq", body));
        ASSERT_TRUE(r) << "request " << i;
        ASSERT_EQ(r->body, echo("PUT", "/seq", body));
    }
    const auto stats = server_->stats();
    EXPECT_EQ(stats.connections, 1U);
    EXPECT_EQ(stats.requests, 1000U);
    EXPECT_GE(stats.latency_us_total, stats.latency_us_max);
}

TEST_F(HttpServerTest, FiftyClientsAtOnceAreServedOneRequestAtATime) {
    start();
    std::atomic<int> ok{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 50; ++i) {
        clients.emplace_back([&, i] {
            RawClient c(path_.str());
            if (!c.connected()) return;
            for (int k = 0; k < 3; ++k) {
                const auto r = c.request(put("/slow", std::to_string(i)));
                if (!r || r->status != 200) return;
            }
            ++ok;
        });
    }
    for (auto& t : clients)
        t.join();
    EXPECT_EQ(ok, 50);
    EXPECT_EQ(handler_.calls_, 150);
    EXPECT_EQ(handler_.max_in_flight_, 1);
    EXPECT_EQ(server_->stats().connections, 50U);
}

TEST_F(HttpServerTest, ClientsBeyondTheLimitWaitForAFreeSlot) {
    ServerOptions options;
    options.max_connections = 2;
    start(options);
    RawClient a(path_.str());
    RawClient b(path_.str());
    ASSERT_TRUE(a.request(get("/a")));
    ASSERT_TRUE(b.request(get("/b")));
    RawClient waiting(path_.str()); // sits in the backlog
    ASSERT_TRUE(waiting.connected());
    ASSERT_TRUE(waiting.send(get("/w")));
    EXPECT_FALSE(waiting.read_reply(200)) << "served beyond max_connections";
    a.close();
    const auto r = waiting.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, echo("GET", "/w", ""));
}

// The highest open fd of this process.
int highest_fd() {
    int highest = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        highest = std::max(highest, std::stoi(entry.path().filename().string()));
    return highest;
}

// gcc says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define EMBER_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMBER_TEST_UNDER_ASAN 1
#endif
#endif

TEST_F(HttpServerTest, OutOfFdsAClientIsShedNotSpunOn) {
#if defined(EMBER_TEST_UNDER_ASAN)
    // The sanitizer runtime probes memory with a pipe (IsAccessibleMemoryRange); with every fd
    // taken that probe fails and UBSan's vptr check reports objects as invalid.
    GTEST_SKIP() << "exhausting fds breaks the sanitizer runtime's own checks";
#endif
    start();
    const int client = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(client, 0);
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
    rlimit low = old;
    low.rlim_cur = static_cast<rlim_t>(highest_fd() + 8);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<int> filler; // takes every fd left, so the server's accept fails with EMFILE
    for (int fd; (fd = ::dup(0)) >= 0;)
        filler.push_back(fd);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::ranges::copy(path_.str(), std::begin(addr.sun_path));
    // Safety: sockaddr_un is an address type connect() takes as a sockaddr.
    const int rc = ::connect(client, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
    pollfd p{client, POLLIN, 0};
    const bool ready = rc == 0 && ::poll(&p, 1, 5000) == 1;
    std::array<char, 1> byte{};
    const bool eof = ready && ::read(client, byte.data(), 1) == 0;
    for (const int fd : filler)
        ::close(fd);
    ::close(client);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
    EXPECT_EQ(rc, 0);
    EXPECT_TRUE(eof) << "the client was not accepted and closed";
    RawClient c(path_.str());
    const auto r = c.request(get("/after"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, RefusesAPathWhereAServerAnswers) {
    start();
    auto second = HttpServer::create(path_.str(), {}, [](const Request&) { return Response{}; });
    ASSERT_FALSE(second.has_value());
    EXPECT_EQ(second.error().message(), "another process serves " + path_.str() +
                                            "; stop it or choose another API socket path");
    // The first one is untouched.
    RawClient c(path_.str());
    ASSERT_TRUE(c.request(get("/still")));
}

TEST_F(HttpServerTest, RemovesAStaleSocket) {
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path_.str().data(), path_.str().size());
        // Safety: sockaddr_un is an address type bind() takes as a sockaddr.
        ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
        ::close(fd); // the file stays, nobody listens: stale
    }
    ASSERT_TRUE(path_.exists());
    start();
    RawClient c(path_.str());
    const auto r = c.request(get("/fresh"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, NeverRemovesANonSocket) {
    {
        std::ofstream f(path_.str());
        f << "precious";
    }
    auto s = HttpServer::create(path_.str(), {}, [](const Request&) { return Response{}; });
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().message(), "API socket path '" + path_.str() +
                                       "' exists and is not a socket; remove it or choose "
                                       "another path");
    std::ifstream f(path_.str());
    std::string content;
    f >> content;
    EXPECT_EQ(content, "precious");
}

TEST_F(HttpServerTest, RefusesAPathTooLongForASocket) {
    const std::string long_path = "/tmp/" + std::string(120, 'p');
    auto s = HttpServer::create(long_path, {}, [](const Request&) { return Response{}; });
    ASSERT_FALSE(s.has_value());
    EXPECT_EQ(s.error().message(), "API socket path '" + long_path +
                                       "' is 125 bytes long; Unix sockets allow at most 107");
}

TEST_F(HttpServerTest, SocketIsOwnerOnly) {
    const mode_t old = ::umask(0);
    start();
    ::umask(old);
    struct stat st {};
    ASSERT_EQ(::lstat(path_.str().c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600U);
}

TEST_F(HttpServerTest, StopClosesClientsAndUnlinksTheSocket) {
    start();
    RawClient c(path_.str());
    ASSERT_TRUE(c.request(get("/x")));
    ASSERT_TRUE(path_.exists());
    server_->stop();
    EXPECT_FALSE(path_.exists());
    EXPECT_TRUE(c.at_eof());
    EXPECT_LT(testing::connect_unix(path_.str()), 0);
    server_->stop(); // idempotent
    server_.reset();
}

TEST_F(HttpServerTest, DestructorStopsAndLeavesAReplacedPathAlone) {
    start();
    ASSERT_EQ(::unlink(path_.str().c_str()), 0);
    {
        std::ofstream f(path_.str());
        f << "someone else's";
    }
    server_.reset();
    EXPECT_TRUE(path_.exists()) << "removed a file it did not create";
}

TEST_F(HttpServerTest, StopWhileAClientIsMidRequest) {
    start();
    RawClient c(path_.str());
    ASSERT_TRUE(c.send("PUT /x HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial"));
    server_->stop();
    EXPECT_FALSE(path_.exists());
    EXPECT_EQ(handler_.calls_, 0);
}

} // namespace
} // namespace ember::api::http
