// The virtio-mmio devices of a VM: where each sits in the address map, what the guest is told
// about them (command line, ACPI, MP table), and the device objects once built.
//
// Placement (docs/devices.md): device i gets the 4 KiB window kVirtioMmioBase + i * 4 KiB and
// GSI kFirstVirtioGsi + i, up to GSI 23 (the last IOAPIC pin): 19 devices. Drives come first,
// the root drive before the others, so that it is /dev/vda in a Linux guest; then the network
// interfaces in the order given, then the entropy device, then the vsock device.
#pragma once

#include "boot/acpi/tables.hpp"
#include "virtio/block/block_device.hpp"
#include "virtio/mmio/mmio_transport.hpp"
#include "virtio/net/net_device.hpp"
#include "virtio/rng/rng_device.hpp"
#include "virtio/vsock/vsock_device.hpp"
#include "vmm/config.hpp"
#include "vmm/core/bus.hpp"
#include "vmm/core/event_loop.hpp"
#include "vmm/core/vm.hpp"

#include <memory>
#include <string>
#include <vector>

namespace ember {

inline constexpr uint64_t kVirtioMmioBase = 0xd000'0000;
inline constexpr uint64_t kVirtioMmioStride = 0x1000;
inline constexpr uint32_t kFirstVirtioGsi = 5;
inline constexpr uint32_t kLastVirtioGsi = 23;
inline constexpr size_t kMaxVirtioDevices = kLastVirtioGsi - kFirstVirtioGsi + 1;

struct VirtioSlot {
    uint64_t base = 0;
    uint32_t gsi = 0;
};

// The drives in bus order (root first), after checking them: at most one root, ids unique and
// at most 20 bytes, no more devices (drives, interfaces, entropy) than GSIs.
Result<std::vector<virtio::block::DriveConfig>> ordered_drives(const VmConfig& config);

// Slot i of the layout above.
[[nodiscard]] VirtioSlot virtio_slot(size_t index);
// The first slot a virtio device gets: 1 with --boot-timer, whose device takes slot 0's window
// (where Firecracker puts it), else 0.
[[nodiscard]] size_t first_virtio_slot(const VmConfig& config);

// Every virtio device of `config`: drives, network interfaces, the entropy and vsock devices.
[[nodiscard]] size_t virtio_device_count(const VmConfig& config);

// `cmdline` plus what a guest without ACPI needs: `virtio_mmio.device=4K@<base>:<gsi>` per
// device (the drives, then `other_devices` more, from slot `first`), and `root=/dev/vda rw|ro`
// for a root drive unless the command line names a root.
[[nodiscard]] std::string cmdline_with_devices(const std::string& cmdline,
                                               std::span<const virtio::block::DriveConfig> drives,
                                               size_t other_devices = 0, size_t first = 0);

// The DSDT entries for `count` slots from slot `first`.
[[nodiscard]] std::vector<boot::acpi::VirtioMmioDevice> acpi_virtio_devices(size_t count,
                                                                            size_t first = 0);

// One virtio-blk drive on the MMIO bus.
struct VirtioBlock {
    virtio::block::DriveConfig drive; // as configured (PATCH /drives reopens it with a new path)
    std::string name;
    VirtioSlot slot;
    std::unique_ptr<IrqLine> irq;
    std::unique_ptr<virtio::block::BlockDevice> device;
    std::shared_ptr<virtio::MmioTransport> transport;
};

// Opens the drive's disk, builds the device and transport, puts it on `mmio`, registers its
// QueueNotify ioeventfd and irqfd with KVM and its handlers in `loop`.
Result<VirtioBlock> add_block_device(const virtio::block::DriveConfig& drive, VirtioSlot slot,
                                     Vm& vm, const GuestMemory& memory, Bus& mmio, EventLoop& loop);

// "virtio-blk vda (drive 'rootfs', io_uring): 1200 reads (4.7 MiB), ..." for --timings.
[[nodiscard]] std::string describe_metrics(const VirtioBlock& block);

// The virtio-rng device.
struct VirtioRng {
    VirtioSlot slot;
    std::unique_ptr<IrqLine> irq;
    std::unique_ptr<virtio::rng::RngDevice> device;
    std::shared_ptr<virtio::MmioTransport> transport;
};

Result<VirtioRng> add_rng_device(const virtio::rng::EntropyConfig& entropy, VirtioSlot slot, Vm& vm,
                                 const GuestMemory& memory, Bus& mmio, EventLoop& loop);
[[nodiscard]] std::string describe_metrics(const VirtioRng& rng);

// One virtio-net interface over a tap.
struct VirtioNet {
    std::string id;   // iface_id (PATCH /network-interfaces finds the device by it)
    std::string name; // "virtio-net iface 'eth0' (tap 'tap0')"
    VirtioSlot slot;
    std::unique_ptr<IrqLine> irq;
    std::unique_ptr<virtio::net::NetDevice> device;
    std::shared_ptr<virtio::MmioTransport> transport;
};

// Opens the tap (which must exist: the error says how to create it) and plugs the device in.
Result<VirtioNet> add_net_device(const virtio::net::NetConfig& net, VirtioSlot slot, Vm& vm,
                                 const GuestMemory& memory, Bus& mmio, EventLoop& loop);
[[nodiscard]] std::string describe_metrics(const VirtioNet& net);

// The virtio-vsock device and its listening socket.
struct VirtioVsock {
    VirtioSlot slot;
    std::unique_ptr<IrqLine> irq;
    std::unique_ptr<virtio::vsock::VsockDevice> device;
    std::shared_ptr<virtio::MmioTransport> transport;
};

// Creates the listening socket at uds_path (which must not exist) and plugs the device in.
Result<VirtioVsock> add_vsock_device(const virtio::vsock::VsockConfig& vsock, VirtioSlot slot,
                                     Vm& vm, const GuestMemory& memory, Bus& mmio, EventLoop& loop);
[[nodiscard]] std::string describe_metrics(const VirtioVsock& vsock);

// Checks the interfaces: a tap each, ids and taps and MACs not shared.
Result<void> check_nets(const VmConfig& config);

// The irqfd and transport of `device` at `slot`: on `mmio`, with its QueueNotify ioeventfds.
struct MmioPlumbing {
    std::unique_ptr<IrqLine> irq;
    std::shared_ptr<virtio::MmioTransport> transport;
};
Result<MmioPlumbing> plumb_mmio_device(virtio::VirtioDevice& device, VirtioSlot slot,
                                       const std::string& name, Vm& vm, const GuestMemory& memory,
                                       Bus& mmio);

} // namespace ember
