// Queue: the device side of one split virtqueue (virtio 1.2, 2.7).
//
// Built from the QueueConfig the driver programmed, once the driver sets DRIVER_OK. The three
// ring areas are checked once, here, against guest RAM; after that the rings are touched only
// through host views of guest memory obtained from GuestMemory::span. Ring indices the guest
// writes are read with acquire, indices the device writes are published with release
// (std::atomic_ref on the shared words); descriptors are copied once (DescriptorChain).
//
// A Queue is used by one thread (the VMM thread). Every fault a hostile guest can cause comes
// back as a ChainFault: log it, set DEVICE_NEEDS_RESET and stop using the queue until reset.
//
// The device loop that neither misses a kick nor takes needless ones:
//
//     do {
//         queue.disable_notifications();
//         for (;;) {
//             auto chain = queue.pop();
//             if (!chain) return mark_broken(chain.error()); // log, DEVICE_NEEDS_RESET
//             if (!*chain) break;                            // nothing more available
//             (void)queue.add_used((*chain)->head(), process(**chain));
//         }
//         if (queue.needs_interrupt()) irq.trigger();
//     } while (queue.enable_notifications()); // true: the guest added work meanwhile
#pragma once

#include "virtio/queue/descriptor_chain.hpp"
#include "virtio/queue/queue_config.hpp"
#include "vmm/core/guest_memory.hpp"
#include "vmm/sys/result.hpp"

#include <cstdint>
#include <optional>
#include <span>

namespace ember::virtio {

// Everything a snapshot must carry besides the QueueConfig to resume a queue mid-flight.
struct QueueState {
    uint16_t last_avail_idx = 0;       // free-running index of the next avail entry to pop
    uint16_t next_used_idx = 0;        // free-running used->idx, as last published
    uint16_t signalled_used_idx = 0;   // next_used_idx when needs_interrupt() last ran
    bool signalled_used_valid = false; // false (fresh or restored): interrupt on the next check

    friend bool operator==(const QueueState&, const QueueState&) = default;
};

class Queue final {
public:
    static constexpr uint16_t kMaxSize = 32768; // 2.7: Queue Size is at most 32768

    // Checks `config` (ready, sizes, alignment, rings inside guest RAM) and takes the ring
    // features (VIRTIO_RING_F_EVENT_IDX, VIRTIO_RING_F_INDIRECT_DESC) from the negotiated
    // `features`. `memory` must outlive the Queue. `state` resumes a restored queue.
    static Result<Queue> create(const QueueConfig& config, const GuestMemory& memory,
                                uint64_t features, const QueueState& state = {});

    // The next available chain, std::nullopt when the driver has not made one available, or a
    // fault. A chain fault consumes the head (so a lenient device could still return it with
    // add_used(head, 0)); kBadAvailIdx consumes nothing and repeats until the queue is reset.
    ChainResult<std::optional<DescriptorChain>> pop();
    // The same into `out` (reusing its storage); false when there is nothing available.
    ChainResult<bool> pop_into(DescriptorChain& out);

    // Returns chain `head` to the driver with `written_len` bytes written into its writable
    // buffers, and publishes the new used->idx (release). Errors are ember bugs: a head out of
    // range, or more used entries than chains popped.
    Result<void> add_used(uint16_t head, uint32_t written_len);

    // Whether the driver wants an interrupt for the entries used since the last call: the
    // used_event rule (vring_need_event) with VIRTIO_RING_F_EVENT_IDX, else the avail ring's
    // VRING_AVAIL_F_NO_INTERRUPT flag. Call once after a batch of add_used.
    [[nodiscard]] bool needs_interrupt();

    // Asks the driver not to kick (VRING_USED_F_NO_NOTIFY; with EVENT_IDX, avail_event is simply
    // left behind). Advisory: the driver may kick anyway.
    void disable_notifications();
    // Asks for a kick on the next available chain, then re-reads avail->idx after a full fence:
    // true means work arrived before the request was visible, so the device must pop again
    // rather than sleep (the lost-wakeup race).
    [[nodiscard]] bool enable_notifications();
    // Whether the driver has made chains available that pop() has not taken (one acquire load
    // of avail->idx): what a device polls while notifications are off.
    [[nodiscard]] bool has_available() const { return load_avail_idx() != state_.last_avail_idx; }
    // With EVENT_IDX: ask to be kicked once avail->idx passes `avail_idx` (the used ring's
    // avail_event).
    void set_avail_event(uint16_t avail_idx);

    [[nodiscard]] const QueueState& state() const { return state_; }
    [[nodiscard]] const QueueConfig& config() const { return config_; }
    [[nodiscard]] uint16_t size() const { return config_.size; }
    [[nodiscard]] bool event_idx() const { return event_idx_; }
    [[nodiscard]] bool indirect_desc() const { return table_.indirect_desc; }

private:
    Queue(const QueueConfig& config, const GuestMemory& memory, uint64_t features,
          std::span<std::byte> avail, std::span<std::byte> used, const QueueState& state);

    [[nodiscard]] uint16_t load_avail_idx() const;

    const GuestMemory* memory_;
    QueueConfig config_;
    DescriptorTable table_;
    bool event_idx_;
    std::span<std::byte> avail_; // driver area: flags, idx, ring[size], used_event
    std::span<std::byte> used_;  // device area: flags, idx, ring[size], avail_event
    QueueState state_;
};

} // namespace ember::virtio
