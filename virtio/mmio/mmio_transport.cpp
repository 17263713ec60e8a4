#include "virtio/mmio/mmio_transport.hpp"

#include "vmm/sys/logger.hpp"

#include <linux/virtio_config.h>

#include <algorithm>
#include <bit>
#include <utility>

namespace ember::virtio {
namespace {

using mmio::Reg;

// Status bits the driver sets (virtio 1.2, 2.1); DEVICE_NEEDS_RESET (0x40) is the device's.
constexpr uint32_t kAcknowledge = VIRTIO_CONFIG_S_ACKNOWLEDGE;
constexpr uint32_t kDriver = VIRTIO_CONFIG_S_DRIVER;
constexpr uint32_t kFeaturesOk = VIRTIO_CONFIG_S_FEATURES_OK;
constexpr uint32_t kDriverOk = VIRTIO_CONFIG_S_DRIVER_OK;
constexpr uint32_t kFailed = VIRTIO_CONFIG_S_FAILED;
constexpr uint32_t kNeedsReset = VIRTIO_CONFIG_S_NEEDS_RESET;
constexpr uint32_t kDriverStatusBits = kAcknowledge | kDriver | kFeaturesOk | kDriverOk | kFailed;

// VIRTIO_F_NOTIFICATION_DATA (virtio 1.2, 6): not in every <linux/virtio_config.h> yet.
constexpr unsigned kNotificationDataBit = 38;
// Transport features we do not implement: no IOMMU, no SR-IOV, QueueNotify carries only the
// queue index, and there is no QueueReset register.
constexpr uint64_t kUnsupportedTransportFeatures =
    kFeatureAccessPlatform | feature_bit(VIRTIO_F_SR_IOV) | feature_bit(kNotificationDataBit) |
    kFeatureRingReset;

constexpr uint32_t kMaxQueueSize = 32768; // split virtqueues (virtio 1.2, 2.7)
constexpr uint32_t kAllOnes = 0xffff'ffff;
constexpr unsigned kHalfShift = 32;

bool valid_queue_size(uint32_t size, uint32_t max) {
    return size != 0 && size <= max && std::has_single_bit(size);
}

// Each new status bit needs the one before it; FAILED needs nothing.
bool status_in_order(uint32_t status) {
    const auto has = [status](uint32_t bit) { return (status & bit) != 0; };
    return (!has(kDriver) || has(kAcknowledge)) && (!has(kFeaturesOk) || has(kDriver)) &&
           (!has(kDriverOk) || has(kFeaturesOk));
}

// Registers are little endian (virtio 1.2, 4.2.2); written out so the host's order is moot.
uint32_t load_le32(std::span<const std::byte> bytes) {
    uint32_t value = 0;
    for (size_t i = 0; i < sizeof value; ++i)
        value |= std::to_integer<uint32_t>(bytes[i]) << (8 * i);
    return value;
}

void store_le32(std::span<std::byte> bytes, uint32_t value) {
    for (size_t i = 0; i < sizeof value; ++i)
        bytes[i] = static_cast<std::byte>(value >> (8 * i));
}

uint64_t set_half(uint64_t value, uint32_t half, bool high) {
    if (high) return (value & kAllOnes) | (uint64_t{half} << kHalfShift);
    return (value & ~uint64_t{kAllOnes}) | half;
}

QueueConfig initial_queue(uint16_t max_size) {
    // A driver that never writes QueueNum uses the largest queue, as with legacy devices.
    return QueueConfig{.max_size = max_size, .size = max_size};
}

} // namespace

Result<std::unique_ptr<MmioTransport>>
MmioTransport::create(VirtioDevice& device, const GuestMemory& memory, IrqLine& irq) {
    const std::span<const uint16_t> sizes = device.queue_max_sizes();
    std::vector<EventFd> events;
    events.reserve(sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) {
        if (!valid_queue_size(sizes[i], kMaxQueueSize))
            return make_error(
                Errc::kInternal,
                "virtio device type {}: queue {} has maximum size {}, not a power of two in 1..{}",
                device.device_type(), i, sizes[i], kMaxQueueSize);
        auto event = EventFd::create();
        if (!event) return tl::unexpected(std::move(event.error()).with_context("virtio-mmio"));
        events.push_back(std::move(*event));
    }
    // The constructor is private: make_unique cannot reach it.
    return std::unique_ptr<MmioTransport>(
        new MmioTransport(device, memory, irq, std::move(events)));
}

MmioTransport::MmioTransport(VirtioDevice& device, const GuestMemory& memory, IrqLine& irq,
                             std::vector<EventFd> events)
    : device_(device), memory_(memory), interrupt_(irq), events_(std::move(events)),
      name_(fmt::format("virtio-mmio (device type {})", device.device_type())) {
    for (const uint16_t max_size : device.queue_max_sizes())
        state_.queues.push_back(initial_queue(max_size));
}

uint64_t MmioTransport::offered_features() const {
    return (device_.available_features() & ~kUnsupportedTransportFeatures) | kFeatureVersion1;
}

template <class... Args>
void MmioTransport::ignore(uint64_t& counter, fmt::format_string<Args...> format, Args&&... args) {
    ++counter;
    ++ignored_total_;
    if (std::has_single_bit(ignored_total_))
        log::warn("{}: ignored {} ({} ignored so far; logged at powers of two)", name_,
                  fmt::format(format, std::forward<Args>(args)...), ignored_total_);
}

// ---- bus accesses ---------------------------------------------------------------------------

void MmioTransport::read(uint64_t offset, std::span<std::byte> data) {
    std::ranges::fill(data, std::byte{0});
    const std::lock_guard lock(mu_);
    if (offset >= mmio::kConfigStart) {
        if (config_access_ok(offset, data.size(), "read"))
            device_.read_config(static_cast<uint32_t>(offset - mmio::kConfigStart), data);
    } else if (const mmio::RegisterInfo* info = checked_register(offset, data.size(), false)) {
        store_le32(data, read_register(info->reg));
    }
}

void MmioTransport::write(uint64_t offset, std::span<const std::byte> data) {
    const std::lock_guard lock(mu_);
    if (offset >= mmio::kConfigStart) {
        if (config_access_ok(offset, data.size(), "write"))
            device_.write_config(static_cast<uint32_t>(offset - mmio::kConfigStart), data);
    } else if (const mmio::RegisterInfo* info = checked_register(offset, data.size(), true)) {
        write_register(info->reg, load_le32(data));
    }
}

bool MmioTransport::config_access_ok(uint64_t offset, size_t size, std::string_view kind) {
    const bool ok = (size == 1 || size == 2 || size == 4 || size == 8) &&
                    offset % std::min<size_t>(size, 4) == 0 && offset < mmio::kMmioWindowSize &&
                    size <= mmio::kMmioWindowSize - offset;
    if (!ok) ignore(counters_.bad_accesses, "{}-byte config {} at {:#x}", size, kind, offset);
    return ok;
}

const mmio::RegisterInfo* MmioTransport::checked_register(uint64_t offset, size_t size,
                                                          bool write) {
    const std::string_view kind = write ? "write" : "read";
    if (size != mmio::kRegisterWidth || offset % mmio::kRegisterWidth != 0) {
        ignore(counters_.bad_accesses, "{}-byte {} at {:#x}: not an aligned 32-bit access", size,
               kind, offset);
        return nullptr;
    }
    const mmio::RegisterInfo* info = mmio::find_register(offset);
    if (info == nullptr) {
        ignore(counters_.bad_registers, "{} at {:#x}: no register there", kind, offset);
        return nullptr;
    }
    if (!(write ? mmio::writable(info->access) : mmio::readable(info->access))) {
        ignore(counters_.bad_registers, "{} of {} at {:#x}: it is {}-only", kind, info->name,
               offset, write ? "read" : "write");
        return nullptr;
    }
    return info;
}

// ---- registers (mu_ held) -------------------------------------------------------------------

uint32_t MmioTransport::read_register(Reg reg) const {
    const QueueConfig* queue = selected_queue();
    switch (reg) {
    case Reg::kMagicValue:
        return mmio::kMagic;
    case Reg::kVersion:
        return mmio::kMmioVersion;
    case Reg::kDeviceId:
        return device_.device_type();
    case Reg::kVendorId:
        return mmio::kEmberVendorId;
    case Reg::kDeviceFeatures:
        // Windows past bit 63 read as 0: no such features.
        if (state_.device_features_sel > 1) return 0;
        return static_cast<uint32_t>(offered_features() >>
                                     (kHalfShift * state_.device_features_sel));
    case Reg::kQueueNumMax:
        return queue != nullptr ? queue->max_size : 0; // 0: no such queue (4.2.2)
    case Reg::kQueueReady:
        return queue != nullptr && queue->ready ? 1 : 0;
    case Reg::kInterruptStatus:
        return interrupt_.status();
    case Reg::kStatus:
        return state_.status | (interrupt_.needs_reset() ? kNeedsReset : 0);
    case Reg::kShmLenLow:
    case Reg::kShmLenHigh:
    case Reg::kShmBaseLow:
    case Reg::kShmBaseHigh:
        return kAllOnes; // length -1: no shared memory region with this ID (4.2.2)
    case Reg::kConfigGeneration:
        return device_.config_generation();
    default:
        return 0; // write-only registers never get here (the table's access column)
    }
}

void MmioTransport::write_register(Reg reg, uint32_t value) {
    switch (reg) {
    case Reg::kDeviceFeaturesSel:
        state_.device_features_sel = value;
        break;
    case Reg::kDriverFeatures:
        write_driver_features(value);
        break;
    case Reg::kDriverFeaturesSel:
        state_.driver_features_sel = value;
        break;
    case Reg::kQueueSel:
        // Any value: selecting a queue that does not exist is how a driver probes (QueueNumMax 0).
        state_.queue_sel = value;
        break;
    case Reg::kQueueReady:
        write_queue_ready(value);
        break;
    case Reg::kQueueNotify:
        notify(value);
        break;
    case Reg::kInterruptAck:
        interrupt_.acknowledge(value & kInterruptMask);
        break;
    case Reg::kStatus:
        write_status(value);
        break;
    case Reg::kShmSel:
        state_.shm_sel = value;
        break;
    default: // QueueNum and the ring addresses
        write_queue(reg, value);
        break;
    }
}

void MmioTransport::write_driver_features(uint32_t value) {
    if ((state_.status & kDriver) == 0 || (state_.status & kFeaturesOk) != 0) {
        ignore(counters_.ignored_writes,
               "DriverFeatures {:#x} with status {:#x}: only between DRIVER and FEATURES_OK", value,
               state_.status);
        return;
    }
    const uint32_t sel = state_.driver_features_sel;
    if (sel > 1) {
        if (value != 0)
            ignore(counters_.ignored_writes,
                   "DriverFeatures {:#x} in window {}: no features past bit 63", value, sel);
        return;
    }
    state_.driver_features = set_half(state_.driver_features, value, sel == 1);
}

bool MmioTransport::features_acceptable() const {
    const uint64_t features = state_.driver_features;
    return (features & ~offered_features()) == 0 && (features & kFeatureVersion1) != 0;
}

void MmioTransport::write_status(uint32_t value) {
    if (value == 0) {
        reset_device();
        return;
    }
    const uint32_t old = state_.status;
    const uint32_t wanted = value & ~kNeedsReset; // the device's bit: a read-modify-write echo
    if ((wanted & ~kDriverStatusBits) != 0 || (wanted & old) != old || !status_in_order(wanted)) {
        ignore(counters_.ignored_writes,
               "Status {:#x} over {:#x}: bits are set in order and cleared only by writing 0",
               value, old);
        return;
    }
    uint32_t next = wanted;
    if ((wanted & ~old & kFeaturesOk) != 0 && !features_acceptable()) {
        // The bit reads back clear: that is how the driver learns (virtio 1.2, 3.1.1).
        next &= ~(kFeaturesOk | kDriverOk);
        ++counters_.features_rejected;
        guest_log_.warn(
            "{}: FEATURES_OK refused: driver features {:#x}, offered {:#x} (VERSION_1 is required)",
            name_, state_.driver_features, offered_features());
    }
    state_.status = next;
    if ((next & ~old & kDriverOk) != 0) activate_device();
}

void MmioTransport::activate_device() {
    if (state_.activated) return;
    if (interrupt_.needs_reset() || (state_.status & kFailed) != 0) {
        ignore(counters_.ignored_writes,
               "DRIVER_OK on a device that needs a reset or failed (status {:#x})", state_.status);
        return;
    }
    auto result = device_.activate(ActivationContext{.memory = memory_,
                                                     .features = state_.driver_features,
                                                     .queues = state_.queues,
                                                     .queue_events = events_,
                                                     .interrupt = interrupt_});
    if (!result) {
        ++counters_.activation_failures;
        guest_log_.warn("{}: activation failed, the driver must reset the device: {}", name_,
                        result.error().describe());
        interrupt_.report_broken(); // DEVICE_NEEDS_RESET + config change (virtio 1.2, 2.1.2)
        return;
    }
    state_.activated = true;
    ++counters_.activations;
}

void MmioTransport::reset_device() {
    ++counters_.resets;
    // The device stops signalling first, so that no interrupt bit outlives the reset.
    const bool ok = device_.reset();
    // Every field back to its initial value; the queue vector is reused (no allocation).
    std::vector<QueueConfig> queues = std::move(state_.queues);
    for (QueueConfig& queue : queues)
        queue = initial_queue(queue.max_size);
    state_ = MmioTransportState{};
    state_.queues = std::move(queues);
    interrupt_.clear();
    if (!ok) {
        ++counters_.reset_failures;
        log::error("{}: the device could not reset; it stays unusable (DEVICE_NEEDS_RESET)", name_);
        interrupt_.mark_needs_reset();
    }
}

QueueConfig* MmioTransport::selected_queue() {
    return state_.queue_sel < state_.queues.size() ? &state_.queues[state_.queue_sel] : nullptr;
}

const QueueConfig* MmioTransport::selected_queue() const {
    return state_.queue_sel < state_.queues.size() ? &state_.queues[state_.queue_sel] : nullptr;
}

void MmioTransport::write_queue_ready(uint32_t value) {
    QueueConfig* queue = selected_queue();
    if (queue == nullptr || value > 1) {
        ignore(counters_.ignored_writes, "QueueReady {:#x} for queue {}", value, state_.queue_sel);
        return;
    }
    // Linux writes 0 to each queue when it deletes the queues, after the reset: harmless.
    if (queue->ready == (value == 1)) return;
    if ((state_.status & kFeaturesOk) == 0 || (state_.status & kDriverOk) != 0) {
        ignore(counters_.ignored_writes,
               "QueueReady {} with status {:#x}: only between FEATURES_OK and DRIVER_OK", value,
               state_.status);
        return;
    }
    queue->ready = value == 1;
}

void MmioTransport::write_queue(Reg reg, uint32_t value) {
    const std::string_view name = mmio::find_register(static_cast<uint64_t>(reg))->name;
    QueueConfig* queue = selected_queue();
    if (queue == nullptr) {
        ignore(counters_.ignored_writes, "{} {:#x} for queue {}: no such queue", name, value,
               state_.queue_sel);
        return;
    }
    if ((state_.status & kFeaturesOk) == 0 || (state_.status & kDriverOk) != 0 || queue->ready) {
        ignore(counters_.ignored_writes,
               "{} {:#x} for queue {} (status {:#x}, ready {}): not while ready or live", name,
               value, state_.queue_sel, state_.status, queue->ready);
        return;
    }
    switch (reg) {
    case Reg::kQueueNum:
        if (!valid_queue_size(value, queue->max_size)) {
            ignore(counters_.ignored_writes,
                   "QueueNum {} for queue {}: not a power of two in 1..{}", value, state_.queue_sel,
                   queue->max_size);
            return;
        }
        queue->size = static_cast<uint16_t>(value);
        break;
    case Reg::kQueueDescLow:
    case Reg::kQueueDescHigh:
        queue->desc = set_half(queue->desc, value, reg == Reg::kQueueDescHigh);
        break;
    case Reg::kQueueDriverLow:
    case Reg::kQueueDriverHigh:
        queue->avail = set_half(queue->avail, value, reg == Reg::kQueueDriverHigh);
        break;
    case Reg::kQueueDeviceLow:
    case Reg::kQueueDeviceHigh:
        queue->used = set_half(queue->used, value, reg == Reg::kQueueDeviceHigh);
        break;
    default:
        break; // write_register() sends only queue registers here
    }
}

void MmioTransport::notify(uint32_t value) {
    if (value >= events_.size()) {
        ignore(counters_.ignored_writes, "QueueNotify {}: no such queue", value);
        return;
    }
    ++counters_.notifies;
    events_[value].signal();
}

// ---- state ----------------------------------------------------------------------------------

MmioCounters MmioTransport::counters() const {
    const std::lock_guard lock(mu_);
    return counters_;
}

MmioTransportState MmioTransport::state() const {
    const std::lock_guard lock(mu_);
    MmioTransportState saved = state_;
    saved.interrupt_status = interrupt_.status();
    saved.needs_reset = interrupt_.needs_reset();
    return saved;
}

Result<void> MmioTransport::restore(const MmioTransportState& saved) {
    const std::lock_guard lock(mu_);
    if (saved.queues.size() != state_.queues.size())
        return make_error(Errc::kInvalidInput, "{}: saved state has {} queues, the device {}",
                          name_, saved.queues.size(), state_.queues.size());
    for (size_t i = 0; i < saved.queues.size(); ++i) {
        const QueueConfig& queue = saved.queues[i];
        if (queue.max_size != state_.queues[i].max_size ||
            !valid_queue_size(queue.size, queue.max_size))
            return make_error(Errc::kInvalidInput,
                              "{}: saved queue {} has size {} of {}, the device offers {}", name_,
                              i, queue.size, queue.max_size, state_.queues[i].max_size);
    }
    if ((saved.status & ~kDriverStatusBits) != 0 || !status_in_order(saved.status))
        return make_error(Errc::kInvalidInput, "{}: saved status {:#x} is impossible", name_,
                          saved.status);
    state_ = saved;
    state_.interrupt_status = 0;
    state_.needs_reset = false;
    interrupt_.restore(saved.interrupt_status, saved.needs_reset);
    return {};
}

} // namespace ember::virtio
