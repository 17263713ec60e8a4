#include "vmm/vmm.hpp"

#include "boot/acpi/tables.hpp"
#include "boot/kernel_image.hpp"
#include "boot/x86_64/mptable.hpp"
#include "vmm/bundled_kernel.hpp"
#include "vmm/core/x86_cpu.hpp"
#include "vmm/devices/acpi_pm.hpp"
#include "vmm/devices/boot_timer.hpp"
#include "vmm/devices/exit_device.hpp"
#include "vmm/devices/i8042.hpp"
#include "vmm/devices/serial.hpp"
#include "vmm/kernel_boot.hpp"
#include "vmm/sys/exit_code.hpp"
#include "vmm/sys/logger.hpp"
#include "vmm/terminal.hpp"
#include "vmm/virtio_devices.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>

namespace ember {
namespace {

struct LoadedImages {
    boot::KernelImage kernel;
    std::optional<boot::KernelImage> initrd;
};

Result<LoadedImages> open_images(const VmConfig& config) {
    auto kernel = config.kernel_path
                      ? boot::KernelImage::open(*config.kernel_path, boot::ImageKind::kKernel)
                      : Result<boot::KernelImage>(boot::KernelImage::from_bytes(
                            kBundledKernelName, bundled_kernel(), boot::ImageKind::kKernel));
    if (!kernel) return tl::unexpected(std::move(kernel.error()));
    std::optional<boot::KernelImage> initrd;
    if (config.initrd_path) {
        auto image = boot::KernelImage::open(*config.initrd_path, boot::ImageKind::kInitrd);
        if (!image) return tl::unexpected(std::move(image.error()));
        initrd.emplace(std::move(*image));
    }
    return LoadedImages{std::move(*kernel), std::move(initrd)};
}

// ACPI (RSDP at the address the boot protocols pass on) and, for older kernels and unikernels,
// the MP table, both listing the virtio-mmio devices' interrupts.
Result<void> write_platform_tables(const GuestMemory& memory, uint32_t vcpus, size_t virtio_devices,
                                   size_t first_slot) {
    auto acpi = boot::acpi::write_acpi_tables(
        memory, boot::acpi::AcpiConfig{vcpus, acpi_virtio_devices(virtio_devices, first_slot)});
    if (!acpi) return tl::unexpected(std::move(acpi.error()));
    std::vector<uint32_t> gsis;
    for (size_t i = 0; i < virtio_devices; ++i)
        gsis.push_back(virtio_slot(first_slot + i).gsi);
    auto mptable = boot::write_mptable(memory, boot::MpTableConfig{vcpus, std::move(gsis)});
    if (!mptable) return tl::unexpected(std::move(mptable.error()));
    return {};
}

Result<UniqueFd> open_serial_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return sys_error(Errc::kNotFound, "--serial file:{}: cannot open for writing", path);
    return UniqueFd(fd);
}

} // namespace

Vmm::Vmm(Kvm kvm, Vm vm, GuestMemory memory, EventLoop loop, EventFd exit_event)
    : kvm_(std::move(kvm)), vm_(std::move(vm)), memory_(std::move(memory)), loop_(std::move(loop)),
      exit_event_(std::move(exit_event)) {}

Vmm::~Vmm() {
    // vCPU threads reference the buses and devices: stop them before anything else goes.
    for (auto& v : vcpus_)
        v->stop();
}

