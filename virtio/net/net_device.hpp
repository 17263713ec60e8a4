// NetDevice: virtio-net (virtio 1.2, 5.1) over a host tap, one receive and one transmit queue.
//
// Offered: MAC (when configured), MTU (when configured), STATUS (link always up), MRG_RXBUF,
// CSUM / GUEST_CSUM, HOST_ and GUEST_ TSO4, TSO6, ECN and UFO, RING_EVENT_IDX,
// RING_INDIRECT_DESC. The receive offloads the driver takes are applied to the tap with
// TUNSETOFFLOAD at DRIVER_OK (vnet_header.hpp), so the tap never hands over a frame the driver
// cannot take; frames pass with their 12-byte virtio_net_hdr_v1 unchanged except num_buffers.
//
// Everything runs on the VMM thread's event loop: the tap fd, the two QueueNotify eventfds and
// the two rate limiters' timerfds. No thread per device.
// - Receive: one frame at a time is read from the tap into a host buffer, then copied into the
//   receive chains it needs (one, or several with MRG_RXBUF, num_buffers set accordingly). When
//   the driver has posted too few buffers, the device keeps the frame and the chains it has,
//   stops watching the tap (the kernel queues further frames, or drops them and counts them on
//   the tap), asks for a kick, and resumes on it: no busy loop and no frame lost unaccounted.
//   The receive rate limiter pauses the tap the same way until its timer fires. A frame that can
//   never fit the driver's buffers is dropped and counted (rx_dropped).
// - Transmit: each chain's header is copied out once and checked (check_tx_header), then the
//   header copy and the guest's frame buffers go to the tap with one writev. A chain with
//   writable buffers, a bad header, or a size outside 12 + 1..65562 bytes is dropped and counted
//   (tx_dropped); a write the tap refuses is counted (tx_errors). Either way the chain is
//   returned: the driver's transmit ring never stalls on a bad frame.
// - Both directions take at most a batch per handler run, then yield to the event loop.
// A chain the ring rules forbid sets DEVICE_NEEDS_RESET, as in every ember device.
//
// Threads: VirtioDevice calls from vCPU threads, handlers on the VMM thread, one mutex; only the
// VMM thread touches the event loop (activate() kicks the receive queue's eventfd to get there).
#pragma once

#include "virtio/device_faults.hpp"
#include "virtio/net/net_config.hpp"
#include "virtio/net/tap.hpp"
#include "virtio/net/vnet_header.hpp"
#include "virtio/queue/queue.hpp"
#include "virtio/virtio_device.hpp"
#include "vmm/core/event_loop.hpp"
#include "vmm/core/rate_limiter.hpp"

