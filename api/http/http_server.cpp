#include "api/http/http_server.hpp"

#include "api/http/http_connection.hpp"
#include "api/http/unix_listener.hpp"
#include "vmm/core/event_loop.hpp"
#include "vmm/sys/event_fd.hpp"
#include "vmm/sys/logger.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <exception>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

namespace ember::api::http {
namespace {

// One read(2) per readable event: enough for a whole request at the default limits, and a
// client that streams without pause still yields to the others between reads.
constexpr size_t kReadChunk = size_t{64} * 1024;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP;

uint64_t micros_since(std::chrono::steady_clock::time_point start) {
    const auto d = std::chrono::steady_clock::now() - start;
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

} // namespace

class HttpServer::Impl {
public:
    Impl(UnixListener listener, EventLoop loop, EventFd stop_fd, const ServerOptions& options,
         Handler handler)
        : options_(options), limits_{options.max_request_line, options.max_header_count,
                                     options.max_header_bytes, options.max_payload},
          handler_(std::move(handler)), listener_(std::move(listener)), loop_(std::move(loop)),
          stop_fd_(std::move(stop_fd)), scratch_(kReadChunk) {}
    ~Impl() { stop(); }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    Impl(Impl&&) = delete;
    Impl& operator=(Impl&&) = delete;

    Result<void> start();
    void stop();
    [[nodiscard]] ServerStats stats() const;
    [[nodiscard]] const std::string& path() const { return listener_.path(); }

private:
    void run(std::promise<Result<void>>& started);
    void on_accept();
    void on_connection(int fd, uint32_t events);
    // Answers what the connection has buffered; false when it is to be closed.
    bool serve(Connection& c);
    Connection::Io respond(Connection& c, const Request& request);
    void refuse(Connection& c, const HttpError& error);
    void drop(int fd);
    void set_accepting(bool on);
    bool shed_one_client();

    ServerOptions options_;
    ParserLimits limits_;
    Handler handler_;
    UnixListener listener_;
    EventLoop loop_;
    EventFd stop_fd_;
    // Touched by the server thread only (by stop() once that thread is joined).
    std::unordered_map<int, std::unique_ptr<Connection>> connections_;
    std::vector<char> scratch_;
    bool accepting_ = true;
    // Held so that, out of fds, a client can still be accepted and closed (shed_one_client).
    UniqueFd spare_fd_;

    std::mutex stop_mutex_;
    std::thread thread_;

