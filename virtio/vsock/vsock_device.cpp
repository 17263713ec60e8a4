#include "virtio/vsock/vsock_device.hpp"

#include "vmm/sys/logger.hpp"

#include <linux/virtio_ids.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

namespace ember::virtio::vsock {
namespace {

// How often the deadline timer ticks while anything has a deadline.
constexpr uint64_t kTimerPeriodNs = 250'000'000;

Result<UniqueFd> listen_at(const std::string& path, dev_t& dev, ino_t& ino) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path))
        return make_error(Errc::kInvalidArgument,
                          "uds_path '{}': a Unix socket path needs 1 to {} bytes", path,
                          sizeof(addr.sun_path) - 1);
    std::memcpy(&addr.sun_path[0], path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return sys_error(Errc::kOsError, "socket(AF_UNIX)");
    // Safety: sockaddr_un is a sockaddr by the socket API's contract.
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        if (errno == EADDRINUSE)
            return sys_error(Errc::kInvalidArgument,
                             "uds_path '{}' already exists (a socket left by an earlier run?); "
                             "remove it or choose another path",
                             path);
        if (errno == ENOENT)
            return sys_error(Errc::kNotFound,
                             "uds_path '{}': its directory does not exist; create it first", path);
        return sys_error(Errc::kOsError, "uds_path '{}': bind", path);
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return sys_error(Errc::kOsError, "stat '{}'", path);
    dev = st.st_dev;
    ino = st.st_ino;
    if (::listen(fd.get(), 128) != 0) {
        ::unlink(path.c_str());
        return sys_error(Errc::kOsError, "uds_path '{}': listen", path);
    }
    return fd;
}

// Copies `bytes` into the writable `segments`, from byte `offset` of the chain on.
Result<void> write_segments(const GuestMemory& memory, std::span<const Segment> segments,
                            uint64_t offset, std::span<const std::byte> bytes) {
    for (const Segment& s : segments) {
        if (bytes.empty()) break;
        if (offset >= s.len) {
            offset -= s.len;
            continue;
        }
        const size_t n = std::min<size_t>(bytes.size(), s.len - offset);
        EMBER_TRY_VOID(memory.write(s.addr + offset, bytes.first(n)));
        bytes = bytes.subspan(n);
        offset = 0;
    }
    return {};
}

} // namespace

Result<std::unique_ptr<VsockDevice>> VsockDevice::create(const VsockOptions& options,
                                                         const Clock& clock) {
    if (options.queue_size < 2 || !std::has_single_bit(options.queue_size) ||
        options.queue_size > Queue::kMaxSize)
        return make_error(Errc::kInvalidArgument,
                          "{}: queue size {} must be a power of two in 2..32768", options.name,
                          options.queue_size);
    if (options.guest_cid < kMinGuestCid || options.guest_cid > kMaxGuestCid)
        return make_error(Errc::kInvalidArgument,
                          "{}: guest_cid {} is reserved; use {}..{} (3 is the usual choice)",
                          options.name, options.guest_cid, kMinGuestCid, kMaxGuestCid);
    if (options.max_connections == 0 || options.limits.buf_alloc == 0 ||
        options.max_queued_replies == 0)
        return make_error(Errc::kInvalidArgument, "{}: zero connection limits", options.name);
    dev_t dev = 0;
    ino_t ino = 0;
    auto listener = listen_at(options.uds_path, dev, ino);
    if (!listener) return tl::unexpected(std::move(listener.error()).with_context(options.name));
    UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer.valid()) {
        ::unlink(options.uds_path.c_str());
        return sys_error(Errc::kOsError, "{}: timerfd_create", options.name);
    }
    return std::unique_ptr<VsockDevice>(
        new VsockDevice(options, std::move(*listener), std::move(timer), dev, ino, clock));
}

VsockDevice::VsockDevice(const VsockOptions& options, UniqueFd listener, UniqueFd timer, dev_t dev,
                         ino_t ino, const Clock& clock)
    : options_(options), clock_(clock), listener_(std::move(listener)), timer_(std::move(timer)),
      socket_dev_(dev), socket_ino_(ino), rx_scratch_(kMaxPayload), tx_scratch_(kMaxPayload) {
    queue_max_sizes_.fill(options.queue_size);
}

