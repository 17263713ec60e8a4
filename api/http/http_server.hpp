// HttpServer: Firecracker-compatible HTTP/1.1 on a Unix socket, on a thread of its own.
//
// The server thread runs its own epoll loop: it accepts clients (kept open: keep-alive),
// parses their requests and calls the handler for one request at a time, on that thread. The
// handler may block — the API handlers hand a typed action to the VMM thread and wait for its
// reply — and nothing else is served meanwhile, which is the contract Firecracker's API has
// too. Requests the parser refuses are answered here with the status and a fault_message; the
// connection is kept unless the request could not be framed.
//
// Thread-safety: create(), stop(), stats() and the destructor may be called from any thread but
// the server's own (stop() from the handler only signals; the owner still joins).
#pragma once

#include "api/http/http_parser.hpp"
#include "api/http/http_request.hpp"
#include "api/http/http_response.hpp"
#include "vmm/sys/result.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ember::api::http {

struct ServerOptions {
    // The parser's limits (ParserLimits says what exceeding each one answers).
    size_t max_payload = 51200; // --http-api-max-payload-size: the largest request body
    size_t max_request_line = size_t{8} * 1024;
    size_t max_header_count = 100;
    size_t max_header_bytes = size_t{16} * 1024;
    // Clients beyond this wait in the listen backlog until one leaves (each costs an fd and a
    // buffer; the socket is 0600, so only the owner can open them).
    size_t max_connections = 128;
    int backlog = 128;
    // Runs first on the server thread, before it serves anything (the API thread's seccomp
    // filter goes on there). An error makes create() fail with it.
    std::function<Result<void>()> thread_start_hook;
};

// Counters for the metrics (API request counts and latencies). stats() returns a snapshot.
struct ServerStats {
    uint64_t connections = 0; // accepted in total
    uint64_t requests = 0;    // handed to the handler
    uint64_t refused = 0;     // answered by the server itself (4xx/5xx from the parser)
    // Over `requests`: from the complete request to its serialized reply (the handler's time,
    // which includes the VMM thread's; the write to the socket is not included).
    uint64_t latency_us_total = 0;
    uint64_t latency_us_max = 0;
};

class HttpServer final {
public:
    using Handler = std::function<Response(const Request&)>;

    // Binds `path` (see unix_listener.hpp for the rules), and starts the server thread. The
    // socket accepts connections when this returns.
    static Result<std::unique_ptr<HttpServer>>
    create(const std::string& path, const ServerOptions& options, Handler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;
    HttpServer(HttpServer&&) = delete;
    HttpServer& operator=(HttpServer&&) = delete;

    // Closes every connection and the socket, joins the thread and removes the socket file.
    // A request being handled finishes first: the handler must return. Idempotent.
    void stop();

    [[nodiscard]] ServerStats stats() const;
    [[nodiscard]] const std::string& path() const;

private:
    class Impl;
    explicit HttpServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace ember::api::http