    // Written by the server thread, read by stats() from any thread.
    std::atomic<uint64_t> connections_accepted_{0};
    std::atomic<uint64_t> requests_{0};
    std::atomic<uint64_t> refused_{0};
    std::atomic<uint64_t> latency_total_{0};
    std::atomic<uint64_t> latency_max_{0};
};

Result<void> HttpServer::Impl::start() {
    spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!spare_fd_) return sys_error(Errc::kOsError, "cannot open /dev/null");
    EMBER_TRY_VOID(loop_.add(listener_.fd(), EPOLLIN, [this](uint32_t) { on_accept(); }));
    EMBER_TRY_VOID(loop_.add(stop_fd_.fd(), EPOLLIN, [this](uint32_t) { loop_.stop(); }));
    // The server thread takes no signals: termination signals belong to the VMM thread's
    // signalfd and the vCPU kick to the vCPUs. A thread inherits its creator's mask, so block
    // everything around the creation (no window in which a signal could land on the new thread).
    sigset_t all;
    sigset_t old;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    std::promise<Result<void>> started;
    auto ready = started.get_future();
    try {
        thread_ = std::thread([this, &started] { run(started); });
    } catch (const std::system_error& e) {
        ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
        return make_error(Errc::kOsError, "cannot start the API server thread: {}", e.what());
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    Result<void> hooked = ready.get();
    if (!hooked) thread_.join();
    return hooked;
}

void HttpServer::Impl::run(std::promise<Result<void>>& started) {
    ::pthread_setname_np(::pthread_self(), "ember-api");
    if (options_.thread_start_hook) {
        if (auto r = options_.thread_start_hook(); !r) {
            started.set_value(std::move(r));
            return;
        }
    }
    started.set_value({});
    if (auto r = loop_.run(); !r)
        log::error("api: the server loop failed, the API no longer answers: {}",
                   r.error().describe());
}

void HttpServer::Impl::stop() {
    const std::lock_guard lock(stop_mutex_);
    if (thread_.joinable()) {
        stop_fd_.signal();
        // From the handler (the server thread): the loop ends after this request; the owner's
        // stop() or destructor joins.
        if (thread_.get_id() == std::this_thread::get_id()) return;
        thread_.join();
    }
    connections_.clear();
    listener_.close_and_unlink();
}

ServerStats HttpServer::Impl::stats() const {
    return ServerStats{connections_accepted_.load(std::memory_order_relaxed),
                       requests_.load(std::memory_order_relaxed),
                       refused_.load(std::memory_order_relaxed),
                       latency_total_.load(std::memory_order_relaxed),
                       latency_max_.load(std::memory_order_relaxed)};
}

void HttpServer::Impl::on_accept() {
    while (connections_.size() < options_.max_connections) {
        const int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN) return;
            if ((errno == EMFILE || errno == ENFILE) && shed_one_client()) continue;
            // Out of memory (or fds, with no spare): retrying now would spin; accept again once
            // a client leaves. With no client to wait for, keep trying rather than go deaf.
            log::error("api: cannot accept a client ({})",
                       std::error_code(errno, std::system_category()).message());
            if (!connections_.empty()) set_accepting(false);
            return;
        }
        auto conn = std::make_unique<Connection>(UniqueFd(fd), limits_);
        conn->set_events(kReadEvents);
        if (auto r =
                loop_.add(fd, conn->events(), [this, fd](uint32_t ev) { on_connection(fd, ev); });
            !r) {
            log::warn("api: dropping a client: {}", r.error().describe());
            continue;
        }
        connections_.emplace(fd, std::move(conn));
        connections_accepted_.fetch_add(1, std::memory_order_relaxed);
    }
    // At the limit: the rest wait in the backlog until a client leaves (drop()).
    set_accepting(false);
}

bool HttpServer::Impl::shed_one_client() {
    // Out of fds, the waiting client would make the listening socket ready forever (a busy
    // loop). Give up the spare fd, accept the client and close it at once (it sees EOF), then
    // take the spare back.
    if (!spare_fd_) return false;
    spare_fd_.reset();
    const int shed = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (shed >= 0) ::close(shed);
    spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    // No client was waiting (accept() reports EMFILE before it looks): nothing to shed, and
    // retrying at once would spin.
    if (shed < 0) return false;
    log::warn("api: out of file descriptors: refused a client ({} connected)", connections_.size());
    return true;
}

void HttpServer::Impl::set_accepting(bool on) {
    if (accepting_ == on) return;
    if (auto r = loop_.modify(listener_.fd(), on ? uint32_t{EPOLLIN} : 0U); !r) {
        log::error("api: {}", r.error().describe());
        return;
    }
    accepting_ = on;
}

void HttpServer::Impl::drop(int fd) {
    loop_.remove(fd);
    connections_.erase(fd);
    set_accepting(true);
}

void HttpServer::Impl::on_connection(int fd, uint32_t events) {
    const auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    Connection& c = *it->second;
    if ((events & EPOLLERR) != 0) return drop(fd);
    // Reading is registered only while no reply waits to be written (a client that does not
    // read its replies cannot make us queue more), and never after EOF.
    if (c.events() == kReadEvents && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0) {
        switch (c.read_once(scratch_)) {
        case Connection::Io::kError:
            return drop(fd);
        case Connection::Io::kPeerClosed:
            c.set_peer_closed();
            break;
        case Connection::Io::kOk:
        case Connection::Io::kWouldBlock:
            break;
        }
    }
    if (!serve(c)) return drop(fd);
    const uint32_t wanted = c.has_output() ? uint32_t{EPOLLOUT} : kReadEvents;
    if (wanted == c.events()) return;
    if (auto r = loop_.modify(fd, wanted); !r) {
        log::warn("api: dropping a client: {}", r.error().describe());
        return drop(fd);
    }
    c.set_events(wanted);
}

