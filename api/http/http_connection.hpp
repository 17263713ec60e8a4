// Connection: one accepted client of the API socket: its parser (bytes in) and its pending
// reply bytes (bytes out), on a non-blocking socket. The server decides what to do; this class
// moves bytes and reports what happened.
#pragma once

#include "api/http/http_parser.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ember::api::http {

class Connection final {
public:
    enum class Io { kOk, kWouldBlock, kPeerClosed, kError };

    Connection(UniqueFd fd, ParserLimits limits) : fd_(std::move(fd)), parser_(limits) {}

    [[nodiscard]] int fd() const { return fd_.get(); }
    [[nodiscard]] RequestParser& parser() { return parser_; }

    // One read(2) into `scratch`, fed to the parser: kOk, kWouldBlock, kPeerClosed (EOF) or
    // kError (the peer reset the connection).
    Io read_once(std::span<char> scratch);

    // Queues reply bytes; flush() writes them.
    void queue(std::string_view bytes) { out_.append(bytes); }
    [[nodiscard]] std::string& out() { return out_; }
    [[nodiscard]] bool has_output() const { return sent_ < out_.size(); }
    // Writes as much queued output as the socket takes: kOk when all is written, kWouldBlock
    // when the rest waits for EPOLLOUT, kError when the peer is gone.
    Io flush();

    // The events this connection is registered for (changed only when they differ).
    [[nodiscard]] uint32_t events() const { return events_; }
    void set_events(uint32_t events) { events_ = events; }
    // The peer shut its side down: answer what was received, then close.
    [[nodiscard]] bool peer_closed() const { return peer_closed_; }
    void set_peer_closed() { peer_closed_ = true; }
    // Close once the queued output is written (a closing error, or "Connection: close").
    [[nodiscard]] bool close_after_flush() const { return close_after_flush_; }
    void set_close_after_flush(bool close) { close_after_flush_ = close; }

private:
    UniqueFd fd_;
    RequestParser parser_;
    std::string out_;
    size_t sent_ = 0;
    uint32_t events_ = 0;
    bool peer_closed_ = false;
    bool close_after_flush_ = false;
};

} // namespace ember::api::http