#include <sys/uio.h>

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ember::virtio::net {

struct NetOptions {
    std::string name = "virtio-net";
    uint16_t queue_size = 256; // per queue: a power of two, 2..32768
    std::optional<MacAddress> mac{};
    std::optional<uint16_t> mtu{};
    RateLimiterConfig rx_rate_limiter{};
    RateLimiterConfig tx_rate_limiter{};
};

struct NetMetrics {
    uint64_t rx_frames = 0;      // frames delivered to the driver
    uint64_t rx_bytes = 0;       // their bytes, without the virtio-net header
    uint64_t rx_dropped = 0;     // frames read from the tap that could never fit: dropped
    uint64_t rx_bad_buffers = 0; // receive chains with readable or < 12 writable bytes: skipped
    uint64_t rx_waits = 0;       // times receiving stopped for want of driver buffers
    uint64_t rx_throttled = 0;   // times the receive limiter paused the tap
    uint64_t tx_frames = 0;      // frames written to the tap
    uint64_t tx_bytes = 0;
    uint64_t tx_dropped = 0; // malformed transmit chains or headers: dropped
    uint64_t tx_errors = 0;  // writes the tap refused
    uint64_t tx_throttled = 0;
    uint64_t rx_kicks = 0;
    uint64_t tx_kicks = 0;
    uint64_t interrupts = 0;
    uint64_t broken = 0;
};

class NetDevice final : public VirtioDevice {
public:
    static constexpr size_t kRxQueue = 0;
    static constexpr size_t kTxQueue = 1;
    static constexpr uint64_t kMaxFramesPerPass = 256;

    static Result<std::unique_ptr<NetDevice>> create(Tap tap, const NetOptions& options,
                                                     const Clock& clock = monotonic_clock());

    // VirtioDevice.
    [[nodiscard]] uint32_t device_type() const override;
    [[nodiscard]] uint64_t available_features() const override { return features_; }
    [[nodiscard]] std::span<const uint16_t> queue_max_sizes() const override {
        return queue_max_sizes_;
    }
    void read_config(uint32_t offset, std::span<std::byte> out) const override;
    void write_config(uint32_t offset, std::span<const std::byte> in) override;
    Result<void> activate(ActivationContext ctx) override;
    bool reset() override;

    // Registers the queue eventfds, the tap and the two timerfds in `loop`; all must outlive the
    // device, or detach() first.
    Result<void> attach(EventLoop& loop, std::span<const EventFd> queue_events);
    void detach();

    // The handlers attach() registers, public for tests.
    void on_rx_notify();
    void on_tx_notify();
    void on_tap_readable();
    void on_rx_limiter_timer();
    void on_tx_limiter_timer();

    Result<void> update_rate_limiters(const std::optional<RateLimiterUpdate>& rx,
                                      const std::optional<RateLimiterUpdate>& tx);

    [[nodiscard]] NetMetrics metrics() const;
    [[nodiscard]] const std::string& name() const { return options_.name; }
    [[nodiscard]] const Tap& tap() const { return tap_; }
    // Whether the event loop is watching the tap (false while waiting for buffers or tokens).
    [[nodiscard]] bool watching_tap() const;

private:
    NetDevice(Tap tap, const NetOptions& options, RateLimiter rx, RateLimiter tx);

    // All below with mu_ held.
    void process_rx();
    // Reads the next frame into rx_frame_ unless one is held. False when the tap has none.
    bool read_frame();
    // Reserves receive chains for the held frame.
    RxFit reserve_rx_chains(size_t& needed);
    void deliver_frame(size_t chains);
    void watch_tap(bool on);
    void process_tx();
    enum class TxStop { kEmpty, kYield, kThrottled, kBroken };
    // Transmits chains until one of TxStop; `frames` counts this handler run's frames.
    TxStop transmit_batch(uint64_t& frames);
    // False: the limiter held tx_chain_ back.
    bool handle_tx_chain();
    // Returns tx_chain_ unused and counts it; true, for handle_tx_chain to return.
    bool drop_tx(const std::string& why);
    void complete(Queue& queue, uint16_t head, uint32_t len);
    void signal_if_needed();
    void mark_broken(std::string_view why);

    const NetOptions options_;
    Tap tap_;
    uint64_t features_ = 0;
    std::array<uint16_t, 2> queue_max_sizes_{};
    virtio_net_config config_{};
    EventLoop* loop_ = nullptr;
    const EventFd* rx_event_ = nullptr;
    const EventFd* tx_event_ = nullptr;

    mutable std::mutex mu_;
    RateLimiter rx_limiter_;
    RateLimiter tx_limiter_;
    bool active_ = false;
    bool broken_ = false;
    bool mergeable_ = false;
    uint64_t negotiated_ = 0;
    const GuestMemory* memory_ = nullptr;
    VirtioInterrupt* interrupt_ = nullptr;
    std::optional<Queue> rx_queue_;
    std::optional<Queue> tx_queue_;
    bool watching_tap_ = false;
    // Receive: the frame read from the tap (header first) and the chains reserved for it.
    std::vector<std::byte> rx_frame_;
    size_t rx_len_ = 0;       // bytes of rx_frame_ in use; 0: no frame held
    bool rx_charged_ = false; // the held frame has paid the rate limiter
    std::vector<DescriptorChain> rx_chains_;
    std::vector<uint64_t> rx_capacities_;
    size_t rx_reserved_ = 0;
    bool rx_used_ = false;
    // Transmit.
    DescriptorChain tx_chain_;
    bool tx_pending_ = false;
    std::vector<iovec> tx_iov_;
    bool tx_used_ = false;
    DeviceFaults faults_{options_.name};
    NetMetrics metrics_;
};

} // namespace ember::virtio::net