VsockDevice::~VsockDevice() {
    // Only our own socket: another process may have replaced the path since.
    struct stat st {};
    if (::stat(options_.uds_path.c_str(), &st) == 0 && st.st_dev == socket_dev_ &&
        st.st_ino == socket_ino_)
        ::unlink(options_.uds_path.c_str());
}

uint32_t VsockDevice::device_type() const {
    return VIRTIO_ID_VSOCK;
}

uint64_t VsockDevice::available_features() const {
    // No VIRTIO_VSOCK_F_SEQPACKET: streams only, as Firecracker.
    return feature_bit(VIRTIO_RING_F_EVENT_IDX) | feature_bit(VIRTIO_RING_F_INDIRECT_DESC);
}

void VsockDevice::read_config(uint32_t offset, std::span<std::byte> out) const {
    // struct virtio_vsock_config { le64 guest_cid; }: read-only, any width or offset within it.
    for (size_t i = 0; i < out.size(); ++i) {
        const uint64_t at = uint64_t{offset} + i;
        if (at >= sizeof(uint64_t)) break;
        out[i] = static_cast<std::byte>((options_.guest_cid >> (8 * at)) & 0xff);
    }
}

void VsockDevice::write_config(uint32_t offset, std::span<const std::byte> in) {
    log::debug("{}: ignored a {}-byte config write at {:#x} (guest_cid is read-only)",
               options_.name, in.size(), offset);
}

VsockMetrics VsockDevice::metrics() const {
    const std::lock_guard lock(mu_);
    VsockMetrics m = metrics_;
    m.connections = streams_.size();
    return m;
}

Result<void> VsockDevice::activate(ActivationContext ctx) {
    const std::lock_guard lock(mu_);
    if (ctx.queues.size() != 3)
        return make_error(Errc::kInternal, "{}: {} queues, expected 3", options_.name,
                          ctx.queues.size());
    static constexpr std::array<const char*, 3> kNames = {"receive", "transmit", "event"};
    for (size_t i = 0; i < 3; ++i)
        if (!ctx.queues[i].ready)
            return make_error(Errc::kInvalidInput, "{}: the driver did not set up the {} queue",
                              options_.name, kNames.at(i));
    auto rx = Queue::create(ctx.queues[kRxQueue], ctx.memory, ctx.features);
    if (!rx) return tl::unexpected(std::move(rx.error()).with_context(options_.name));
    auto tx = Queue::create(ctx.queues[kTxQueue], ctx.memory, ctx.features);
    if (!tx) return tl::unexpected(std::move(tx.error()).with_context(options_.name));
    auto ev = Queue::create(ctx.queues[kEventQueue], ctx.memory, ctx.features);
    if (!ev) return tl::unexpected(std::move(ev.error()).with_context(options_.name));
    rx_queue_.emplace(std::move(*rx));
    tx_queue_.emplace(std::move(*tx));
    event_queue_.emplace(std::move(*ev));
    memory_ = &ctx.memory;
    interrupt_ = &ctx.interrupt;
    active_ = true;
    broken_ = false;
    rx_chain_held_ = false;
    tx_stalled_ = false;
    // The driver posts its receive buffers before DRIVER_OK: get to the VMM thread and look.
    if (rx_event_ != nullptr) rx_event_->signal();
    if (tx_event_ != nullptr) tx_event_->signal();
    return {};
}

bool VsockDevice::reset() {
    const std::lock_guard lock(mu_);
    rx_queue_.reset();
    tx_queue_.reset();
    event_queue_.reset();
    active_ = false;
    broken_ = false;
    rx_chain_held_ = false;
    tx_stalled_ = false;
    rx_used_ = false;
    tx_used_ = false;
    interrupt_ = nullptr;
    memory_ = nullptr;
    replies_.clear();
    rx_ready_.clear();
    host_ports_.clear();
    // The streams' fds are in the VMM thread's event loop: it closes them (collect_dropped).
    metrics_.dropped_at_reset += streams_.size();
    for (auto& [k, stream] : streams_)
        dropped_.push_back(std::move(stream));
    streams_.clear();
    if (!dropped_.empty() && rx_event_ != nullptr) rx_event_->signal();
    return true;
}

