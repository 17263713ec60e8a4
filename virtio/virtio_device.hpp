// VirtioDevice: what a virtio device (block, net, rng, ...) implements so that a transport
// (virtio/mmio) can present it to the guest. The transport owns the register file, the status
// state machine and feature negotiation; the device owns its config space and its queues once
// activated.
//
// Threads: register accesses, and so every VirtioDevice call below, come from vCPU threads with
// the transport's lock held (one call at a time per device); after activation the device does
// its queue work on the VMM thread. A device therefore synchronises its own state between the
// two, and never calls back into its transport (the VirtioInterrupt it signals is lock-free).
#pragma once

#include "virtio/queue/queue_config.hpp"
#include "vmm/core/guest_memory.hpp"
#include "vmm/core/irq_line.hpp"
#include "vmm/sys/event_fd.hpp"
#include "vmm/sys/result.hpp"

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

namespace ember::virtio {

constexpr uint64_t feature_bit(unsigned bit) {
    return uint64_t{1} << bit;
}
inline constexpr uint64_t kFeatureVersion1 = feature_bit(VIRTIO_F_VERSION_1);
inline constexpr uint64_t kFeatureAccessPlatform = feature_bit(VIRTIO_F_ACCESS_PLATFORM);
inline constexpr uint64_t kFeatureRingReset = feature_bit(VIRTIO_F_RING_RESET);

// The interrupt status bits (MMIO InterruptStatus; the same two bits as the PCI ISR).
inline constexpr uint32_t kInterruptUsedBuffer = VIRTIO_MMIO_INT_VRING;    // bit 0
inline constexpr uint32_t kInterruptConfigChange = VIRTIO_MMIO_INT_CONFIG; // bit 1
inline constexpr uint32_t kInterruptMask = kInterruptUsedBuffer | kInterruptConfigChange;

// How a device tells the driver something happened. Owned by the transport, which reads the
// status word for InterruptStatus and clears bits on InterruptACK; signalled by the device from
// the VMM thread. Every call is lock-free and callable from any thread.
class VirtioInterrupt final {
public:
    // `line` must outlive this object.
    explicit VirtioInterrupt(IrqLine& line) : line_(line) {}
    VirtioInterrupt(const VirtioInterrupt&) = delete;
    VirtioInterrupt& operator=(const VirtioInterrupt&) = delete;
    VirtioInterrupt(VirtioInterrupt&&) = delete;
    VirtioInterrupt& operator=(VirtioInterrupt&&) = delete;
    ~VirtioInterrupt() = default;

    // Used buffers were published (call after the used index is stored with release).
    void signal_used_queue() { raise(kInterruptUsedBuffer); }
    // The config space changed (bump the config generation first, so that a driver reading it
    // on this interrupt sees the new value).
    void signal_config_change() { raise(kInterruptConfigChange); }
    // The device hit a fault it cannot recover from (a guest-corrupted ring, a dead back end):
    // sets DEVICE_NEEDS_RESET in the status register and, as the device is live (DRIVER_OK),
    // sends a configuration change notification (virtio 1.2, 2.1.2). The driver must reset it.
    void report_broken() {
        needs_reset_.store(true);
        signal_config_change();
    }

    // For the transport.
    [[nodiscard]] uint32_t status() const { return status_.load(); }
    void acknowledge(uint32_t bits) { status_.fetch_and(~bits); }
    [[nodiscard]] bool needs_reset() const { return needs_reset_.load(); }
    // DEVICE_NEEDS_RESET without a notification: for a failed reset, when DRIVER_OK is clear.
    void mark_needs_reset() { needs_reset_.store(true); }
    // Device reset: no interrupt pending, no reset needed.
    void clear() {
        status_.store(0);
        needs_reset_.store(false);
    }
    // Restores the saved interrupt state (snapshot), without raising the line.
    void restore(uint32_t status, bool needs_reset) {
        status_.store(status & kInterruptMask);
        needs_reset_.store(needs_reset);
    }
    // Edges raised on the line so far (metrics).
    [[nodiscard]] uint64_t signals() const { return signals_.load(std::memory_order_relaxed); }

private:
    // The bit is visible before the edge: the guest's handler reads InterruptStatus first.
    void raise(uint32_t bit) {
        status_.fetch_or(bit);
        signals_.fetch_add(1, std::memory_order_relaxed);
        line_.trigger();
    }

    IrqLine& line_;
    std::atomic<uint32_t> status_{0};
    std::atomic<bool> needs_reset_{false};
    std::atomic<uint64_t> signals_{0};
};

// What a device gets when the driver sets DRIVER_OK.
struct ActivationContext {
    const GuestMemory& memory;
    uint64_t features; // negotiated: a subset of what was offered, VIRTIO_F_VERSION_1 included
    // The driver-programmed queues, one per entry of queue_max_sizes(). Only valid during
    // activate(): copy what you need. A queue with ready == false was not set up by the driver.
    std::span<const QueueConfig> queues;
    // queue_events[i] is signalled when the driver notifies queue i (a KVM ioeventfd on
    // QueueNotify with datamatch i, or the transport itself when the write reaches the bus).
    // Owned by the transport: valid as long as it lives. Read them on the VMM thread.
    std::span<const EventFd> queue_events;
    VirtioInterrupt& interrupt; // owned by the transport, valid as long as it lives
};

class VirtioDevice {
public:
    VirtioDevice() = default;
    virtual ~VirtioDevice() = default;
    VirtioDevice(const VirtioDevice&) = delete;
    VirtioDevice& operator=(const VirtioDevice&) = delete;
    VirtioDevice(VirtioDevice&&) = delete;
    VirtioDevice& operator=(VirtioDevice&&) = delete;

    // VIRTIO_ID_* (<linux/virtio_ids.h>).
    [[nodiscard]] virtual uint32_t device_type() const = 0;
    // Device and ring features offered (VIRTIO_F_RING_EVENT_IDX, INDIRECT_DESC, ...). The
    // transport adds VIRTIO_F_VERSION_1 and removes the transport features it lacks.
    [[nodiscard]] virtual uint64_t available_features() const = 0;
    // One entry per queue: its maximum size, a power of two in 1..32768. Fixed for the
    // device's lifetime (the transport reads it once).
    [[nodiscard]] virtual std::span<const uint16_t> queue_max_sizes() const = 0;

    // Config space accesses at `offset` from its start, 1, 2, 4 or 8 bytes, little endian as in
    // the spec. The transport zero-fills `out` first: leave bytes past the end of the config
    // space as they are, and ignore writes there or to read-only fields.
    virtual void read_config(uint32_t offset, std::span<std::byte> out) const = 0;
    virtual void write_config(uint32_t offset, std::span<const std::byte> in) = 0;
    // ConfigGeneration (virtio 1.2, 2.5.1): a device whose config space changes after the
    // driver may have read it increments this before the change is visible, then calls
    // VirtioInterrupt::signal_config_change() if active. Fixed config spaces keep the default.
    [[nodiscard]] virtual uint32_t config_generation() const { return 0; }

    // The driver set DRIVER_OK: start serving the queues. Called once per DRIVER_OK (again
    // only after a reset). An error sets DEVICE_NEEDS_RESET; the message is logged.
    virtual Result<void> activate(ActivationContext ctx) = 0;
    // The driver wrote 0 to Status (also before any activation, as Linux resets a device before
    // probing it): stop using the queues, eventfds and interrupt, and return to the initial
    // state. False when the device cannot: the transport then sets DEVICE_NEEDS_RESET.
    virtual bool reset() = 0;
};

} // namespace ember::virtio
