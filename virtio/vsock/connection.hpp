// One vsock stream between a guest port and a host Unix socket, as in Firecracker's host-side
// protocol (docs/virtio.md): the guest connecting to host port P reaches `<uds_path>_P`; a host
// process connecting to `uds_path` and writing `CONNECT <port>\n` reaches guest port `port` and
// reads `OK <hostport>\n` once the guest accepts.
//
// The connection is pure protocol over a non-blocking stream fd (a socketpair in tests): the
// device feeds it the guest's packets (on_tx) and the fd's readiness (on_host_*), and pulls the
// packets for the guest when it has a receive buffer (next_rx). Credit-based flow control
// (5.10.6.3): we never send the guest more than its buf_alloc - (tx_cnt - fwd_cnt), and we tell it
// our free space (CREDIT_UPDATE) when its view of it runs low.
#pragma once

#include "virtio/vsock/packet.hpp"
#include "vmm/sys/result.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ember::virtio::vsock {

enum class ConnState {
    kLocalInit,   // host-initiated: REQUEST sent to the guest, waiting for RESPONSE or RST
    kEstablished, // data flows both ways (each direction may be shut down by the guest)
    kLocalClosed, // the host socket hit EOF: SHUTDOWN sent to the guest, waiting for its RST
    kClosing,     // an RST for the guest is pending; closed once the device pulls it
    kClosed,      // nothing more to do: the device drops the connection
};

[[nodiscard]] std::string_view to_string(ConnState state);

struct ConnectionLimits {
    // Our receive buffer as advertised to the guest (Firecracker's CONN_TX_BUF_SIZE): guest
    // data the host socket did not take yet is held here, and never more than this.
    uint32_t buf_alloc = 256 * 1024;
};

class Connection final {
public:
    // The guest sent REQUEST (already checked, dst_cid is the host) and `stream` is connected to
    // `<uds_path>_<dst_port>`: queues RESPONSE.
    [[nodiscard]] static Connection guest_initiated(UniqueFd stream, const VsockHeader& request,
                                                    ConnectionLimits limits = {});
    // A host process asked for guest port `peer_port` on `stream`: queues REQUEST from
    // `local_port` (the host port the muxer picked).
    [[nodiscard]] static Connection host_initiated(UniqueFd stream, uint64_t guest_cid,
                                                   uint32_t local_port, uint32_t peer_port,
                                                   ConnectionLimits limits = {});

    // A checked packet from the guest addressed to this connection, with its payload copied out.
    void on_tx(const VsockHeader& header, std::span<const std::byte> payload);
    // The stream fd is readable (or hung up): data for the guest may be waiting.
    void on_host_readable() { host_readable_ = true; }
    // Whether the device already knows the fd is readable (so it need not watch it for that).
    [[nodiscard]] bool host_readable() const { return host_readable_; }
    // Gives up on the stream (a timeout, the device's limits): an RST for the guest is queued
    // and the host socket is closed.
    void abort() {
        if (state_ != ConnState::kClosed) reset_to_guest();
    }
    // The stream fd is writable: flush guest data held back.
    void on_host_writable();

    // Whether next_rx has a packet to give.
    [[nodiscard]] bool has_rx() const;
    // The next packet for the guest: its header (len set) and len payload bytes written to the
    // front of `payload` (which bounds len). nullopt when there is nothing (the host had no data).
    [[nodiscard]] std::optional<VsockHeader> next_rx(std::span<std::byte> payload);

    // What to watch the stream fd for.
    [[nodiscard]] bool wants_host_read() const;
    [[nodiscard]] bool wants_host_write() const { return !held_.empty() && stream_.valid(); }

    [[nodiscard]] ConnState state() const { return state_; }
    [[nodiscard]] int fd() const { return stream_.get(); }
    [[nodiscard]] uint32_t local_port() const { return local_port_; }
    [[nodiscard]] uint32_t peer_port() const { return peer_port_; }
    // How many more payload bytes the guest can take now.
    [[nodiscard]] uint32_t peer_credit() const;
    // Guest bytes received but not yet written to the host socket.
    [[nodiscard]] size_t held_bytes() const { return held_.size(); }

private:
    enum Pending : unsigned {
        kPendRequest = 1U << 0,
        kPendResponse = 1U << 1,
        kPendCreditUpdate = 1U << 2,
        kPendRst = 1U << 3,
    };

    Connection(UniqueFd stream, uint64_t guest_cid, uint32_t local_port, uint32_t peer_port,
               ConnectionLimits limits);

    void on_rw(std::span<const std::byte> payload);
    void on_shutdown(uint32_t flags);
    void flush_held();
    void reset_to_guest(); // queue RST, drop the host side
    void maybe_finish();
    void update_peer_credit(const VsockHeader& header);
    [[nodiscard]] VsockHeader make_header(Op op, uint32_t len, uint32_t flags = 0);
    [[nodiscard]] std::optional<VsockHeader> read_host(std::span<std::byte> payload);

    UniqueFd stream_;
    uint64_t guest_cid_;
    uint32_t local_port_;
    uint32_t peer_port_;
    ConnectionLimits limits_;
    ConnState state_ = ConnState::kEstablished;
    unsigned pending_ = 0;
    bool host_readable_ = false;
    uint32_t peer_shutdown_ = 0; // SHUTDOWN flags the guest sent
    bool host_write_shut_ = false;

    // Guest → host: bytes received (rx_cnt), bytes written to the host socket (fwd_cnt), the
    // fwd_cnt the guest last heard from us, and what the socket has not taken yet.
    uint32_t rx_cnt_ = 0;
    uint32_t fwd_cnt_ = 0;
    uint32_t last_fwd_cnt_sent_ = 0;
    std::vector<std::byte> held_;
    // Host → guest: bytes sent (tx_cnt) and the guest's last advertised buffer.
    uint32_t tx_cnt_ = 0;
    uint32_t peer_buf_alloc_ = 0;
    uint32_t peer_fwd_cnt_ = 0;
};

// The answer to a guest packet no connection takes (a REQUEST nobody listens for, data for a
// closed port): RST back to its sender. nullopt for an RST (never answer RST with RST).
[[nodiscard]] std::optional<VsockHeader> rst_reply(const VsockHeader& packet);

// "CONNECT <port>\n" from a host process: the guest port, or an error naming what was wrong.
// `line` is the whole line, newline included.
[[nodiscard]] Result<uint32_t> parse_connect_line(std::string_view line);
// "OK <hostport>\n".
[[nodiscard]] std::string ok_line(uint32_t host_port);
// Connects, non-blocking, to `<uds_path>_<port>`; kNotFound when nothing listens there.
[[nodiscard]] Result<UniqueFd> connect_host_port(std::string_view uds_path, uint32_t port);

} // namespace ember::virtio::vsock
