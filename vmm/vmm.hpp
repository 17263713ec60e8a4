// Vmm: owns one microVM — KVM objects, guest memory, buses, devices, vCPU threads and the VMM
// thread's event loop — and runs it until the guest (or a signal) ends it.
//
// create() is the builder: config -> a VM ready to run. It validates every input (kernel, initrd,
// command line, memory size) before it writes a byte of guest memory.
#pragma once

#include "jail/seccomp.hpp"
#include "vmm/config.hpp"
#include "vmm/core/bus.hpp"
#include "vmm/core/coalesced_ring.hpp"
#include "vmm/core/event_loop.hpp"
#include "vmm/core/guest_exit.hpp"
#include "vmm/core/guest_memory.hpp"
#include "vmm/core/kvm.hpp"
#include "vmm/core/vcpu_thread.hpp"
#include "vmm/core/vm.hpp"
#include "vmm/devices/boot_timer.hpp"
#include "vmm/sys/event_fd.hpp"
#include "vmm/timings.hpp"
#include "vmm/virtio_devices.hpp"

#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember {

namespace devices {
class Serial;
class I8042;
} // namespace devices

// One drive's counters, for the metrics.
struct DriveMetrics {
    std::string id;
    std::string name;
    virtio::block::BlockMetrics block;
    virtio::MmioCounters transport;
};

// A snapshot of what the VM did so far; Vmm::metrics() takes it from any thread.
struct VmmMetrics {
    VcpuExitStats exits; // summed over the vCPUs
    std::vector<DriveMetrics> drives;
    std::vector<std::pair<std::string, virtio::net::NetMetrics>> nets; // by iface id
    std::optional<virtio::rng::RngMetrics> entropy;
    std::optional<virtio::vsock::VsockMetrics> vsock;
    std::optional<devices::BootTime> boot_time; // --boot-timer, once the guest signalled
};
class TerminalGuard;
class KernelBoot;

class Vmm final {
public:
    static Result<std::unique_ptr<Vmm>> create(const VmConfig& config, Timings& timings);
    ~Vmm();
    Vmm(const Vmm&) = delete;
    Vmm& operator=(const Vmm&) = delete;
    Vmm(Vmm&&) = delete;
    Vmm& operator=(Vmm&&) = delete;

    // Starts the vCPU threads (InstanceStart answers once they run); run() calls it if needed.
    Result<void> start();
    // Starts the vCPUs if needed and runs the event loop until the VM ends; returns why.
    Result<GuestExit> run(Timings& timings);

    // PATCH /vm: every vCPU out of KVM_RUN and parked (devices keep serving what is queued), or
    // running again. Each returns once all vCPUs reached the state. VMM thread only.
    void pause();
    void resume();
    [[nodiscard]] bool paused() const { return paused_; }

    // Adds `fd` to the VMM thread's event loop (the API's action channel): `on_readable` runs on
    // that thread whenever the fd is readable. Call before run() or from the VMM thread.
    Result<void> watch(int fd, std::function<void()> on_readable);

    // PATCH /drives after boot: a new image for drive `drive_id` (opened with the drive's
    // settings; the guest sees the new capacity), new token buckets, or both. VMM thread only.
    Result<void> update_drive(std::string_view drive_id, const std::optional<std::string>& path,
                              const std::optional<RateLimiterUpdate>& rate_limiter);

    // PATCH /network-interfaces after boot: new token buckets for interface `iface_id`.
    Result<void> update_net(std::string_view iface_id, const std::optional<RateLimiterUpdate>& rx,
                            const std::optional<RateLimiterUpdate>& tx);

    // Counters for the metrics; any thread.
    [[nodiscard]] VmmMetrics metrics() const;

    // The VM and vCPU fds: what the background teardown keeps (teardown.hpp).
    [[nodiscard]] std::vector<int> kvm_fds() const;

    // Exit counts summed over all vCPUs (valid after run()).
    [[nodiscard]] VcpuExitStats exit_stats() const;
    // One line per virtio device: requests, bytes, errors, kicks, interrupts (--timings).
    [[nodiscard]] std::vector<std::string> device_metrics() const;

    // Types Ctrl-Alt-Del on the i8042 keyboard (Firecracker's SendCtrlAltDel action): Linux
    // reboots, or tells init. Callable from any thread.
    void send_ctrl_alt_del();

private:
    Vmm(Kvm kvm, Vm vm, GuestMemory memory, EventLoop loop, EventFd exit_event);
    Result<void> add_legacy_devices(const VmConfig& config);
    // The network interfaces, the entropy and vsock devices, from virtio slot `first_slot` on.
    Result<void> add_other_virtio_devices(const VmConfig& config, size_t first_slot);
    Result<void> watch_stdin();
    Result<void> watch_signals();
    Result<void> create_vcpus(const VmConfig& config, const KernelBoot& kernel_boot);
    Result<void> coalesce_serial_output(const Vcpu& any_vcpu);
    void report_exit(GuestExit exit);
    Result<void> start_vcpus_jailed();
    void pump_stdin();

    Kvm kvm_;
    Vm vm_;
    GuestMemory memory_;
    EventLoop loop_;
    EventFd exit_event_;
    Bus pio_{"PIO"};
    Bus mmio_{"MMIO"};

    std::vector<std::unique_ptr<IrqLine>> irq_lines_;
    std::vector<VirtioBlock> blocks_; // after mmio_: destroyed before the bus drops the transports
    std::shared_ptr<devices::BootTimer> boot_timer_;
    std::vector<VirtioNet> nets_;
    std::optional<VirtioRng> rng_;
    std::optional<VirtioVsock> vsock_;
    std::shared_ptr<devices::Serial> serial_;
    std::shared_ptr<devices::I8042> i8042_;
    UniqueFd serial_file_;
    std::unique_ptr<TerminalGuard> terminal_;
    std::optional<EventFd> rx_room_event_;
    UniqueFd signal_fd_;
    // Console input: watched in the event loop (a pipe or terminal), paused while the guest's
    // receive FIFO is full, read on demand (a regular file), or closed (end of input).
    enum class StdinState { kClosed, kWatched, kPaused, kFile };
    StdinState stdin_ = StdinState::kClosed;

    std::unique_ptr<CoalescedRing> ring_; // used by the vCPU threads: declared before them
    UniqueFd drain_timer_;
    std::vector<std::unique_ptr<VcpuThread>> vcpus_;
    jail::SeccompFilters seccomp_;
    std::latch seccomp_gate_{1}; // vCPUs wait here until the VMM thread's filter is in place

    bool started_ = false;
    bool paused_ = false;

    std::mutex exit_mutex_;
    std::optional<GuestExit> exit_; // guarded by exit_mutex_; the first report wins
};

} // namespace ember