Result<void> VsockDevice::attach(EventLoop& loop, std::span<const EventFd> queue_events) {
    if (queue_events.size() != 3)
        return make_error(Errc::kInternal, "{}: {} queue events, expected 3", options_.name,
                          queue_events.size());
    loop_ = &loop;
    rx_event_ = &queue_events[kRxQueue];
    tx_event_ = &queue_events[kTxQueue];
    event_event_ = &queue_events[kEventQueue];
    EMBER_TRY_VOID(loop.add(rx_event_->fd(), EPOLLIN, [this](uint32_t) { on_rx_notify(); }));
    EMBER_TRY_VOID(loop.add(tx_event_->fd(), EPOLLIN, [this](uint32_t) { on_tx_notify(); }));
    EMBER_TRY_VOID(loop.add(event_event_->fd(), EPOLLIN, [this](uint32_t) { on_event_notify(); }));
    EMBER_TRY_VOID(
        loop.add(listener_.get(), EPOLLIN, [this](uint32_t) { on_listener_readable(); }));
    return loop.add(timer_.get(), EPOLLIN, [this](uint32_t) { on_timer(); });
}

void VsockDevice::detach() {
    if (loop_ == nullptr) return;
    const std::lock_guard lock(mu_);
    loop_->remove(rx_event_->fd());
    loop_->remove(tx_event_->fd());
    loop_->remove(event_event_->fd());
    loop_->remove(listener_.get());
    loop_->remove(timer_.get());
    for (auto& [k, stream] : streams_)
        if (stream.watched != 0) loop_->remove(stream.watched_fd);
    for (auto& [fd, pending] : pending_)
        loop_->remove(fd);
    collect_dropped();
    loop_ = nullptr;
}

void VsockDevice::collect_dropped() {
    for (Stream& s : dropped_)
        if (s.watched != 0 && loop_ != nullptr) loop_->remove(s.watched_fd);
    dropped_.clear(); // closes the host sockets
}

void VsockDevice::on_rx_notify() {
    const uint64_t kicks = rx_event_ != nullptr ? rx_event_->consume() : 1;
    const std::lock_guard lock(mu_);
    collect_dropped();
    if (kicks != 0) ++metrics_.notifications;
    process_rx();
    if (tx_stalled_) process_tx();
}

void VsockDevice::on_tx_notify() {
    const uint64_t kicks = tx_event_ != nullptr ? tx_event_->consume() : 1;
    const std::lock_guard lock(mu_);
    collect_dropped();
    if (kicks != 0) ++metrics_.notifications;
    process_tx();
}

void VsockDevice::on_event_notify() {
    // The driver posted event buffers; they stay posted until an event (TRANSPORT_RESET) needs
    // one.
    if (event_event_ != nullptr) event_event_->consume();
    const std::lock_guard lock(mu_);
    ++metrics_.notifications;
}

// ---- receive (device to guest) ----

void VsockDevice::process_rx() {
    if (!active_ || broken_) return;
    uint64_t served = 0;
    for (;;) {
        rx_queue_->disable_notifications();
        const Stop stop = serve_rx(served);
        if (rx_used_ && rx_queue_ && rx_queue_->needs_interrupt()) {
            ++metrics_.interrupts;
            interrupt_->signal_used_queue();
        }
        rx_used_ = false;
        if (stop == Stop::kYield) {
            rx_event_->signal(); // fairness: the rest of the loop runs first
            return;
        }
        if (stop != Stop::kStalled) return; // nothing to send, or broken
        // Packets wait and the driver has no buffer: ask for a kick, unless one just came.
        if (!rx_queue_->enable_notifications()) return;
    }
}

