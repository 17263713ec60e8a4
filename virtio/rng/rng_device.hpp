// RngDevice: virtio-rng, the entropy device (virtio 1.2, 5.4), one request queue.
//
// The driver posts device-writable buffers; the device fills them from getrandom(2) (or an
// injected source, for tests) and returns them with the number of bytes written. There is no
// config space and no device feature. One request is at most kMaxRequestBytes (the rest of a
// larger chain is left as it was; the used length says how much is valid), so one request cannot
// hold the VMM thread long.
//
// Rate limiting: each request costs one op and its bytes from the shared token-bucket limiter
// (vmm/core/rate_limiter.hpp); a request that does not fit waits, untouched, for the limiter's
// timerfd.
//
// Faults: a chain with a device-readable buffer (virtio-rng buffers are write-only, 5.4.6.1) is
// returned with 0 bytes written and counted; a chain the ring rules forbid sets
// DEVICE_NEEDS_RESET and the device ignores its queue until the driver resets it. The first fault
// and then every power-of-two count is logged.
//
// Threads: as BlockDevice: VirtioDevice calls from vCPU threads, handlers on the VMM thread, one
// mutex over both.
#pragma once

#include "virtio/device_faults.hpp"
#include "virtio/queue/queue.hpp"
#include "virtio/virtio_device.hpp"
#include "vmm/core/event_loop.hpp"
#include "vmm/core/rate_limiter.hpp"

#include <array>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace ember::virtio::rng {

// --entropy and the API's /entropy.
struct EntropyConfig {
    RateLimiterConfig rate_limiter{}; // unlimited by default
    bool operator==(const EntropyConfig&) const = default;
};

// Fills `out` completely with random bytes, or fails.
using EntropySource = std::function<Result<void>(std::span<std::byte>)>;
// getrandom(2) with flags 0 (blocks only until the kernel's pool is initialised, at boot).
Result<void> getrandom_fill(std::span<std::byte> out);

struct RngOptions {
    std::string name = "virtio-rng";
    uint16_t queue_size = 256;        // QueueNumMax: a power of two, 1..32768
    RateLimiterConfig rate_limiter{}; // unlimited by default
};

// What the device did; read with metrics() from any thread.
struct RngMetrics {
    uint64_t notifications = 0; // queue eventfd wake-ups
    uint64_t requests = 0;      // chains taken from the queue
    uint64_t bytes = 0;         // random bytes handed to the guest
    uint64_t bad_requests = 0;  // chains with a readable buffer or no writable byte: 0 bytes
    uint64_t source_errors = 0; // the entropy source failed: 0 bytes
    uint64_t throttled = 0;     // times the rate limiter held the queue back
    uint64_t interrupts = 0;    // used-buffer interrupts raised
    uint64_t broken = 0;        // times the device set DEVICE_NEEDS_RESET
};

class RngDevice final : public VirtioDevice {
public:
    static constexpr uint32_t kMaxRequestBytes = 64 * 1024;
    // Requests one handler run takes before it yields to the rest of the event loop.
    static constexpr uint64_t kMaxRequestsPerPass = 256;

    // Fails on a bad queue size or rate limiter config. `clock` must outlive the device.
    static Result<std::unique_ptr<RngDevice>> create(const RngOptions& options,
                                                     EntropySource source = getrandom_fill,
                                                     const Clock& clock = monotonic_clock());

    // VirtioDevice.
    [[nodiscard]] uint32_t device_type() const override;
    [[nodiscard]] uint64_t available_features() const override;
    [[nodiscard]] std::span<const uint16_t> queue_max_sizes() const override {
        return queue_max_sizes_;
    }
    void read_config(uint32_t /*offset*/, std::span<std::byte> /*out*/) const override {}
    void write_config(uint32_t offset, std::span<const std::byte> in) override;
    Result<void> activate(ActivationContext ctx) override;
    bool reset() override;

    // Registers queue_events[0] and the limiter's timerfd in `loop`; both must outlive the
    // device, or detach() first.
    Result<void> attach(EventLoop& loop, std::span<const EventFd> queue_events);
    void detach(EventLoop& loop);

    // The handlers attach() registers, public for tests.
    void on_queue_notify();
    void on_rate_limiter_timer();

    // PATCH /entropy-like updates while running.
    Result<void> update_rate_limiter(const RateLimiterUpdate& update);

    [[nodiscard]] RngMetrics metrics() const;
    [[nodiscard]] const std::string& name() const { return options_.name; }

private:
    RngDevice(const RngOptions& options, EntropySource source, RateLimiter limiter);

    // All below with mu_ held.
    void process_queue();
    enum class Stop { kEmpty, kYield, kThrottled, kBroken };
    // Serves chains until one of Stop; `served` counts this handler run's requests.
    Stop serve_batch(uint64_t& served);
    // Serves chain_. False: the rate limiter held it back (kept for later).
    bool handle_chain();
    void complete(uint16_t head, uint32_t len);
    void mark_broken(std::string_view why);

    const RngOptions options_;
    EntropySource source_;
    std::array<uint16_t, 1> queue_max_sizes_{};
    const EventFd* queue_event_ = nullptr;

    mutable std::mutex mu_;
    RateLimiter limiter_;
    bool active_ = false;
    bool broken_ = false;
    bool pending_ = false; // chain_ holds a chain the rate limiter held back
    const GuestMemory* memory_ = nullptr;
    VirtioInterrupt* interrupt_ = nullptr;
    std::optional<Queue> queue_;
    DescriptorChain chain_;
    bool used_since_signal_ = false;
    DeviceFaults faults_{options_.name};
    RngMetrics metrics_;
};

} // namespace ember::virtio::rng
