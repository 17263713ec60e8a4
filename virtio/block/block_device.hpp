// BlockDevice: virtio-blk (virtio 1.2, 5.2) over an IoEngine, one request queue.
//
// The request path (DESIGN.md): the driver's QueueNotify lands on a KVM ioeventfd, which the
// VMM thread's event loop watches (on_queue_notify); requests are parsed (request.hpp) and
// handed to the engine; completions (at once for the sync engine, on an eventfd for io_uring)
// write the status byte, fill the used ring, and raise the irqfd only when the driver asked for
// it (EVENT_IDX). No thread per device, no exit per request beyond the ioeventfd's.
//
// Faults: a request the guest got wrong but that has a status byte is answered with
// VIRTIO_BLK_S_IOERR or S_UNSUPP; a chain the ring rules forbid (or without a status byte) sets
// DEVICE_NEEDS_RESET and the device ignores its queue until the driver resets it. Either way the
// first fault and then every power-of-two count is logged, so a hostile guest cannot flood logs.
//
// Threads: the VirtioDevice calls (config, activate, reset) come from vCPU threads; the event
// handlers run on the VMM thread. One mutex covers both, so reset() waits for a running pass and
// then for the engine's in-flight requests: once it returns, nothing writes guest memory.
#pragma once

#include "virtio/block/io_engine.hpp"
#include "virtio/block/request.hpp"
#include "virtio/device_faults.hpp"
#include "virtio/queue/queue.hpp"
#include "virtio/virtio_device.hpp"
#include "vmm/core/event_loop.hpp"
#include "vmm/core/rate_limiter.hpp"