VsockDevice::Stop VsockDevice::serve_rx(uint64_t& served) {
    for (;; ++served) {
        if (rx_ready_.empty() && replies_.empty()) return Stop::kEmpty;
        if (served >= kMaxPacketsPerPass && rx_event_ != nullptr) return Stop::kYield;
        if (!rx_chain_held_) {
            auto popped = rx_queue_->pop_into(rx_chain_);
            if (!popped) {
                mark_broken(popped.error().message);
                return Stop::kBroken;
            }
            if (!*popped) return Stop::kStalled;
            rx_chain_held_ = true;
        }
        if (!rx_chain_.readable().empty() || rx_chain_.writable_bytes() <= kHeaderSize) {
            ++metrics_.rx_bad_buffers;
            log_guest_fault(fmt::format("receive chain {} has {} device-readable and {} writable "
                                        "bytes; it needs only writable ones, more than {}: "
                                        "returned unused",
                                        rx_chain_.head(), rx_chain_.readable_bytes(),
                                        rx_chain_.writable_bytes(), kHeaderSize));
            rx_chain_held_ = false;
            complete(*rx_queue_, rx_chain_.head(), 0, rx_used_);
            if (broken_) return Stop::kBroken;
            continue;
        }
        const size_t room =
            std::min<uint64_t>(rx_chain_.writable_bytes() - kHeaderSize, rx_scratch_.size());
        auto header = next_packet(room);
        if (!header) return Stop::kEmpty; // the chain stays held for the next packet
        write_packet(*header, std::span(rx_scratch_).first(header->len));
        if (broken_) return Stop::kBroken;
    }
}

std::optional<VsockHeader> VsockDevice::next_packet(size_t room) {
    if (!replies_.empty()) {
        const VsockHeader h = replies_.front();
        replies_.pop_front();
        return h;
    }
    // Each stream queued now gets one turn (one that has more goes to the back).
    for (size_t turns = rx_ready_.size(); turns > 0 && !rx_ready_.empty(); --turns) {
        const uint64_t k = rx_ready_.front();
        rx_ready_.pop_front();
        auto it = streams_.find(k);
        if (it == streams_.end()) continue;
        Stream& s = it->second;
        s.rx_queued = false;
        auto header = s.conn.next_rx(std::span(rx_scratch_).first(room));
        update_stream(k); // requeues it behind the others if it has more
        if (header) return header;
    }
    return std::nullopt;
}

void VsockDevice::write_packet(const VsockHeader& header, std::span<const std::byte> payload) {
    const uint16_t head = rx_chain_.head();
    rx_chain_held_ = false;
    const auto writable = rx_chain_.writable();
    if (auto r = write_segments(*memory_, writable, 0, std::as_bytes(std::span(&header, 1))); !r) {
        mark_broken(r.error().message());
        return;
    }
    if (auto r = write_segments(*memory_, writable, kHeaderSize, payload); !r) {
        mark_broken(r.error().message());
        return;
    }
    ++metrics_.rx_packets;
    metrics_.rx_bytes += payload.size();
    if (header.op == static_cast<uint16_t>(Op::kRst)) ++metrics_.resets_to_guest;
    complete(*rx_queue_, head, static_cast<uint32_t>(kHeaderSize + payload.size()), rx_used_);
}

// ---- transmit (guest to device) ----

void VsockDevice::process_tx() {
    if (!active_ || broken_) return;
    tx_stalled_ = false;
    uint64_t served = 0;
    for (;;) {
        tx_queue_->disable_notifications();
        const Stop stop = serve_tx(served);
        if (tx_used_ && tx_queue_ && tx_queue_->needs_interrupt()) {
            ++metrics_.interrupts;
            interrupt_->signal_used_queue();
        }
        tx_used_ = false;
        // What the packets produced (RESPONSEs, RSTs, credit) goes out now.
        process_rx();
        if (stop == Stop::kYield) {
            tx_event_->signal();
            return;
        }
        if (stop == Stop::kStalled) {
            // Too many answers still wait for receive buffers: the receive kick resumes us.
            if (replies_.size() >= options_.max_queued_replies) {
                tx_stalled_ = true;
                return;
            }
            continue;
        }
        if (stop == Stop::kBroken || broken_) return;
        if (!tx_queue_->enable_notifications()) return;
    }
}

VsockDevice::Stop VsockDevice::serve_tx(uint64_t& served) {
    for (;; ++served) {
        if (replies_.size() >= options_.max_queued_replies) return Stop::kStalled;
        if (served >= kMaxPacketsPerPass && tx_event_ != nullptr) return Stop::kYield;
        auto popped = tx_queue_->pop_into(tx_chain_);
        if (!popped) {
            mark_broken(popped.error().message);
            return Stop::kBroken;
        }
        if (!*popped) return Stop::kEmpty;
        handle_tx_chain();
        if (broken_) return Stop::kBroken;
        complete(*tx_queue_, tx_chain_.head(), 0, tx_used_);
        if (broken_) return Stop::kBroken;
    }
}