Result<std::unique_ptr<Vmm>> Vmm::create(const VmConfig& config, Timings& timings) {
    // 1. Inputs first: a bad kernel, initrd or command line is reported before KVM is touched.
    auto images = open_images(config);
    if (!images) return tl::unexpected(std::move(images.error()));
    auto memory = GuestMemory::create(GuestMemory::x86_regions(config.mem_mib * layout::kMiB));
    if (!memory) return tl::unexpected(std::move(memory.error()));
    auto drives = ordered_drives(config);
    if (!drives) return tl::unexpected(std::move(drives.error()));
    const size_t first_slot = first_virtio_slot(config);
    auto kernel_boot = KernelBoot::plan(
        images->kernel, images->initrd ? &*images->initrd : nullptr,
        cmdline_with_devices(config.cmdline, *drives, virtio_device_count(config) - drives->size(),
                             first_slot),
        config.boot_protocol, *memory);
    if (!kernel_boot) return tl::unexpected(std::move(kernel_boot.error()));
    auto seccomp =
        jail::SeccompFilters::prepare(config.seccomp, jail::FilterParams{VcpuThread::kick_signal()},
                                      {jail::ThreadKind::kVmm, jail::ThreadKind::kVcpu});
    if (!seccomp) return tl::unexpected(std::move(seccomp.error()));
    timings.kernel_read = monotonic_ns();

    // 2. KVM: memory slots before the irqchip (see vm.hpp for why the order matters).
    auto kvm = Kvm::open();
    if (!kvm) return tl::unexpected(std::move(kvm.error()));
    auto vm = Vm::create(*kvm);
    if (!vm) return tl::unexpected(std::move(vm.error()));
    EMBER_TRY_VOID(vm->set_memory(*memory));
    EMBER_TRY_VOID(vm->create_platform());
    auto loop = EventLoop::create();
    if (!loop) return tl::unexpected(std::move(loop.error()));
    auto exit_event = EventFd::create();
    if (!exit_event) return tl::unexpected(std::move(exit_event.error()));
    std::unique_ptr<Vmm> vmm(new Vmm(std::move(*kvm), std::move(*vm), std::move(*memory),
                                     std::move(*loop), std::move(*exit_event)));
    vmm->seccomp_ = std::move(*seccomp);
    timings.vm_created = monotonic_ns();

    // 3. Guest memory: segments, command line, boot structures, initrd.
    EMBER_TRY_VOID(kernel_boot->load(vmm->memory_));
    EMBER_TRY_VOID(
        write_platform_tables(vmm->memory_, config.vcpus, virtio_device_count(config), first_slot));
    timings.loaded = monotonic_ns();

    // 4. Devices and the VMM thread's event sources.
    EMBER_TRY_VOID(vmm->add_legacy_devices(config));
    if (config.boot_timer) {
        vmm->boot_timer_ = std::make_shared<devices::BootTimer>(timings.start);
        EMBER_TRY_VOID(
            vmm->mmio_.insert(vmm->boot_timer_, kVirtioMmioBase, kVirtioMmioStride, "boot timer"));
    }
    for (size_t i = 0; i < drives->size(); ++i) {
        auto block = add_block_device((*drives)[i], virtio_slot(first_slot + i), vmm->vm_,
                                      vmm->memory_, vmm->mmio_, vmm->loop_);
        if (!block) return tl::unexpected(std::move(block.error()));
        vmm->blocks_.push_back(std::move(*block));
    }
    EMBER_TRY_VOID(vmm->add_other_virtio_devices(config, first_slot + drives->size()));
    EMBER_TRY_VOID(vmm->watch_signals());
    EMBER_TRY_VOID(vmm->loop_.add(vmm->exit_event_.fd(), EPOLLIN, [raw = vmm.get()](uint32_t) {
        raw->exit_event_.consume();
        raw->loop_.stop();
    }));
    timings.devices = monotonic_ns();

    // 5. vCPUs, the boot processor at the kernel's entry.
    EMBER_TRY_VOID(vmm->create_vcpus(config, *kernel_boot));
    timings.vcpus_ready = monotonic_ns();
    return vmm;
}

