#include "vmm/core/vcpu_thread.hpp"

#include "vmm/sys/exit_code.hpp"

#include <csignal>
#include <cstring>

namespace ember {
namespace {

void on_kick(int /*signo*/) {
    // Nothing to do: the signal only has to interrupt KVM_RUN (no SA_RESTART).
}

// immediate_exit is read by KVM on entry to KVM_RUN; publish it with a full fence so the
// request (wanted_) is visible before it.
void store_immediate_exit(kvm_run& run, uint8_t value) {
    std::atomic_ref<uint8_t>(run.immediate_exit).store(value, std::memory_order_seq_cst);
}

} // namespace

int VcpuThread::kick_signal() {
    return SIGRTMIN;
}

Result<void> VcpuThread::install_kick_handler() {
    struct sigaction sa {};
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: KVM_RUN must return EINTR
    if (::sigaction(kick_signal(), &sa, nullptr) != 0)
        return sys_error(Errc::kOsError, "sigaction for the vCPU kick signal");
    return {};
}

VcpuThread::VcpuThread(Vcpu vcpu, const Bus& pio, const Bus& mmio, const CoalescedRing* ring,
                       ExitReporter report)
    : vcpu_(std::move(vcpu)), pio_(pio), mmio_(mmio), ring_(ring), report_(std::move(report)) {}

VcpuThread::~VcpuThread() {
    stop();
}

Result<void> VcpuThread::start() {
    {
        std::lock_guard lock(mutex_);
        state_ = VcpuState::kRunning;
    }
    try {
        thread_ = std::thread([this] { loop(); });
    } catch (const std::system_error& e) {
        return make_error(Errc::kOsError, "cannot start the thread of vCPU {}: {}", vcpu_.index(),
                          e.what());
    }
    native_.store(thread_.native_handle());
    started_.store(true);
    return {};
}

void VcpuThread::set_state(VcpuState s) {
    {
        std::lock_guard lock(mutex_);
        state_ = s;
    }
    changed_.notify_all();
}

VcpuState VcpuThread::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

void VcpuThread::loop() {
    if (start_hook_) {
        if (auto r = start_hook_(); !r) {
            report_(GuestExit{GuestExit::Kind::kHostError, to_int(exit_code_for(r.error().code())),
                              fmt::format("vCPU {}: {}", vcpu_.index(), r.error().describe())});
            set_state(VcpuState::kExited);
            return;
        }
    }
    for (;;) {
        const VcpuState wanted = wanted_.load(std::memory_order_seq_cst);
        if (wanted == VcpuState::kExited) break;
        if (wanted == VcpuState::kPaused) {
            std::unique_lock lock(mutex_);
            state_ = VcpuState::kPaused;
            changed_.notify_all();
            changed_.wait(lock, [this] { return wanted_.load() != VcpuState::kPaused; });
            state_ = VcpuState::kRunning;
            continue;
        }
        const Vcpu::Step step = vcpu_.run_once(pio_, mmio_, ring_, report_);
        if (step == Vcpu::Step::kStop) break;
        if (step == Vcpu::Step::kInterrupted) store_immediate_exit(vcpu_.run_page(), 0);
    }
    set_state(VcpuState::kExited);
}

void VcpuThread::kick() {
    store_immediate_exit(vcpu_.run_page(), 1);
    if (started_.load()) (void)::pthread_kill(native_.load(), kick_signal());
}

void VcpuThread::request(VcpuState wanted) {
    wanted_.store(wanted, std::memory_order_seq_cst);
    {
        std::lock_guard lock(mutex_); // pairs with the wait in loop(): no lost wake-up
    }
    changed_.notify_all(); // wakes a paused thread
    kick();
}

void VcpuThread::pause() {
    if (!started_.load()) return;
    request(VcpuState::kPaused);
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return state_ != VcpuState::kRunning; });
}

void VcpuThread::resume() {
    if (!started_.load()) return;
    // A thread that has exited stays exited.
    if (wanted_.load() == VcpuState::kExited) return;
    wanted_.store(VcpuState::kRunning, std::memory_order_seq_cst);
    {
        std::lock_guard lock(mutex_); // pairs with the wait in loop(): no lost wake-up
    }
    changed_.notify_all();
}

void VcpuThread::stop() {
    if (!started_.load()) return;
    request(VcpuState::kExited);
    if (thread_.joinable()) thread_.join();
    started_.store(false);
}

} // namespace ember