void VsockDevice::handle_tx_chain() {
    auto packet = parse_tx_packet(*memory_, tx_chain_.readable(), options_.guest_cid);
    if (!packet) {
        ++metrics_.tx_bad_packets;
        log_guest_fault(
            fmt::format("chain {}: {}; dropped", tx_chain_.head(), packet.error().message));
        return;
    }
    const VsockHeader& h = packet->header;
    ++metrics_.tx_packets;
    metrics_.tx_bytes += h.len;
    const uint64_t k = key(h.dst_port, h.src_port);
    auto it = streams_.find(k);
    if (it == streams_.end()) {
        if (packet->op() == Op::kRequest) return open_guest_stream(h);
        return refuse(h);
    }
    std::span<const std::byte> payload;
    if (h.len != 0) {
        size_t copied = 0;
        for (const Segment& s : packet->payload) {
            auto r = memory_->read(s.addr, std::span(tx_scratch_).subspan(copied, s.len));
            if (!r) return mark_broken(r.error().message());
            copied += s.len;
        }
        payload = std::span(tx_scratch_).first(copied);
    }
    it->second.conn.on_tx(h, payload);
    update_stream(k);
}

void VsockDevice::open_guest_stream(const VsockHeader& request) {
    const uint32_t port = request.dst_port;
    if (streams_.size() >= options_.max_connections) {
        log_guest_fault(fmt::format("a connection to host port {} refused: {} streams open, the "
                                    "limit",
                                    port, streams_.size()));
        ++metrics_.connect_refused;
        return refuse(request);
    }
    auto fd = connect_host_port(options_.uds_path, port);
    if (!fd) {
        log::debug("{}: guest port {} -> host port {}: {}", options_.name, +request.src_port, port,
                   fd.error().describe());
        ++metrics_.connect_refused;
        return refuse(request);
    }
    const uint64_t k = key(port, request.src_port);
    streams_.emplace(
        k, Stream{.conn = Connection::guest_initiated(std::move(*fd), request, options_.limits)});
    ++metrics_.guest_connects;
    update_stream(k);
}

void VsockDevice::refuse(const VsockHeader& packet) {
    if (auto rst = rst_reply(packet)) replies_.push_back(*rst);
}

// ---- streams ----

void VsockDevice::update_stream(uint64_t k) {
    auto it = streams_.find(k);
    if (it == streams_.end()) return;
    Stream& s = it->second;
    const Connection& c = s.conn;
    if (c.state() == ConnState::kClosed) return remove_stream(k);
    if (c.has_rx() && !s.rx_queued) {
        rx_ready_.push_back(k);
        s.rx_queued = true;
    }
    // The fd: readable-interest only while the device does not know it is readable yet (and
    // the guest has credit), writable-interest while guest data is held back.
    uint32_t want = 0;
    if (c.wants_host_read() && !c.host_readable()) want |= EPOLLIN;
    if (c.wants_host_write()) want |= EPOLLOUT;
    if (c.fd() < 0) want = 0;
    if (s.watched != 0 && (want == 0 || s.watched_fd != c.fd())) {
        // Not watched at all rather than with no events: epoll reports a hang-up regardless.
        if (loop_ != nullptr) loop_->remove(s.watched_fd);
        s.watched = 0;
        s.watched_fd = -1;
    }
    if (want != 0 && loop_ != nullptr) {
        if (s.watched == 0) {
            auto r = loop_->add(c.fd(), want, [this, k](uint32_t ev) { on_stream_event(k, ev); });
            if (!r) {
                log::error("{}: cannot watch a stream's socket: {}", options_.name,
                           r.error().describe());
                s.conn.abort();
                return update_stream(k);
            }
            s.watched_fd = c.fd();
            s.watched = want;
        } else if (s.watched != want) {
            if (auto r = loop_->modify(c.fd(), want); r) s.watched = want;
        }
    }
    // Deadlines: the guest must answer our REQUEST, and RST the stream after our SHUTDOWN.
    const bool waits = c.state() == ConnState::kLocalInit || c.state() == ConnState::kLocalClosed;
    if (!waits) {
        s.deadline_ns = 0;
    } else if (s.deadline_ns == 0) {
        s.deadline_ns = clock_.now_ns() + options_.connect_timeout_ns;
        arm_timer();
    }
}