Result<void> Vmm::add_other_virtio_devices(const VmConfig& config, size_t first_slot) {
    size_t slot = first_slot;
    for (const auto& net : config.nets) {
        auto v = add_net_device(net, virtio_slot(slot++), vm_, memory_, mmio_, loop_);
        if (!v) return tl::unexpected(std::move(v.error()));
        nets_.push_back(std::move(*v));
    }
    if (config.entropy) {
        auto rng = add_rng_device(*config.entropy, virtio_slot(slot++), vm_, memory_, mmio_, loop_);
        if (!rng) return tl::unexpected(std::move(rng.error()));
        rng_ = std::move(*rng);
    }
    if (config.vsock) {
        auto v = add_vsock_device(*config.vsock, virtio_slot(slot++), vm_, memory_, mmio_, loop_);
        if (!v) return tl::unexpected(std::move(v.error()));
        vsock_ = std::move(*v);
    }
    return {};
}

Result<void> Vmm::add_legacy_devices(const VmConfig& config) {
    // The legacy PC port map: docs/devices.md.
    auto irq = KvmIrqLine::create(vm_, devices::kCom1Irq);
    if (!irq) return tl::unexpected(std::move(irq.error()));
    int out_fd = devices::SerialOutput::kNoOutput;
    switch (config.serial.mode) {
    case SerialConfig::Mode::kStdout:
        out_fd = STDOUT_FILENO;
        break;
    case SerialConfig::Mode::kNone:
        break;
    case SerialConfig::Mode::kFile: {
        auto file = open_serial_file(config.serial.path);
        if (!file) return tl::unexpected(std::move(file.error()));
        serial_file_ = std::move(*file);
        out_fd = serial_file_.get();
        break;
    }
    }
    serial_ = std::make_shared<devices::Serial>(**irq, out_fd);
    irq_lines_.push_back(std::move(*irq));
    EMBER_TRY_VOID(
        pio_.insert(serial_, devices::kCom1Base, devices::kSerialPortCount, "serial (COM1)"));

    ExitReporter reporter = [this](GuestExit e) { report_exit(std::move(e)); };
    auto kbd_irq = KvmIrqLine::create(vm_, devices::kI8042KbdIrq);
    if (!kbd_irq) return tl::unexpected(std::move(kbd_irq.error()));
    i8042_ = std::make_shared<devices::I8042>(reporter, **kbd_irq);
    irq_lines_.push_back(std::move(*kbd_irq));
    EMBER_TRY_VOID(pio_.insert(i8042_, devices::kI8042Base, devices::kI8042PortCount, "i8042"));
    EMBER_TRY_VOID(pio_.insert(std::make_shared<devices::AcpiPm>(reporter), boot::acpi::kPmPort, 1,
                               "ACPI power management"));
    EMBER_TRY_VOID(pio_.insert(std::make_shared<devices::ExitDevice>(reporter),
                               devices::kExitDeviceBase, devices::kExitDevicePortCount,
                               "exit device"));
    if (config.serial.mode == SerialConfig::Mode::kStdout) EMBER_TRY_VOID(watch_stdin());
    return {};
}

void Vmm::send_ctrl_alt_del() {
    if (i8042_) i8042_->send_ctrl_alt_del();
}

Result<void> Vmm::watch_stdin() {
    auto room = EventFd::create();
    if (!room) return tl::unexpected(std::move(room.error()));
    rx_room_event_.emplace(std::move(*room));
    terminal_ = std::make_unique<TerminalGuard>(STDIN_FILENO);
    serial_->set_rx_room_callback([this] { rx_room_event_->signal(); });
    EMBER_TRY_VOID(loop_.add(rx_room_event_->fd(), EPOLLIN, [this](uint32_t) {
        rx_room_event_->consume();
        if (stdin_ == StdinState::kPaused) {
            if (!loop_.add(STDIN_FILENO, EPOLLIN, [this](uint32_t) { pump_stdin(); })) {
                stdin_ = StdinState::kClosed;
                return;
            }
            stdin_ = StdinState::kWatched;
        }
        if (stdin_ != StdinState::kClosed) pump_stdin();
    }));
    auto added = loop_.add(STDIN_FILENO, EPOLLIN, [this](uint32_t) { pump_stdin(); });
    if (added) {
        stdin_ = StdinState::kWatched;
    } else if (added.error().sys_errno() == EPERM) {
        // A regular file (or /dev/null) cannot be polled, but it never blocks either: read it
        // whenever the guest has room.
        stdin_ = StdinState::kFile;
        pump_stdin();
    } else {
        log::warn("the guest console gets no input: {}", added.error().describe());
    }
    return {};
}

