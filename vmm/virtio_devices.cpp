#include "vmm/virtio_devices.hpp"

#include "virtio/mmio/mmio_layout.hpp"

#include <fmt/format.h>

#include <set>

namespace ember {

using virtio::block::DriveConfig;

Result<std::vector<DriveConfig>> ordered_drives(const VmConfig& config) {
    std::vector<DriveConfig> drives;
    std::set<std::string> ids;
    const DriveConfig* root = nullptr;
    for (const DriveConfig& d : config.drives) {
        if (d.path.empty())
            return make_error(Errc::kInvalidArgument, "--drive: every drive needs path=IMAGE");
        if (d.id.size() > virtio::block::kDiskIdBytes)
            return make_error(Errc::kInvalidArgument,
                              "--drive id={}: at most {} bytes (the virtio-blk GET_ID size)", d.id,
                              virtio::block::kDiskIdBytes);
        if (!d.id.empty() && !ids.insert(d.id).second)
            return make_error(Errc::kInvalidArgument,
                              "--drive id={}: two drives have this id; give each its own", d.id);
        if (d.root) {
            if (root != nullptr)
                return make_error(Errc::kInvalidArgument,
                                  "--drive: both {} and {} are marked root; only one can be",
                                  virtio::block::drive_name(*root), virtio::block::drive_name(d));
            root = &d;
        }
    }
    if (root != nullptr) drives.push_back(*root);
    for (const DriveConfig& d : config.drives)
        if (&d != root) drives.push_back(d);
    const size_t room = kMaxVirtioDevices - first_virtio_slot(config);
    if (drives.size() > room)
        return make_error(Errc::kInvalidArgument,
                          "{} drives: ember has room for {} virtio devices (GSIs {}..{}{})",
                          drives.size(), room, kFirstVirtioGsi, kLastVirtioGsi,
                          config.boot_timer ? ", one window taken by --boot-timer" : "");
    return drives;
}

size_t first_virtio_slot(const VmConfig& config) {
    return config.boot_timer ? 1 : 0;
}

VirtioSlot virtio_slot(size_t index) {
    return VirtioSlot{kVirtioMmioBase + index * kVirtioMmioStride,
                      kFirstVirtioGsi + static_cast<uint32_t>(index)};
}

namespace {

bool names_root(const std::string& cmdline) {
    size_t pos = 0;
    while ((pos = cmdline.find("root=", pos)) != std::string::npos) {
        if (pos == 0 || cmdline[pos - 1] == ' ' || cmdline[pos - 1] == '\t') return true;
        pos += 5;
    }
    return false;
}

} // namespace

std::string cmdline_with_devices(const std::string& cmdline, std::span<const DriveConfig> drives,
                                 size_t first) {
    std::string out = cmdline;
    for (size_t i = 0; i < drives.size(); ++i) {
        const VirtioSlot slot = virtio_slot(first + i);
        if (!out.empty()) out += ' ';
        out += virtio::mmio::kernel_cmdline_fragment(slot.base, slot.gsi);
    }
    if (!drives.empty() && drives[0].root && !names_root(cmdline))
        out += drives[0].read_only ? " root=/dev/vda ro" : " root=/dev/vda rw";
    return out;
}

std::vector<boot::acpi::VirtioMmioDevice> acpi_virtio_devices(size_t count, size_t first) {
    std::vector<boot::acpi::VirtioMmioDevice> devices;
    for (size_t i = 0; i < count; ++i) {
        const VirtioSlot slot = virtio_slot(first + i);
        devices.push_back({slot.base, virtio::mmio::kMmioWindowSize, slot.gsi});
    }
    return devices;
}

Result<VirtioBlock> add_block_device(const DriveConfig& drive, VirtioSlot slot, Vm& vm,
                                     const GuestMemory& memory, Bus& mmio, EventLoop& loop) {
    VirtioBlock block;
    block.drive = drive;
    block.name = virtio::block::drive_name(drive);
    block.slot = slot;
    auto engine = virtio::block::open_drive(drive);
    if (!engine) return tl::unexpected(std::move(engine.error()));
    auto device = virtio::block::BlockDevice::create(
        std::move(*engine), virtio::block::BlockOptions{.name = "virtio-blk " + block.name,
                                                        .rate_limiter = drive.rate_limiter});
    if (!device) return tl::unexpected(std::move(device.error()));
    block.device = std::move(*device);
    auto irq = KvmIrqLine::create(vm, slot.gsi);
    if (!irq) return tl::unexpected(std::move(irq.error()));
    block.irq = std::move(*irq);
    auto transport = virtio::MmioTransport::create(*block.device, memory, *block.irq);
    if (!transport) return tl::unexpected(std::move(transport.error()));
    block.transport = std::move(*transport);
    EMBER_TRY_VOID(
        mmio.insert(block.transport, slot.base, virtio::mmio::kMmioWindowSize, block.name));
    // QueueNotify: caught by KVM (no exit), datamatch = the queue index.
    const auto events = block.transport->queue_events();
    for (size_t q = 0; q < events.size(); ++q)
        EMBER_TRY_VOID(vm.register_ioeventfd(events[q], Vm::IoSpace::kMmio,
                                             slot.base + virtio::MmioTransport::kQueueNotifyOffset,
                                             4, q));
    EMBER_TRY_VOID(block.device->attach(loop, events));
    return block;
}

std::string describe_metrics(const VirtioBlock& block) {
    const auto m = block.device->metrics();
    const auto t = block.transport->counters();
    return fmt::format(
        "{} ({}): {} requests ({} reads {} KiB, {} writes {} KiB, {} flushes, {} discards, {} "
        "write-zeroes, {} GET_ID), {} I/O errors, {} unsupported, {} throttled, {} kicks, {} "
        "interrupts, {} polled passes, {} notifies that exited to ember, {} resets{}",
        block.name, to_string(block.device->engine().kind()), m.requests, m.reads,
        m.read_bytes / 1024, m.writes, m.write_bytes / 1024, m.flushes, m.discards, m.write_zeroes,
        m.get_ids, m.io_errors, m.unsupported, m.throttled, m.notifications, m.interrupts, m.polled,
        t.notifies, t.resets, m.broken != 0 ? ", DEVICE_NEEDS_RESET raised" : "");
}

} // namespace ember
