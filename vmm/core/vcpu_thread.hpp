// VcpuThread: one thread per vCPU looping on KVM_RUN, with an explicit state machine.
//
//   Running --pause()--> Paused --resume()--> Running
//   Running/Paused --stop()--> Exited            (also when the guest ends the VM)
//
// Requests are delivered with a kick: the requester publishes the wanted state, sets the vCPU's
// kvm_run.immediate_exit and sends kKickSignal to the thread. A vCPU inside KVM_RUN leaves it
// with EINTR; one about to enter it returns at once because immediate_exit is set — so a request
// is never lost between the state check and KVM_RUN.
#pragma once

#include "vmm/core/bus.hpp"
#include "vmm/core/guest_exit.hpp"
#include "vmm/core/vcpu.hpp"

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace ember {

enum class VcpuState { kRunning, kPaused, kExited };

class VcpuThread final {
public:
    // Installs the (empty) handler for the kick signal; call once before any thread starts.
    static Result<void> install_kick_handler();
    static int kick_signal();

    // `ring` (may be null) is drained before each exit is handled; it must outlive the thread.
    VcpuThread(Vcpu vcpu, const Bus& pio, const Bus& mmio, const CoalescedRing* ring,
               ExitReporter report);
    ~VcpuThread();
    VcpuThread(const VcpuThread&) = delete;
    VcpuThread& operator=(const VcpuThread&) = delete;
    VcpuThread(VcpuThread&&) = delete;
    VcpuThread& operator=(VcpuThread&&) = delete;

    // Runs first on the new thread, before its first KVM_RUN (the Vmm installs the vCPU's
    // seccomp filter there). An error ends the thread: it reports a host error and exits.
    using StartHook = std::function<Result<void>()>;
    void set_start_hook(StartHook hook) { start_hook_ = std::move(hook); } // before start()

    Result<void> start();
    // Each request returns once the thread has reached the state (or exited).
    void pause();
    void resume();
    void stop(); // and join
    // Asks the thread to exit without waiting: callable from any thread, the vCPU's own
    // included (a device that ends the VM stops its vCPU before it runs another instruction).
    void request_stop() { request(VcpuState::kExited); }
    [[nodiscard]] VcpuState state() const;

    [[nodiscard]] Vcpu& vcpu() { return vcpu_; }
    [[nodiscard]] const Vcpu& vcpu() const { return vcpu_; }

private:
    void loop();
    void request(VcpuState wanted);
    void kick();
    void set_state(VcpuState s);

    Vcpu vcpu_;
    const Bus& pio_;
    const Bus& mmio_;
    const CoalescedRing* ring_;
    ExitReporter report_;
    StartHook start_hook_;

    std::atomic<VcpuState> wanted_{VcpuState::kRunning};
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    VcpuState state_ = VcpuState::kPaused; // guarded by mutex_
    std::thread thread_;
    std::atomic<pthread_t> native_{};
    std::atomic<bool> started_{false};
};

} // namespace ember