bool HttpServer::Impl::serve(Connection& c) {
    for (;;) {
        if (c.has_output()) {
            const auto io = c.flush();
            if (io == Connection::Io::kError) return false;
            if (io == Connection::Io::kWouldBlock) return true; // the rest on EPOLLOUT
        }
        if (c.close_after_flush()) return false;
        ParseOutcome outcome = c.parser().next();
        if (std::holds_alternative<NeedMore>(outcome)) {
            // After EOF nothing more comes: a partial request is dropped with the connection.
            return !c.peer_closed();
        }
        if (std::holds_alternative<SendContinue>(outcome)) {
            c.queue(kContinue);
        } else if (const auto* error = std::get_if<HttpError>(&outcome)) {
            refuse(c, *error);
        } else if (respond(c, std::get<Request>(outcome)) == Connection::Io::kError) {
            return false;
        }
    }
}

Connection::Io HttpServer::Impl::respond(Connection& c, const Request& request) {
    const auto start = std::chrono::steady_clock::now();
    Response response;
    // The handlers turn their own failures into 4xx replies; anything that escapes them (a
    // library exception) is a bug, answered 500 so the client and the server both go on.
    try {
        response = handler_(request);
    } catch (const std::exception& e) {
        log::error("api: {} {} failed: {}", method_name(request.method), request.path, e.what());
        response =
            Response::fault(Status::kInternalServerError,
                            fmt::format("internal error while handling {} {}: {}",
                                        method_name(request.method), request.path, e.what()));
    }
    SerializeOptions options;
    options.close = !request.keep_alive;
    options.keep_alive_header = request.keep_alive && request.version == Version::kHttp10;
    options.omit_body = request.method == Method::kHead;
    serialize(response, options, c.out());
    c.set_close_after_flush(options.close);

    // Counted before the reply leaves, so a client that has its reply sees it counted.
    const uint64_t us = micros_since(start);
    requests_.fetch_add(1, std::memory_order_relaxed);
    latency_total_.fetch_add(us, std::memory_order_relaxed);
    if (us > latency_max_.load(std::memory_order_relaxed))
        latency_max_.store(us, std::memory_order_relaxed); // one writer: this thread
    return c.flush();
}

void HttpServer::Impl::refuse(Connection& c, const HttpError& error) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    log::debug("api: {} {}: {}", code(error.status), reason_phrase(error.status), error.message);
    SerializeOptions options;
    options.close = error.close;
    serialize(Response::fault(error.status, error.message), options, c.out());
    c.set_close_after_flush(error.close);
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
    stop();
}

void HttpServer::stop() {
    if (impl_) impl_->stop();
}

ServerStats HttpServer::stats() const {
    return impl_->stats();
}

const std::string& HttpServer::path() const {
    return impl_->path();
}

Result<std::unique_ptr<HttpServer>>
HttpServer::create(const std::string& path, const ServerOptions& options, Handler handler) {
    if (!handler) return make_error(Errc::kInternal, "API server: no request handler");
    auto listener = UnixListener::bind(path, options.backlog);
    if (!listener) return tl::unexpected(std::move(listener.error()));
    auto loop = EventLoop::create();
    auto stop_fd = EventFd::create();
    if (!loop || !stop_fd) {
        listener->close_and_unlink();
        return tl::unexpected(!loop ? std::move(loop.error()) : std::move(stop_fd.error()));
    }
    auto impl = std::make_unique<Impl>(std::move(*listener), std::move(*loop), std::move(*stop_fd),
                                       options, std::move(handler));
    // On failure, ~Impl closes and unlinks the socket.
    EMBER_TRY_VOID(impl->start());
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

} // namespace ember::api::http
