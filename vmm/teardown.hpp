// Background teardown of a finished VM.
//
// Destroying a KVM VM is slow: closing the last VM fd waits for SRCU grace periods while the
// kernel unregisters the irqchip and PIT devices — 10-20 ms on our hosts, several times longer
// than the whole boot. Nobody needs to wait for it: once the guest is done, ember hands its
// last references to the VM (the VM and vCPU fds) to a short-lived child process and exits at
// once. The child first closes every other descriptor it inherited (console, disks, taps,
// sockets) and only then lets ember go, so nothing a caller may reuse stays held; it then
// waits for ember to exit and ends, and the kernel destroys the VM in its exit path.
//
// Under a new PID namespace where ember is PID 1 the namespace waits for the child anyway, so
// the gain is lost there (nothing breaks). `--sync-teardown` turns the hand-off off.
#pragma once

#include "vmm/sys/result.hpp"

#include <span>

namespace ember {

// Forks the teardown child keeping only `keep_fds` open in it, and returns once the child has
// closed everything else. The caller should then exit promptly: the child waits for that.
Result<void> hand_off_teardown(std::span<const int> keep_fds);

} // namespace ember