#include <linux/virtio_blk.h>

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace ember::virtio::block {

struct BlockOptions {
    std::string name = "virtio-blk"; // for logs: "virtio-blk 'rootfs'"
    uint16_t queue_size = 256;       // QueueNumMax: a power of two, 4..32768
    RateLimiterConfig rate_limiter;  // unlimited by default
    // Adaptive polling (as QEMU's poll-max-ns): after a pass, the VMM thread keeps watching the
    // ring with kicks off for up to this long before it sleeps, when recent requests came
    // sooner than that. 0 disables polling.
    uint64_t poll_max_ns = 32'000;
};

// What the device did; read with metrics() from any thread.
struct BlockMetrics {
    uint64_t notifications = 0; // queue eventfd wake-ups with a count (kicks, batched by KVM)
    uint64_t requests = 0;      // chains taken from the queue
    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t flushes = 0;
    uint64_t get_ids = 0;
    uint64_t discards = 0;
    uint64_t write_zeroes = 0;
    uint64_t read_bytes = 0;
    uint64_t write_bytes = 0;
    uint64_t io_errors = 0;   // requests answered VIRTIO_BLK_S_IOERR (guest or host cause)
    uint64_t unsupported = 0; // requests answered VIRTIO_BLK_S_UNSUPP
    uint64_t throttled = 0;   // times the rate limiter held the queue back
    uint64_t interrupts = 0;  // used-buffer interrupts raised
    uint64_t broken = 0;      // times the device set DEVICE_NEEDS_RESET
    uint64_t polled = 0;      // passes where polling found work without a kick or an epoll wake-up
};

class BlockDevice final : public VirtioDevice {
public:
    // Takes the engine (and so the disk). Fails on a bad queue size or rate limiter config.
    static Result<std::unique_ptr<BlockDevice>> create(std::unique_ptr<IoEngine> engine,
                                                       const BlockOptions& options,
                                                       const Clock& clock = monotonic_clock());
    ~BlockDevice() override;
    BlockDevice(const BlockDevice&) = delete;
    BlockDevice& operator=(const BlockDevice&) = delete;
    BlockDevice(BlockDevice&&) = delete;
    BlockDevice& operator=(BlockDevice&&) = delete;

    // VirtioDevice.
    [[nodiscard]] uint32_t device_type() const override;
    [[nodiscard]] uint64_t available_features() const override { return features_; }
    [[nodiscard]] uint32_t config_generation() const override;
    [[nodiscard]] std::span<const uint16_t> queue_max_sizes() const override {
        return queue_max_sizes_;
    }
    void read_config(uint32_t offset, std::span<std::byte> out) const override;
    void write_config(uint32_t offset, std::span<const std::byte> in) override;
    Result<void> activate(ActivationContext ctx) override;
    bool reset() override;

    // Registers the device's event sources in the VMM thread's loop: `queue_events[0]` (the
    // transport's QueueNotify eventfd), the engine's completion eventfd, the rate limiter's
    // timerfd. `loop` and the events must outlive the device, or detach() first.
    Result<void> attach(EventLoop& loop, std::span<const EventFd> queue_events);
    void detach(EventLoop& loop);

    // The handlers attach() registers, public for tests that drive the device by hand.
    void on_queue_notify();
    void on_completions();
    void on_rate_limiter_timer();

    // PATCH /drives: new token buckets while running.
    Result<void> update_rate_limiter(const RateLimiterUpdate& update);
    // PATCH /drives path_on_host: serve `engine`'s disk from now on (Firecracker's drive
    // update). Requests in flight on the old engine finish first and are answered; the capacity
    // may change, and an active driver gets a configuration change interrupt (a Linux guest
    // then resizes the disk). `loop` is the one attach() used. The new disk must keep the old
    // one's read-only flag and cache mode, which the negotiated features depend on.
    Result<void> replace_engine(EventLoop& loop, std::unique_ptr<IoEngine> engine);

    [[nodiscard]] BlockMetrics metrics() const;
    [[nodiscard]] const std::string& name() const { return options_.name; }
    [[nodiscard]] const IoEngine& engine() const { return *engine_; }
    [[nodiscard]] bool active() const;

private:
    struct Slot {
        uint16_t head = 0;
        Request request;
        bool busy = false;
    };

    BlockDevice(std::unique_ptr<IoEngine> engine, const BlockOptions& options, RateLimiter limiter);

    // All below with mu_ held.
    void process_queue();
    // Runs the chain in chain_. False: the rate limiter held it back (kept for later).
    bool handle_chain();
    void complete_at_once(uint16_t head, uint8_t status, uint32_t len);
    void reap_completions();
    // Answers the requests in completions_.
    void finish_completions();
    // Watches the ring (and the engine) for up to poll_ns_ with kicks still off; true when work
    // showed up. Adapts poll_ns_ (see BlockOptions::poll_max_ns).
    bool poll_for_work();
    void write_status(GuestAddr addr, uint8_t status);
    void signal_if_needed();
    void mark_broken(std::string_view why);
    void count_status(uint8_t status);
    // Logs a guest's bad request: the first one and then every power-of-two count.

    const BlockOptions options_;
    std::unique_ptr<IoEngine> engine_;
    uint64_t features_ = 0;
    std::array<uint16_t, 1> queue_max_sizes_{};
    virtio_blk_config config_{};
    const EventFd* queue_event_ = nullptr;

    mutable std::mutex mu_;
    RateLimiter limiter_;
    bool active_ = false;
    bool broken_ = false;
    bool pending_ = false; // chain_ holds a chain the rate limiter held back
    const GuestMemory* memory_ = nullptr;
    VirtioInterrupt* interrupt_ = nullptr;
    RequestLimits limits_;
    std::optional<Queue> queue_;
    DescriptorChain chain_; // reused for every chain
    Request scratch_;       // reused for every parse
    RequestError error_;
    std::vector<Slot> slots_;
    std::vector<uint32_t> free_slots_;
    std::vector<IoCompletion> completions_;
    bool used_since_signal_ = false;
    uint64_t poll_ns_ = 0;     // current polling window
    uint64_t slept_at_ns_ = 0; // when the device last went to sleep (kicks on); 0: not asleep
    DeviceFaults faults_{options_.name};
    uint32_t generation_ = 0; // ConfigGeneration: bumped when the disk is replaced
    BlockMetrics metrics_;
};

} // namespace ember::virtio::block
