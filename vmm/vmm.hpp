// Vmm: owns one microVM — KVM objects, guest memory, buses, devices, vCPU threads and the VMM
// thread's event loop — and runs it until the guest (or a signal) ends it.
//
// create() is the builder: config -> a VM ready to run. It validates every input (kernel, initrd,
// command line, memory size) before it writes a byte of guest memory.
#pragma once

#include "vmm/config.hpp"
#include "vmm/core/bus.hpp"
#include "vmm/core/coalesced_ring.hpp"
#include "vmm/core/event_loop.hpp"
#include "vmm/core/guest_exit.hpp"
#include "vmm/core/guest_memory.hpp"
#include "vmm/core/kvm.hpp"
#include "vmm/core/vcpu_thread.hpp"
#include "vmm/core/vm.hpp"
#include "vmm/sys/event_fd.hpp"
#include "vmm/timings.hpp"
#include "vmm/virtio_devices.hpp"

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ember {

namespace devices {
class Serial;
class I8042;
} // namespace devices
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

    // Starts the vCPUs and runs the event loop until the VM ends; returns why it ended.
    Result<GuestExit> run(Timings& timings);

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
    // The network interfaces and the entropy device, from virtio slot `first_slot` on.
    Result<void> add_other_virtio_devices(const VmConfig& config, size_t first_slot);
    Result<void> watch_stdin();
    Result<void> watch_signals();
    Result<void> create_vcpus(const VmConfig& config, const KernelBoot& kernel_boot);
    Result<void> coalesce_serial_output(const Vcpu& any_vcpu);
    void report_exit(GuestExit exit);
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
    std::vector<VirtioNet> nets_;
    std::optional<VirtioRng> rng_;
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

    std::mutex exit_mutex_;
    std::optional<GuestExit> exit_; // guarded by exit_mutex_; the first report wins
};

} // namespace ember