void VsockDevice::remove_stream(uint64_t k) {
    auto it = streams_.find(k);
    if (it == streams_.end()) return;
    if (it->second.watched != 0 && loop_ != nullptr) loop_->remove(it->second.watched_fd);
    if (it->second.host_initiated) host_ports_.erase(it->second.conn.local_port());
    streams_.erase(it); // closes the host socket, if the connection had not
}

void VsockDevice::on_stream_event(uint64_t k, uint32_t events) {
    const std::lock_guard lock(mu_);
    collect_dropped();
    auto it = streams_.find(k);
    if (it == streams_.end()) return;
    Connection& c = it->second.conn;
    if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) c.on_host_readable();
    if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0 && c.wants_host_write())
        c.on_host_writable();
    update_stream(k);
    process_rx();
    if (tx_stalled_) process_tx();
}

// ---- host-initiated connections ----

void VsockDevice::on_listener_readable() {
    const std::lock_guard lock(mu_);
    collect_dropped();
    for (int i = 0; i < 64; ++i) {
        UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.valid()) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log::warn("{}: accept on '{}': {}", options_.name, options_.uds_path,
                          std::strerror(errno));
            return;
        }
        if (pending_.size() >= options_.max_pending_connects) {
            ++metrics_.host_rejected;
            log::warn("{}: {} host connections are still sending CONNECT; closed a new one",
                      options_.name, pending_.size());
            continue;
        }
        const int raw = fd.get();
        if (auto r = loop_->add(raw, EPOLLIN, [this, raw](uint32_t) { on_pending_readable(raw); });
            !r) {
            log::error("{}: {}", options_.name, r.error().describe());
            continue;
        }
        pending_.emplace(
            raw, PendingConnect{std::move(fd), {}, clock_.now_ns() + options_.connect_timeout_ns});
        arm_timer();
    }
}

void VsockDevice::on_pending_readable(int fd) {
    const std::lock_guard lock(mu_);
    collect_dropped();
    auto it = pending_.find(fd);
    if (it == pending_.end()) return;
    PendingConnect& p = it->second;
    // Peek, then take exactly the line: bytes after the newline are the stream's first data.
    std::array<char, kMaxConnectLine> buf{};
    const size_t room = kMaxConnectLine - p.line.size();
    ssize_t n = 0;
    do {
        n = ::recv(fd, buf.data(), room, MSG_PEEK);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) { // EOF or an error before the line was complete
        ++metrics_.bad_connect_lines;
        return drop_pending(fd);
    }
    const auto got = static_cast<size_t>(n);
    const char* nl = static_cast<const char*>(std::memchr(buf.data(), '\n', got));
    const size_t take = nl != nullptr ? static_cast<size_t>(nl - buf.data()) + 1 : got;
    ssize_t consumed = 0;
    do {
        consumed = ::recv(fd, buf.data(), take, 0);
    } while (consumed < 0 && errno == EINTR);
    if (consumed != static_cast<ssize_t>(take)) {
        ++metrics_.bad_connect_lines;
        return drop_pending(fd);
    }
    p.line.append(buf.data(), take);
    if (nl == nullptr) {
        if (p.line.size() < kMaxConnectLine) return; // the rest of the line is on its way
        ++metrics_.bad_connect_lines;
        log::warn("{}: a host connection sent {} bytes without a newline; expected 'CONNECT "
                  "<port>\\n': closed",
                  options_.name, p.line.size());
        return drop_pending(fd);
    }
    auto port = parse_connect_line(p.line);
    if (!port) {
        ++metrics_.bad_connect_lines;
        log::warn("{}: {}: closed the host connection", options_.name, port.error().message());
        return drop_pending(fd);
    }
    PendingConnect taken = std::move(p);
    loop_->remove(fd);
    pending_.erase(it);
    accept_connect(std::move(taken), *port);
}

void VsockDevice::drop_pending(int fd) {
    if (loop_ != nullptr) loop_->remove(fd);
    pending_.erase(fd);
}

