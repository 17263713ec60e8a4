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
    EMBER_TRY_VOID(check_nets(config));
    const size_t room = kMaxVirtioDevices - first_virtio_slot(config);
    if (virtio_device_count(config) > room)
        return make_error(Errc::kInvalidArgument,
                          "{} virtio devices ({} drives, {} network interfaces, {} entropy, {} "
                          "vsock): ember has room for {} virtio devices (GSIs {}..{}{})",
                          virtio_device_count(config), drives.size(), config.nets.size(),
                          config.entropy ? 1 : 0, config.vsock ? 1 : 0, room, kFirstVirtioGsi,
                          kLastVirtioGsi,
                          config.boot_timer ? ", one window taken by --boot-timer" : "");
    return drives;
}

size_t first_virtio_slot(const VmConfig& config) {
    return config.boot_timer ? 1 : 0;
}

size_t virtio_device_count(const VmConfig& config) {
    return config.drives.size() + config.nets.size() + (config.entropy ? 1U : 0U) +
           (config.vsock ? 1U : 0U);
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
                                 size_t other_devices, size_t first) {
    std::string out = cmdline;
    for (size_t i = 0; i < drives.size() + other_devices; ++i) {
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

Result<MmioPlumbing> plumb_mmio_device(virtio::VirtioDevice& device, VirtioSlot slot,
                                       const std::string& name, Vm& vm, const GuestMemory& memory,
                                       Bus& mmio) {
    MmioPlumbing p;
    auto irq = KvmIrqLine::create(vm, slot.gsi);
    if (!irq) return tl::unexpected(std::move(irq.error()));
    p.irq = std::move(*irq);
    auto transport = virtio::MmioTransport::create(device, memory, *p.irq);
    if (!transport) return tl::unexpected(std::move(transport.error()));
    p.transport = std::move(*transport);
    EMBER_TRY_VOID(mmio.insert(p.transport, slot.base, virtio::mmio::kMmioWindowSize, name));
    // QueueNotify: caught by KVM (no exit), datamatch = the queue index.
    const auto events = p.transport->queue_events();
    for (size_t q = 0; q < events.size(); ++q)
        EMBER_TRY_VOID(vm.register_ioeventfd(events[q], Vm::IoSpace::kMmio,
                                             slot.base + virtio::MmioTransport::kQueueNotifyOffset,
                                             4, q));
    return p;
}

Result<VirtioRng> add_rng_device(const virtio::rng::EntropyConfig& entropy, VirtioSlot slot, Vm& vm,
                                 const GuestMemory& memory, Bus& mmio, EventLoop& loop) {
    VirtioRng rng;
    rng.slot = slot;
    auto device = virtio::rng::RngDevice::create(
        virtio::rng::RngOptions{.name = "virtio-rng", .rate_limiter = entropy.rate_limiter});
    if (!device) return tl::unexpected(std::move(device.error()).with_context("--entropy"));
    rng.device = std::move(*device);
    auto plumbing = plumb_mmio_device(*rng.device, slot, "virtio-rng", vm, memory, mmio);
    if (!plumbing) return tl::unexpected(std::move(plumbing.error()));
    rng.irq = std::move(plumbing->irq);
    rng.transport = std::move(plumbing->transport);
    EMBER_TRY_VOID(rng.device->attach(loop, rng.transport->queue_events()));
    return rng;
}

std::string describe_metrics(const VirtioRng& rng) {
    const auto m = rng.device->metrics();
    const auto t = rng.transport->counters();
    return fmt::format("virtio-rng: {} requests, {} bytes, {} bad requests, {} source errors, {} "
                       "throttled, {} kicks, {} interrupts, {} notifies that exited to ember, {} "
                       "resets{}",
                       m.requests, m.bytes, m.bad_requests, m.source_errors, m.throttled,
                       m.notifications, m.interrupts, t.notifies, t.resets,
                       m.broken != 0 ? ", DEVICE_NEEDS_RESET raised" : "");
}

Result<VirtioVsock> add_vsock_device(const virtio::vsock::VsockConfig& vsock, VirtioSlot slot,
                                     Vm& vm, const GuestMemory& memory, Bus& mmio,
                                     EventLoop& loop) {
    VirtioVsock v;
    v.slot = slot;
    auto device = virtio::vsock::VsockDevice::create(virtio::vsock::VsockOptions{
        .name = "virtio-vsock", .guest_cid = vsock.guest_cid, .uds_path = vsock.uds_path});
    if (!device) return tl::unexpected(std::move(device.error()).with_context("--vsock"));
    v.device = std::move(*device);
    auto plumbing = plumb_mmio_device(*v.device, slot, "virtio-vsock", vm, memory, mmio);
    if (!plumbing) return tl::unexpected(std::move(plumbing.error()));
    v.irq = std::move(plumbing->irq);
    v.transport = std::move(plumbing->transport);
    EMBER_TRY_VOID(v.device->attach(loop, v.transport->queue_events()));
    return v;
}

std::string describe_metrics(const VirtioVsock& vsock) {
    const auto m = vsock.device->metrics();
    const auto t = vsock.transport->counters();
    return fmt::format(
        "virtio-vsock (cid {}, '{}'): rx {} packets ({} bytes), {} bad buffers; tx {} packets ({} "
        "bytes), {} bad; streams: {} from the host, {} from the guest, {} refused, {} host "
        "sockets rejected, {} bad CONNECT lines, {} timeouts, {} RSTs sent, {} open, {} dropped "
        "at reset; {} kicks, {} interrupts, {} notifies that exited to ember, {} resets{}",
        vsock.device->guest_cid(), vsock.device->uds_path(), m.rx_packets, m.rx_bytes,
        m.rx_bad_buffers, m.tx_packets, m.tx_bytes, m.tx_bad_packets, m.host_connects,
        m.guest_connects, m.connect_refused, m.host_rejected, m.bad_connect_lines, m.timeouts,
        m.resets_to_guest, m.connections, m.dropped_at_reset, m.notifications, m.interrupts,
        t.notifies, t.resets, m.broken != 0 ? ", DEVICE_NEEDS_RESET raised" : "");
}

Result<void> check_nets(const VmConfig& config) {
    std::set<std::string> ids;
    std::set<std::string> taps;
    std::set<virtio::net::MacAddress> macs;
    for (const virtio::net::NetConfig& n : config.nets) {
        if (n.tap.empty())
            return make_error(Errc::kInvalidArgument, "--net: every interface needs tap=NAME");
        if (!n.id.empty() && !ids.insert(n.id).second)
            return make_error(Errc::kInvalidArgument,
                              "--net id={}: two interfaces have this id; give each its own", n.id);
        if (!taps.insert(n.tap).second)
            return make_error(Errc::kInvalidArgument,
                              "--net tap={}: two interfaces use this tap; a tap backs one "
                              "interface",
                              n.tap);
        if (n.mac && !macs.insert(*n.mac).second)
            return make_error(Errc::kInvalidArgument,
                              "--net mac={}: two interfaces have this MAC address",
                              virtio::net::format_mac(*n.mac));
    }
    return {};
}

Result<VirtioNet> add_net_device(const virtio::net::NetConfig& net, VirtioSlot slot, Vm& vm,
                                 const GuestMemory& memory, Bus& mmio, EventLoop& loop) {
    VirtioNet v;
    v.id = net.id;
    v.name = "virtio-net " + virtio::net::net_name(net);
    v.slot = slot;
    auto tap = virtio::net::Tap::open(net.tap);
    if (!tap) return tl::unexpected(std::move(tap.error()).with_context("--net"));
    auto device = virtio::net::NetDevice::create(
        std::move(*tap), virtio::net::NetOptions{.name = v.name,
                                                 .mac = net.mac,
                                                 .mtu = net.mtu,
                                                 .rx_rate_limiter = net.rx_rate_limiter,
                                                 .tx_rate_limiter = net.tx_rate_limiter});
    if (!device) return tl::unexpected(std::move(device.error()));
    v.device = std::move(*device);
    auto plumbing = plumb_mmio_device(*v.device, slot, v.name, vm, memory, mmio);
    if (!plumbing) return tl::unexpected(std::move(plumbing.error()));
    v.irq = std::move(plumbing->irq);
    v.transport = std::move(plumbing->transport);
    EMBER_TRY_VOID(v.device->attach(loop, v.transport->queue_events()));
    return v;
}

std::string describe_metrics(const VirtioNet& net) {
    const auto m = net.device->metrics();
    const auto t = net.transport->counters();
    return fmt::format(
        "{}: rx {} frames ({} bytes), {} dropped, {} bad buffers, {} waits for buffers, {} "
        "throttled; tx {} frames ({} bytes), {} dropped, {} tap errors, {} throttled; {} rx kicks, "
        "{} tx kicks, {} interrupts, {} notifies that exited to ember, {} resets{}",
        net.name, m.rx_frames, m.rx_bytes, m.rx_dropped, m.rx_bad_buffers, m.rx_waits,
        m.rx_throttled, m.tx_frames, m.tx_bytes, m.tx_dropped, m.tx_errors, m.tx_throttled,
        m.rx_kicks, m.tx_kicks, m.interrupts, t.notifies, t.resets,
        m.broken != 0 ? ", DEVICE_NEEDS_RESET raised" : "");
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
    auto plumbing = plumb_mmio_device(*block.device, slot, block.name, vm, memory, mmio);
    if (!plumbing) return tl::unexpected(std::move(plumbing.error()));
    block.irq = std::move(plumbing->irq);
    block.transport = std::move(plumbing->transport);
    EMBER_TRY_VOID(block.device->attach(loop, block.transport->queue_events()));
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
