// MmioTransport: the virtio-mmio transport, version 2 (virtio 1.2, 4.2.2), in front of one
// VirtioDevice. The register table is in mmio_layout.hpp.
//
// Rules it enforces (a guest that breaks one is ignored, counted and logged, never trusted):
//   - control registers take aligned 32-bit accesses only; config space takes 1/2/4/8 bytes,
//     aligned to min(size, 4);
//   - Status bits are set in order ACKNOWLEDGE -> DRIVER -> FEATURES_OK -> DRIVER_OK (FAILED at
//     any time) and cleared only by writing 0, which resets the device and the transport;
//   - DriverFeatures is writable between DRIVER and FEATURES_OK; FEATURES_OK sticks only when
//     the driver's features are a subset of the offered ones and include VIRTIO_F_VERSION_1;
//   - queue registers are writable between FEATURES_OK and DRIVER_OK, on an existing queue that
//     is not ready; QueueNum must be a power of two no larger than QueueNumMax;
//   - DRIVER_OK activates the device once; a failed activation sets DEVICE_NEEDS_RESET.
//
// Threads: vCPU threads access registers under one mutex; the device signals its
// VirtioInterrupt from the VMM thread without it. Lock order: this transport, then the device.
#pragma once

#include "vmm/sys/logger.hpp"

#include "virtio/mmio/mmio_layout.hpp"
#include "virtio/queue/queue_config.hpp"
#include "virtio/virtio_device.hpp"
#include "vmm/core/bus_device.hpp"
#include "vmm/core/guest_memory.hpp"
#include "vmm/core/irq_line.hpp"
#include "vmm/sys/event_fd.hpp"
#include "vmm/sys/result.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ember::virtio {

// Guest accesses the transport refused, and the events worth a metric.
struct MmioCounters {
    uint64_t bad_accesses = 0;        // wrong width or alignment, or past the window
    uint64_t bad_registers = 0;       // no register there, or the wrong direction (R vs W)
    uint64_t ignored_writes = 0;      // a write the device state or the value does not allow
    uint64_t features_rejected = 0;   // FEATURES_OK refused (bad driver features)
    uint64_t notifies = 0;            // QueueNotify writes that reached the bus (no ioeventfd)
    uint64_t activations = 0;         // successful VirtioDevice::activate() calls
    uint64_t activation_failures = 0; // failed ones (DEVICE_NEEDS_RESET set)
    uint64_t resets = 0;              // writes of 0 to Status
    uint64_t reset_failures = 0;      // VirtioDevice::reset() returned false
};

// Everything the guest can observe of the transport, as plain data (snapshot/restore, tests).
struct MmioTransportState {
    uint32_t status = 0; // driver-written Status bits; DEVICE_NEEDS_RESET is `needs_reset`
    uint32_t device_features_sel = 0;
    uint32_t driver_features_sel = 0;
    uint64_t driver_features = 0;
    uint32_t queue_sel = 0;
    uint32_t shm_sel = 0;
    uint32_t interrupt_status = 0;
    bool needs_reset = false;
    bool activated = false;          // activate() succeeded since the last reset
    std::vector<QueueConfig> queues; // one per queue_max_sizes() entry
};

class MmioTransport final : public BusDevice {
public:
    // `device`, `memory` and `irq` must outlive the transport. Fails when the device's queue
    // sizes are not powers of two in 1..32768, or when an eventfd cannot be created.
    static Result<std::unique_ptr<MmioTransport>> create(VirtioDevice& device,
                                                         const GuestMemory& memory, IrqLine& irq);

    void read(uint64_t offset, std::span<std::byte> data) override;
    void write(uint64_t offset, std::span<const std::byte> data) override;

    // One eventfd per queue, signalled on QueueNotify. The VMM registers event i as a KVM
    // ioeventfd at base + kQueueNotifyOffset, 4 bytes, datamatch i, so that notifications do
    // not exit to user space; writes that still reach the bus are forwarded by the transport.
    [[nodiscard]] std::span<const EventFd> queue_events() const { return events_; }
    static constexpr uint64_t kQueueNotifyOffset = static_cast<uint64_t>(mmio::Reg::kQueueNotify);

    [[nodiscard]] VirtioInterrupt& interrupt() { return interrupt_; }
    // DeviceFeatures: the device's features plus VIRTIO_F_VERSION_1, minus the transport
    // features this transport does not implement (access platform, SR-IOV, notification
    // data, ring reset).
    [[nodiscard]] uint64_t offered_features() const;

    [[nodiscard]] MmioCounters counters() const;
    [[nodiscard]] MmioTransportState state() const;
    // Puts back a state() taken from a transport in front of the same kind of device. Activates
    // nothing: a device restored as active is restored by its owner. Fails (changing nothing)
    // when the state does not fit this device's queues or holds impossible values.
    Result<void> restore(const MmioTransportState& saved);

private:
    MmioTransport(VirtioDevice& device, const GuestMemory& memory, IrqLine& irq,
                  std::vector<EventFd> events);

    // All below with mu_ held.
    // Whether a config space access is well formed (counted and logged when not).
    bool config_access_ok(uint64_t offset, size_t size, std::string_view kind);
    // The register a control-register access may touch; nullptr (counted, logged) when the
    // width, alignment, offset or direction is wrong.
    const mmio::RegisterInfo* checked_register(uint64_t offset, size_t size, bool write);
    [[nodiscard]] uint32_t read_register(mmio::Reg reg) const;
    void write_register(mmio::Reg reg, uint32_t value);
    void write_driver_features(uint32_t value);
    void write_status(uint32_t value);
    void write_queue_ready(uint32_t value);
    void write_queue(mmio::Reg reg, uint32_t value);
    void notify(uint32_t value);
    void reset_device();
    void activate_device();
    [[nodiscard]] bool features_acceptable() const;
    [[nodiscard]] QueueConfig* selected_queue();
    [[nodiscard]] const QueueConfig* selected_queue() const;
    // Counts a refused guest access in `counter` and logs it when the running total of refused
    // accesses is a power of two (1, 2, 4, ...): a guest cannot flood the log.
    template <class... Args>
    void ignore(uint64_t& counter, fmt::format_string<Args...> format, Args&&... args);

    VirtioDevice& device_;
    const GuestMemory& memory_;
    VirtioInterrupt interrupt_;
    std::vector<EventFd> events_;
    std::string name_; // "virtio-mmio (device type N)", for logs

    mutable std::mutex mu_;
    MmioTransportState state_; // interrupt_status/needs_reset live in interrupt_
    MmioCounters counters_;
    uint64_t ignored_total_ = 0;
    // The driver decides how often these happen: a hostile one must not flood the log.
    log::RateLimitedLog guest_log_;
};

} // namespace ember::virtio
