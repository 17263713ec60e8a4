// VsockDevice: virtio-vsock (virtio 1.2, 5.10) with Firecracker's host side: guest streams are
// proxied to Unix sockets (docs/virtio.md, "virtio-vsock").
//
// - Host-initiated: a host process connects to `uds_path` (a listening socket the device creates
//   and removes) and writes `CONNECT <port>\n`; the device sends the guest a REQUEST from a fresh
//   host port (2^30 and up) to guest port `port`, and once the guest answers RESPONSE the host
//   process reads `OK <hostport>\n` and the stream is open. An RST from the guest (no listener)
//   closes the host socket without the OK line.
// - Guest-initiated: a guest REQUEST to the host (CID 2) port P connects to `<uds_path>_P`;
//   nothing listening there answers the guest with RST.
// - Each stream is a Connection (connection.hpp): credit-based flow control both ways, SHUTDOWN
//   and RST, host EOF; streams are keyed by (host port, guest port).
//
// Queues: receive (0, device to guest), transmit (1), event (2; set up by the driver, unused
// until snapshots need TRANSPORT_RESET). Config space: le64 guest_cid.
//
// Everything runs on the VMM thread's event loop: the three QueueNotify eventfds, the listening
// socket, one fd per stream and per host connection still sending its CONNECT line, and one
// timerfd for deadlines. No thread per device, no busy loop:
// - Receive: packets for the guest come from the streams (RESPONSE, REQUEST, RW from the host
//   socket, CREDIT_UPDATE, SHUTDOWN, RST) and from the RST answers to packets no stream takes;
//   streams take turns. While the driver has posted no buffer, the device asks for a kick and
//   stops watching host sockets it knows are readable (the data waits in the kernel). A receive
//   chain must be device-writable and hold more than the 44-byte header (Linux posts 4 KiB).
// - Transmit: each chain's header is copied out once and checked (packet.hpp); a bad one is
//   dropped and counted. Answers wait for receive buffers; when too many wait, the device stops
//   taking transmit chains until the driver posts receive buffers (so a guest cannot make it
//   queue without bound).
// - Limits: at most max_connections streams (more REQUESTs get RST, more CONNECTs are closed),
//   max_pending_connects host sockets still writing their CONNECT line, which must arrive within
//   connect_timeout and be at most 32 bytes; a host-initiated stream the guest does not answer
//   within connect_timeout, and a stream whose host side closed that the guest does not RST
//   within it, are reset.
// A chain the ring rules forbid sets DEVICE_NEEDS_RESET, as in every ember device. A driver reset
// drops every stream (their host sockets are closed).
//
// Threads: VirtioDevice calls from vCPU threads, handlers on the VMM thread, one mutex; only the
// VMM thread touches the event loop (reset() hands the streams it drops to the VMM thread
// through the receive queue's eventfd).
#pragma once

#include "virtio/queue/queue.hpp"
#include "virtio/virtio_device.hpp"
#include "virtio/vsock/connection.hpp"
#include "vmm/core/event_loop.hpp"
#include "vmm/core/rate_limiter.hpp"

#include <sys/types.h>

#include <array>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ember::virtio::vsock {

// --vsock and the API's /vsock.
struct VsockConfig {
    uint32_t guest_cid = 3;
    std::string uds_path;
    bool operator==(const VsockConfig&) const = default;
};

// The guest CIDs a guest may have: 0-2 are reserved (hypervisor, local, host), 2^32-1 is ANY.
inline constexpr uint64_t kMinGuestCid = 3;
inline constexpr uint64_t kMaxGuestCid = 0xffff'fffe;
// A host process's CONNECT line, newline included: "CONNECT 4294967295\n" is 19 bytes.
inline constexpr size_t kMaxConnectLine = 32;
// The first port the device gives host-initiated streams (Firecracker's choice too).
inline constexpr uint32_t kFirstHostPort = 1U << 30;

