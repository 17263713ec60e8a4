// vCPU threads (vmm/core/vcpu_thread.cpp): KVM_RUN, and the exits handled synchronously on the
// thread: port and MMIO accesses to the devices (serial output, virtio-mmio registers, device
// activation and reset), and ending the VM.
#include "jail/filters/allowlists.hpp"

#include <linux/if_tun.h>
#include <linux/kvm.h>

#include <csignal>

namespace ember::jail {

Allowlist vcpu_allowlist(const FilterParams& params) {
    Allowlist list = common_rules();
    const auto kick = static_cast<uint64_t>(params.kick_signal);
    const Allowlist own = {
        {"ioctl", "KVM_RUN: run the guest", {arg_eq(1, KVM_RUN, "KVM_RUN")}},
        {"ioctl",
         "the UART's THR-empty interrupt turns serial write coalescing off",
         {arg_eq(1, KVM_UNREGISTER_COALESCED_MMIO, "KVM_UNREGISTER_COALESCED_MMIO")}},
        {"ioctl",
         "and back on when the guest masks that interrupt",
         {arg_eq(1, KVM_REGISTER_COALESCED_MMIO, "KVM_REGISTER_COALESCED_MMIO")}},
        {"ioctl",
         "a crashed guest's rip for the exit message",
         {arg_eq(1, KVM_GET_REGS, "KVM_GET_REGS")}},
        {"ioctl",
         "virtio-net activation (the driver's DRIVER_OK) applies the negotiated offloads to the "
         "tap",
         {arg_eq(1, TUNSETOFFLOAD, "TUNSETOFFLOAD")}},
        {"rt_sigreturn", "return from the kick signal's handler", {}},
        {"getpid", "pthread_kill: a device that ends the VM kicks every vCPU", {}},
        {"gettid", "pthread_kill of the calling thread itself (and abort's raise)", {}},
        {"tgkill", "kick a vCPU out of KVM_RUN", {arg_eq(2, kick, "the kick signal")}},
        {"tgkill", "abort() on a failed assertion", {arg_eq(2, SIGABRT, "SIGABRT")}},
        {"io_uring_enter",
         "a virtio-blk reset (on the vCPU's register write) waits for requests in flight",
         {}},
        {"nanosleep", "that wait retries requests the kernel refused", {}},
        {"read", "that wait reaps io_uring completions (consumes their eventfd)", {}},
        {"exit", "the vCPU thread ends", {}},
    };
    list.insert(list.end(), own.begin(), own.end());
    return list;
}

} // namespace ember::jail