void Vmm::pump_stdin() {
    std::array<std::byte, 64> buf{};
    do {
        const size_t room = serial_->rx_room();
        if (room == 0) {
            // The guest has not drained its receive FIFO. Stop watching stdin until it does:
            // only removing it works, since a closed pipe reports EPOLLHUP whatever we ask for.
            if (stdin_ == StdinState::kWatched) {
                loop_.remove(STDIN_FILENO);
                stdin_ = StdinState::kPaused;
            }
            return;
        }
        // A pipe or terminal is read only when it has something: the room callback also lands
        // here, and a blocking read of an idle pipe would stall the whole VMM thread.
        if (stdin_ != StdinState::kFile) {
            pollfd ready{STDIN_FILENO, POLLIN, 0};
            if (::poll(&ready, 1, 0) <= 0) return;
        }
        const ssize_t n = ::read(STDIN_FILENO, buf.data(), std::min(room, buf.size()));
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {
            // End of input (or an error): the console stays output-only.
            if (stdin_ == StdinState::kWatched) loop_.remove(STDIN_FILENO);
            stdin_ = StdinState::kClosed;
            return;
        }
        (void)serial_->enqueue_input(std::span(buf).first(static_cast<size_t>(n)));
    } while (stdin_ == StdinState::kFile); // a pipe or tty: one read per wake-up
}

Result<void> Vmm::watch_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP})
        sigaddset(&set, s);
    // Blocked here, before any vCPU thread starts, so every thread inherits the mask and the
    // signals arrive only through the signalfd.
    if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0)
        return make_error(Errc::kOsError, "cannot block termination signals");
    const int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return sys_error(Errc::kOsError, "signalfd");
    signal_fd_.reset(fd);
    return loop_.add(signal_fd_.get(), EPOLLIN, [this](uint32_t) {
        signalfd_siginfo info{};
        if (::read(signal_fd_.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info))
            return;
        const auto signo = static_cast<int>(info.ssi_signo);
        report_exit(GuestExit{GuestExit::Kind::kHostError, 128 + signo,
                              fmt::format("stopped by signal {} ({})", signo, ::strsignal(signo))});
    });
}

Result<void> Vmm::create_vcpus(const VmConfig& config, const KernelBoot& kernel_boot) {
    EMBER_TRY_VOID(VcpuThread::install_kick_handler());
    auto cpuid = kvm_.supported_cpuid();
    if (!cpuid) return tl::unexpected(std::move(cpuid.error()));
    auto msrs = kvm_.msr_index_list();
    if (!msrs) return tl::unexpected(std::move(msrs.error()));
    std::vector<Vcpu> vcpus;
    vcpus.reserve(config.vcpus);
    for (uint32_t i = 0; i < config.vcpus; ++i) {
        auto vcpu = Vcpu::create(kvm_, vm_, i);
        if (!vcpu) return tl::unexpected(std::move(vcpu.error()));
        EMBER_TRY_VOID(vcpu->set_cpuid(x86::guest_cpuid(*cpuid, i, config.vcpus)));
        EMBER_TRY_VOID(x86::setup_boot_cpu_state(*vcpu, *msrs));
        vcpus.push_back(std::move(*vcpu));
    }
    // The boot processor starts at the kernel's entry; the others wait for INIT/SIPI, as KVM
    // leaves application processors when the LAPIC is in the kernel.
    EMBER_TRY_VOID(kernel_boot.set_entry_state(vcpus[0]));
    EMBER_TRY_VOID(coalesce_serial_output(vcpus[0]));

    ExitReporter reporter = [this](GuestExit e) { report_exit(std::move(e)); };
    for (auto& vcpu : vcpus)
        vcpus_.push_back(
            std::make_unique<VcpuThread>(std::move(vcpu), pio_, mmio_, ring_.get(), reporter));
    return {};
}