void VsockDevice::accept_connect(PendingConnect pending, uint32_t peer_port) {
    if (!active_ || broken_) {
        ++metrics_.host_rejected;
        log::debug("{}: CONNECT {} before the guest's driver is ready: closed", options_.name,
                   peer_port);
        return;
    }
    if (streams_.size() >= options_.max_connections) {
        ++metrics_.host_rejected;
        log::warn("{}: CONNECT {}: {} streams open, the limit: closed", options_.name, peer_port,
                  streams_.size());
        return;
    }
    auto local = allocate_host_port();
    if (!local) {
        ++metrics_.host_rejected;
        return;
    }
    const uint64_t k = key(*local, peer_port);
    host_ports_.insert(*local);
    streams_.emplace(
        k, Stream{.conn = Connection::host_initiated(std::move(pending.fd), options_.guest_cid,
                                                     *local, peer_port, options_.limits),
                  .host_initiated = true});
    ++metrics_.host_connects;
    update_stream(k);
    process_rx();
}

std::optional<uint32_t> VsockDevice::allocate_host_port() {
    // Ports from 2^30 up, wrapping back there; skip those in use (bounded by max_connections).
    for (size_t tries = 0; tries <= host_ports_.size(); ++tries) {
        const uint32_t port = next_host_port_;
        next_host_port_ = next_host_port_ == UINT32_MAX ? kFirstHostPort : next_host_port_ + 1;
        if (!host_ports_.contains(port)) return port;
    }
    return std::nullopt;
}

// ---- deadlines ----

void VsockDevice::arm_timer() {
    if (timer_armed_) return;
    itimerspec spec{};
    spec.it_value.tv_nsec = static_cast<long>(kTimerPeriodNs);
    spec.it_interval.tv_nsec = static_cast<long>(kTimerPeriodNs);
    if (::timerfd_settime(timer_.get(), 0, &spec, nullptr) == 0) timer_armed_ = true;
}

void VsockDevice::on_timer() {
    uint64_t ticks = 0;
    (void)!::read(timer_.get(), &ticks, sizeof(ticks));
    const std::lock_guard lock(mu_);
    collect_dropped();
    const uint64_t now = clock_.now_ns();
    bool waiting = false;
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.deadline_ns > now) {
            waiting = true;
            ++it;
            continue;
        }
        ++metrics_.timeouts;
        log::warn("{}: a host connection did not send 'CONNECT <port>\\n' in time: closed",
                  options_.name);
        if (loop_ != nullptr) loop_->remove(it->first);
        it = pending_.erase(it);
    }
    std::vector<uint64_t> expired;
    for (auto& [k, s] : streams_) {
        if (s.deadline_ns == 0) continue;
        if (s.deadline_ns > now) {
            waiting = true;
            continue;
        }
        expired.push_back(k);
    }
    for (uint64_t k : expired) {
        Stream& s = streams_.at(k);
        ++metrics_.timeouts;
        log::debug("{}: host port {} <-> guest port {}: the guest did not answer in time ({}): "
                   "reset",
                   options_.name, s.conn.local_port(), s.conn.peer_port(),
                   to_string(s.conn.state()));
        s.conn.abort();
        s.deadline_ns = 0;
        update_stream(k);
    }
    if (!waiting) {
        const itimerspec off{};
        if (::timerfd_settime(timer_.get(), 0, &off, nullptr) == 0) timer_armed_ = false;
    }
    process_rx();
}

// ---- common ----

void VsockDevice::complete(Queue& queue, uint16_t head, uint32_t len, bool& used) {
    if (auto r = queue.add_used(head, len); !r) {
        mark_broken(r.error().describe());
        return;
    }
    used = true;
}

void VsockDevice::mark_broken(std::string_view why) {
    if (broken_) return;
    broken_ = true;
    ++metrics_.broken;
    log_guest_fault(fmt::format("{}; the device needs a reset (DEVICE_NEEDS_RESET)", why));
    if (interrupt_ != nullptr) interrupt_->report_broken();
}

void VsockDevice::log_guest_fault(const std::string& message) {
    ++faults_;
    if (std::has_single_bit(faults_))
        log::warn("{}: {} ({} faults so far; logged at powers of two)", options_.name, message,
                  faults_);
}

} // namespace ember::virtio::vsock
