#include "virtio/vsock/connection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace ember::virtio::vsock {

std::string_view to_string(ConnState state) {
    switch (state) {
    case ConnState::kLocalInit:
        return "local-init";
    case ConnState::kEstablished:
        return "established";
    case ConnState::kLocalClosed:
        return "local-closed";
    case ConnState::kClosing:
        return "closing";
    case ConnState::kClosed:
        return "closed";
    }
    return "unknown";
}

Connection::Connection(UniqueFd stream, uint64_t guest_cid, uint32_t local_port, uint32_t peer_port,
                       ConnectionLimits limits)
    : stream_(std::move(stream)), guest_cid_(guest_cid), local_port_(local_port),
      peer_port_(peer_port), limits_(limits) {}

Connection Connection::guest_initiated(UniqueFd stream, const VsockHeader& request,
                                       ConnectionLimits limits) {
    Connection c(std::move(stream), request.src_cid, request.dst_port, request.src_port, limits);
    c.update_peer_credit(request);
    c.pending_ |= kPendResponse;
    return c;
}

Connection Connection::host_initiated(UniqueFd stream, uint64_t guest_cid, uint32_t local_port,
                                      uint32_t peer_port, ConnectionLimits limits) {
    Connection c(std::move(stream), guest_cid, local_port, peer_port, limits);
    c.state_ = ConnState::kLocalInit;
    c.pending_ |= kPendRequest;
    return c;
}

uint32_t Connection::peer_credit() const {
    // Wrapping counters (5.10.6.3): in flight = tx_cnt - fwd_cnt, modulo 2^32.
    const uint32_t in_flight = tx_cnt_ - peer_fwd_cnt_;
    return in_flight >= peer_buf_alloc_ ? 0 : peer_buf_alloc_ - in_flight;
}

void Connection::update_peer_credit(const VsockHeader& header) {
    peer_buf_alloc_ = header.buf_alloc;
    peer_fwd_cnt_ = header.fwd_cnt;
}