struct VsockOptions {
    std::string name = "virtio-vsock";
    uint16_t queue_size = 256; // per queue: a power of two, 2..32768
    uint64_t guest_cid = 3;
    std::string uds_path{};
    size_t max_connections = 1024;
    size_t max_pending_connects = 64;
    uint64_t connect_timeout_ns = 2'000'000'000;
    // Answers to untracked packets (RSTs) that may wait for receive buffers before the device
    // stops taking transmit chains.
    size_t max_queued_replies = 256;
    ConnectionLimits limits{};
};

// What the device did; read with metrics() from any thread.
struct VsockMetrics {
    uint64_t rx_packets = 0;        // packets given to the driver
    uint64_t rx_bytes = 0;          // their payload bytes
    uint64_t rx_bad_buffers = 0;    // receive chains too small or device-readable: returned empty
    uint64_t tx_packets = 0;        // checked packets from the driver
    uint64_t tx_bytes = 0;          // their payload bytes
    uint64_t tx_bad_packets = 0;    // transmit chains dropped by the checks (packet.hpp)
    uint64_t host_connects = 0;     // streams opened by host processes (CONNECT accepted)
    uint64_t guest_connects = 0;    // streams opened by the guest (REQUEST reached a listener)
    uint64_t connect_refused = 0;   // guest REQUESTs answered with RST (no listener, limits)
    uint64_t bad_connect_lines = 0; // host sockets closed for a bad or missing CONNECT line
    uint64_t host_rejected = 0;     // host sockets closed: limits, or the driver not ready
    uint64_t timeouts = 0;          // streams reset and host sockets closed at a deadline
    uint64_t resets_to_guest = 0;   // RST packets sent to the guest (any reason)
    uint64_t dropped_at_reset = 0;  // streams dropped by a driver reset
    uint64_t notifications = 0;     // queue eventfd wake-ups
    uint64_t interrupts = 0;        // used-buffer interrupts raised
    uint64_t broken = 0;            // times the device set DEVICE_NEEDS_RESET
    uint64_t connections = 0;       // streams open now
};

class VsockDevice final : public VirtioDevice {
public:
    static constexpr size_t kRxQueue = 0;
    static constexpr size_t kTxQueue = 1;
    static constexpr size_t kEventQueue = 2;
    // Packets one handler run takes (per direction) before it yields to the rest of the loop.
    static constexpr uint64_t kMaxPacketsPerPass = 256;

    // Checks the options and creates the listening socket at uds_path (which must not exist:
    // the error says so). `clock` (deadlines) must outlive the device.
    static Result<std::unique_ptr<VsockDevice>> create(const VsockOptions& options,
                                                       const Clock& clock = monotonic_clock());
    // Removes uds_path if it is still the socket the device created.
    ~VsockDevice() override;
    VsockDevice(const VsockDevice&) = delete;
    VsockDevice& operator=(const VsockDevice&) = delete;
    VsockDevice(VsockDevice&&) = delete;
    VsockDevice& operator=(VsockDevice&&) = delete;

    // VirtioDevice.
    [[nodiscard]] uint32_t device_type() const override;
    [[nodiscard]] uint64_t available_features() const override;
    [[nodiscard]] std::span<const uint16_t> queue_max_sizes() const override {
        return queue_max_sizes_;
    }
    void read_config(uint32_t offset, std::span<std::byte> out) const override;
    void write_config(uint32_t offset, std::span<const std::byte> in) override;
    Result<void> activate(ActivationContext ctx) override;
    bool reset() override;

    // Registers the queue eventfds, the listening socket and the timerfd in `loop`; both must
    // outlive the device, or detach() first (VMM thread).
    Result<void> attach(EventLoop& loop, std::span<const EventFd> queue_events);
    void detach();

    // The handlers attach() registers, public for tests.
    void on_rx_notify();
    void on_tx_notify();
    void on_event_notify();
    void on_listener_readable();
    void on_timer();