Result<void> Vmm::coalesce_serial_output(const Vcpu& any_vcpu) {
    // Without coalescing every byte the guest writes to THR is an exit (~24 us on our hosts; KVM
    // does not batch `rep outsb`). With it, THR writes queue in KVM's ring and are replayed
    // before the next exit — or by the drain timer below, at most kDrainPeriod later.
    const size_t page = Vm::coalesced_ring_page(kvm_);
    if (page == 0 || (page + 1) * CoalescedRing::kPageSize > kvm_.vcpu_mmap_size()) {
        log::debug("KVM cannot coalesce port writes: one exit per serial byte");
        return {};
    }
    ring_ = std::make_unique<CoalescedRing>(any_vcpu.mapped_page(page));
    EMBER_TRY_VOID(vm_.set_coalesced_pio(devices::kCom1Base, 1, true));
    // While the guest wants THR-empty interrupts each THR write must exit, to raise them.
    serial_->set_thr_interrupt_callback([this](bool enabled) {
        if (auto r = vm_.set_coalesced_pio(devices::kCom1Base, 1, !enabled); !r)
            log::warn("serial: {}", r.error().describe());
    });

    constexpr long kDrainPeriodNs = 20'000'000; // console latency for a guest that never exits
    const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return sys_error(Errc::kOsError, "timerfd_create");
    drain_timer_.reset(fd);
    itimerspec period{};
    period.it_interval.tv_nsec = kDrainPeriodNs;
    period.it_value.tv_nsec = kDrainPeriodNs;
    if (::timerfd_settime(fd, 0, &period, nullptr) != 0)
        return sys_error(Errc::kOsError, "timerfd_settime");
    return loop_.add(fd, EPOLLIN, [this](uint32_t) {
        uint64_t expirations = 0;
        if (::read(drain_timer_.get(), &expirations, sizeof expirations) < 0) return;
        (void)ring_->drain(pio_, mmio_);
    });
}

void Vmm::report_exit(GuestExit exit) {
    {
        std::lock_guard lock(exit_mutex_);
        if (exit_) return;
        exit_ = std::move(exit);
    }
    // As real hardware would: no vCPU runs another guest instruction once the VM is over (a
    // reset request must not be followed by more output). The VMM thread joins them.
    for (auto& v : vcpus_)
        v->request_stop();
    exit_event_.signal();
}

Result<void> Vmm::start_vcpus_jailed() {
    // Each vCPU thread installs its own filter, then waits at the gate until the VMM thread has
    // installed its filter too: no guest instruction runs before every filter is in place. The
    // vCPU threads start first so that they do not inherit the VMM thread's filter.
    for (auto& v : vcpus_)
        v->set_start_hook([this]() -> Result<void> {
            auto installed = seccomp_.apply(jail::ThreadKind::kVcpu);
            seccomp_gate_.wait();
            return installed;
        });
    Result<void> started;
    for (auto& v : vcpus_)
        if (started = v->start(); !started) break;
    if (started) started = seccomp_.apply(jail::ThreadKind::kVmm);
    if (!started)
        for (auto& v : vcpus_)
            v->request_stop(); // past the gate, they exit before KVM_RUN
    seccomp_gate_.count_down();
    return started;
}

Result<void> Vmm::start() {
    if (started_) return {};
    started_ = true;
    return start_vcpus_jailed();
}

Result<GuestExit> Vmm::run(Timings& timings) {
    EMBER_TRY_VOID(start());
    EMBER_TRY_VOID(loop_.run());
    timings.guest_exit = monotonic_ns();
    for (auto& v : vcpus_)
        v->stop();
    if (ring_) (void)ring_->drain(pio_, mmio_); // whatever the guest wrote last
    std::lock_guard lock(exit_mutex_);
    if (!exit_) return make_error(Errc::kInternal, "the VM stopped without a reason");
    return *exit_;
}