void Connection::on_tx(const VsockHeader& header, std::span<const std::byte> payload) {
    if (state_ == ConnState::kClosed || state_ == ConnState::kClosing) return;
    const auto op = static_cast<Op>(header.op);
    if (op == Op::kRst) { // the guest is gone from this stream: nothing to answer
        pending_ = 0;
        held_.clear();
        stream_.reset();
        state_ = ConnState::kClosed;
        return;
    }
    update_peer_credit(header);
    switch (op) {
    case Op::kResponse:
        if (state_ != ConnState::kLocalInit) return reset_to_guest();
        state_ = ConnState::kEstablished;
        if (const std::string ok = ok_line(local_port_);
            ::send(stream_.get(), ok.data(), ok.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(ok.size())) {
            // A fresh socket takes a dozen bytes; failing means the host process is gone.
            return reset_to_guest();
        }
        return;
    case Op::kRw:
        if (state_ == ConnState::kLocalInit) return reset_to_guest();
        if (state_ == ConnState::kLocalClosed) return; // the host side is gone: drop
        return on_rw(payload);
    case Op::kShutdown:
        // Before RESPONSE it is a protocol error; after our SHUTDOWN it ends the stream.
        if (state_ != ConnState::kEstablished) return reset_to_guest();
        return on_shutdown(header.flags);
    case Op::kCreditRequest:
        pending_ |= kPendCreditUpdate;
        return;
    case Op::kCreditUpdate: // the new credit is taken above
        return;
    case Op::kRequest: // a second REQUEST for a live connection
    case Op::kRst:
        return reset_to_guest();
    }
}

void Connection::on_rw(std::span<const std::byte> payload) {
    if ((peer_shutdown_ & kShutdownSend) != 0) return reset_to_guest(); // data after SEND shutdown
    const auto len = static_cast<uint32_t>(payload.size());
    // The guest may only send what we advertised: buf_alloc - (rx_cnt - fwd_cnt).
    if (held_.size() + len > limits_.buf_alloc) return reset_to_guest();
    rx_cnt_ += len;
    held_.insert(held_.end(), payload.begin(), payload.end());
    flush_held();
}

void Connection::on_shutdown(uint32_t flags) {
    peer_shutdown_ |= flags;
    maybe_finish();
}

void Connection::on_host_writable() {
    flush_held();
}

void Connection::flush_held() {
    while (!held_.empty() && stream_.valid()) {
        const ssize_t n = ::send(stream_.get(), held_.data(), held_.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            return reset_to_guest(); // EPIPE, ECONNRESET: the host process is gone
        }
        held_.erase(held_.begin(), held_.begin() + n);
        fwd_cnt_ += static_cast<uint32_t>(n);
    }
    // The guest's view of our free space: buf_alloc - (rx_cnt - last fwd_cnt it heard of).
    const uint32_t peer_view_used = rx_cnt_ - last_fwd_cnt_sent_;
    const uint32_t peer_view_free =
        peer_view_used >= limits_.buf_alloc ? 0 : limits_.buf_alloc - peer_view_used;
    if (fwd_cnt_ != last_fwd_cnt_sent_ && peer_view_free < std::min(kMaxPayload, limits_.buf_alloc))
        pending_ |= kPendCreditUpdate;
    maybe_finish();
}

void Connection::maybe_finish() {
    if (state_ != ConnState::kEstablished || !held_.empty()) return;
    if ((peer_shutdown_ & kShutdownBoth) == kShutdownBoth) {
        // Both directions done: Firecracker and Linux close with an RST from the host.
        return reset_to_guest();
    }
    if ((peer_shutdown_ & kShutdownSend) != 0 && !host_write_shut_ && stream_.valid()) {
        ::shutdown(stream_.get(), SHUT_WR);
        host_write_shut_ = true;
    }
}

void Connection::reset_to_guest() {
    pending_ = kPendRst;
    held_.clear();
    stream_.reset();
    state_ = ConnState::kClosing;
}

bool Connection::wants_host_read() const {
    return state_ == ConnState::kEstablished && stream_.valid() &&
           (peer_shutdown_ & kShutdownRcv) == 0 && peer_credit() > 0;
}

bool Connection::has_rx() const {
    return pending_ != 0 || (host_readable_ && wants_host_read());
}

VsockHeader Connection::make_header(Op op, uint32_t len, uint32_t flags) {
    VsockHeader h{};
    h.src_cid = kHostCid;
    h.dst_cid = guest_cid_;
    h.src_port = local_port_;
    h.dst_port = peer_port_;
    h.len = len;
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(op);
    h.flags = flags;
    h.buf_alloc = limits_.buf_alloc;
    h.fwd_cnt = fwd_cnt_;
    last_fwd_cnt_sent_ = fwd_cnt_; // every packet carries our credit
    pending_ &= ~static_cast<unsigned>(kPendCreditUpdate);
    return h;
}

std::optional<VsockHeader> Connection::next_rx(std::span<std::byte> payload) {
    if ((pending_ & kPendRst) != 0) {
        pending_ = 0;
        state_ = ConnState::kClosed;
        return make_header(Op::kRst, 0);
    }
    if ((pending_ & kPendRequest) != 0) {
        pending_ &= ~static_cast<unsigned>(kPendRequest);
        return make_header(Op::kRequest, 0);
    }
    if ((pending_ & kPendResponse) != 0) {
        pending_ &= ~static_cast<unsigned>(kPendResponse);
        return make_header(Op::kResponse, 0);
    }
    if ((pending_ & kPendCreditUpdate) != 0) return make_header(Op::kCreditUpdate, 0);
    if (host_readable_ && wants_host_read()) return read_host(payload);
    return std::nullopt;
}

std::optional<VsockHeader> Connection::read_host(std::span<std::byte> payload) {
    const size_t want = std::min<size_t>({payload.size(), peer_credit(), kMaxPayload});
    if (want == 0) return std::nullopt;
    ssize_t n = 0;
    do {
        n = ::recv(stream_.get(), payload.data(), want, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            host_readable_ = false;
            return std::nullopt;
        }
        reset_to_guest();
        return next_rx(payload);
    }
    if (n == 0) {
        // EOF: the host process closed (or half-closed) its end. Firecracker's answer: SHUTDOWN
        // both ways, then wait for the guest's RST.
        host_readable_ = false;
        state_ = ConnState::kLocalClosed;
        return make_header(Op::kShutdown, 0, kShutdownBoth);
    }
    tx_cnt_ += static_cast<uint32_t>(n);
    return make_header(Op::kRw, static_cast<uint32_t>(n));
}

std::optional<VsockHeader> rst_reply(const VsockHeader& packet) {
    if (packet.op == static_cast<uint16_t>(Op::kRst)) return std::nullopt;
    VsockHeader h{};
    h.src_cid = packet.dst_cid;
    h.dst_cid = packet.src_cid;
    h.src_port = packet.dst_port;
    h.dst_port = packet.src_port;
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(Op::kRst);
    return h;
}

Result<uint32_t> parse_connect_line(std::string_view line) {
    constexpr std::string_view kPrefix = "CONNECT ";
    if (!line.starts_with(kPrefix) || !line.ends_with('\n'))
        return make_error(Errc::kInvalidInput, "vsock: expected 'CONNECT <port>\\n'");
    const std::string_view digits = line.substr(kPrefix.size(), line.size() - kPrefix.size() - 1);
    uint32_t port = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size())
        return make_error(Errc::kInvalidInput,
                          "vsock: 'CONNECT {}': the port must be a decimal number below 2^32",
                          digits);
    return port;
}

std::string ok_line(uint32_t host_port) {
    return fmt::format("OK {}\n", host_port);
}

Result<UniqueFd> connect_host_port(std::string_view uds_path, uint32_t port) {
    const std::string path = fmt::format("{}_{}", uds_path, port);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path))
        return make_error(Errc::kInvalidArgument, "vsock: socket path '{}' is too long", path);
    std::memcpy(&addr.sun_path[0], path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) return sys_error(Errc::kOsError, "vsock: socket()");
    // Safety: sockaddr_un is a sockaddr by the socket API's contract.
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        if (errno == ENOENT || errno == ECONNREFUSED)
            return sys_error(Errc::kNotFound, "vsock: nothing listens on '{}' for guest port {}",
                             path, port);
        // A Unix stream socket connects at once or not at all: EAGAIN is a full backlog.
        if (errno == EAGAIN)
            return sys_error(Errc::kUnavailable, "vsock: '{}' has a full backlog", path);
        if (errno != EINPROGRESS) return sys_error(Errc::kOsError, "vsock: connect to '{}'", path);
    }
    return fd;
}

} // namespace ember::virtio::vsock