    [[nodiscard]] VsockMetrics metrics() const;
    [[nodiscard]] const std::string& name() const { return options_.name; }
    [[nodiscard]] const std::string& uds_path() const { return options_.uds_path; }
    [[nodiscard]] uint64_t guest_cid() const { return options_.guest_cid; }

private:
    struct Stream {
        Connection conn;
        bool host_initiated = false;
        bool rx_queued = false;   // in rx_ready_
        uint32_t watched = 0;     // epoll events the fd is registered for (0: not in the loop)
        int watched_fd = -1;      // the fd registered (the connection may close its own)
        uint64_t deadline_ns = 0; // 0: none
    };
    struct PendingConnect {
        UniqueFd fd;
        std::string line; // bytes of the CONNECT line received so far (no newline yet)
        uint64_t deadline_ns = 0;
    };

    VsockDevice(const VsockOptions& options, UniqueFd listener, UniqueFd timer, dev_t dev,
                ino_t ino, const Clock& clock);

    static uint64_t key(uint32_t local_port, uint32_t peer_port) {
        return (uint64_t{local_port} << 32) | peer_port;
    }

    // All below on the VMM thread with mu_ held.
    void collect_dropped();
    void process_rx();
    void process_tx();
    enum class Stop { kEmpty, kYield, kBroken, kStalled };
    Stop serve_rx(uint64_t& served);
    Stop serve_tx(uint64_t& served);
    // The next packet for the guest into rx_scratch_ (payload at most `room` bytes).
    std::optional<VsockHeader> next_packet(size_t room);
    void handle_tx_chain();
    void open_guest_stream(const VsockHeader& request);
    void refuse(const VsockHeader& packet);
    // After anything changed a stream: drop it when closed, queue it for receive, watch its fd
    // for what it wants, set or clear its deadline.
    void update_stream(uint64_t k);
    void remove_stream(uint64_t k);
    void on_stream_event(uint64_t k, uint32_t events);
    void on_pending_readable(int fd);
    void drop_pending(int fd);
    void accept_connect(PendingConnect pending, uint32_t peer_port);
    [[nodiscard]] std::optional<uint32_t> allocate_host_port();
    void arm_timer();
    void write_packet(const VsockHeader& header, std::span<const std::byte> payload);
    void complete(Queue& queue, uint16_t head, uint32_t len, bool& used);
    void mark_broken(std::string_view why);
    void log_guest_fault(const std::string& message);

    const VsockOptions options_;
    const Clock& clock_;
    std::array<uint16_t, 3> queue_max_sizes_{};
    UniqueFd listener_;
    UniqueFd timer_;
    dev_t socket_dev_;
    ino_t socket_ino_;
    EventLoop* loop_ = nullptr;
    const EventFd* rx_event_ = nullptr;
    const EventFd* tx_event_ = nullptr;
    const EventFd* event_event_ = nullptr;

    mutable std::mutex mu_;
    bool active_ = false;
    bool broken_ = false;
    bool timer_armed_ = false;
    const GuestMemory* memory_ = nullptr;
    VirtioInterrupt* interrupt_ = nullptr;
    std::optional<Queue> rx_queue_;
    std::optional<Queue> tx_queue_;
    std::optional<Queue> event_queue_;
    DescriptorChain rx_chain_;
    bool rx_chain_held_ = false; // rx_chain_ is popped but not used (nothing to put in it)
    DescriptorChain tx_chain_;
    bool tx_stalled_ = false; // transmit waits for receive buffers (too many queued replies)
    bool rx_used_ = false;
    bool tx_used_ = false;

    std::unordered_map<uint64_t, Stream> streams_;
    std::deque<uint64_t> rx_ready_;           // streams with packets for the guest, in turn
    std::deque<VsockHeader> replies_;         // RSTs for packets no stream takes
    std::unordered_set<uint32_t> host_ports_; // local ports of host-initiated streams
    uint32_t next_host_port_ = kFirstHostPort;
    std::unordered_map<int, PendingConnect> pending_;
    std::vector<Stream> dropped_; // streams a reset dropped: closed by the VMM thread
    std::vector<std::byte> rx_scratch_;
    std::vector<std::byte> tx_scratch_;
    uint64_t faults_ = 0;
    VsockMetrics metrics_;
};

} // namespace ember::virtio::vsock