void Vmm::pause() {
    for (auto& v : vcpus_)
        v->pause();
    paused_ = true;
}

void Vmm::resume() {
    for (auto& v : vcpus_)
        v->resume();
    paused_ = false;
}

Result<void> Vmm::watch(int fd, std::function<void()> on_readable) {
    return loop_.add(fd, EPOLLIN, [cb = std::move(on_readable)](uint32_t) { cb(); });
}

Result<void> Vmm::update_drive(std::string_view drive_id, const std::optional<std::string>& path,
                               const std::optional<RateLimiterUpdate>& rate_limiter) {
    auto it =
        std::ranges::find_if(blocks_, [&](const VirtioBlock& b) { return b.drive.id == drive_id; });
    if (it == blocks_.end())
        return make_error(Errc::kInvalidArgument, "drive '{}' is not attached to the VM", drive_id);
    if (path) {
        if (it->drive.overlay)
            return make_error(Errc::kInvalidArgument,
                              "{} has a copy-on-write overlay, which belongs to its base image: "
                              "it cannot change path_on_host",
                              it->name);
        virtio::block::DriveConfig drive = it->drive;
        drive.path = *path;
        // The new image gets the sync engine: an io_uring instance cannot be set up once the
        // VMM thread's seccomp filter is on (io_uring_setup is not allowed after boot).
        if (it->device->engine().kind() != virtio::block::EngineKind::kSync)
            log::warn("{}: the new image '{}' is served by the sync engine (io_uring instances "
                      "are created only at boot)",
                      it->name, *path);
        drive.engine = virtio::block::EngineKind::kSync;
        auto engine = virtio::block::open_drive(drive);
        if (!engine) return tl::unexpected(std::move(engine.error()));
        EMBER_TRY_VOID(it->device->replace_engine(loop_, std::move(*engine)));
        it->drive = std::move(drive);
        log::info("{}: now serving '{}'", it->name, *path);
    }
    if (rate_limiter) EMBER_TRY_VOID(it->device->update_rate_limiter(*rate_limiter));
    return {};
}

Result<void> Vmm::update_net(std::string_view iface_id, const std::optional<RateLimiterUpdate>& rx,
                             const std::optional<RateLimiterUpdate>& tx) {
    auto it = std::ranges::find_if(nets_, [&](const VirtioNet& n) { return n.id == iface_id; });
    if (it == nets_.end())
        return make_error(Errc::kInvalidArgument,
                          "network interface '{}' is not attached to the VM", iface_id);
    return it->device->update_rate_limiters(rx, tx);
}

VmmMetrics Vmm::metrics() const {
    VmmMetrics m;
    m.exits = exit_stats();
    for (const auto& b : blocks_)
        m.drives.push_back(
            DriveMetrics{b.drive.id, b.name, b.device->metrics(), b.transport->counters()});
    for (const auto& n : nets_)
        m.nets.emplace_back(n.id.empty() ? n.name : n.id, n.device->metrics());
    if (rng_) m.entropy = rng_->device->metrics();
    if (vsock_) m.vsock = vsock_->device->metrics();
    if (boot_timer_) m.boot_time = boot_timer_->boot_time();
    return m;
}

std::vector<int> Vmm::kvm_fds() const {
    std::vector<int> fds{vm_.fd()};
    for (const auto& v : vcpus_)
        fds.push_back(v->vcpu().fd());
    return fds;
}

std::vector<std::string> Vmm::device_metrics() const {
    std::vector<std::string> lines;
    for (const auto& b : blocks_)
        lines.push_back(describe_metrics(b));
    for (const auto& n : nets_)
        lines.push_back(describe_metrics(n));
    if (rng_) lines.push_back(describe_metrics(*rng_));
    if (vsock_) lines.push_back(describe_metrics(*vsock_));
    return lines;
}

VcpuExitStats Vmm::exit_stats() const {
    VcpuExitStats total;
    for (const auto& v : vcpus_)
        total += v->vcpu().stats();
    return total;
}

} // namespace ember
