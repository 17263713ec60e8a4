// Timings: monotonic timestamps of the start-up phases, printed with --timings.
#pragma once

#include <cstdint>
#include <string>

namespace ember {

[[nodiscard]] uint64_t monotonic_ns();

struct Timings {
    uint64_t start = 0;       // main() entered
    uint64_t kernel_read = 0; // kernel/initrd opened and parsed
    uint64_t vm_created = 0;  // /dev/kvm opened, VM, memory slots, irqchip, PIT
    uint64_t loaded = 0;      // kernel, command line and boot info written to guest memory
    uint64_t devices = 0;     // buses populated, irqfds registered
    uint64_t vcpus_ready = 0; // vCPUs created and their registers set
    uint64_t guest_exit = 0;  // the guest ended the VM
    uint64_t end = 0;         // everything torn down

    // "setup 0.82 ms (parse 0.03, kvm 0.41, load 0.02, devices 0.05, vcpus 0.31), guest 0.45 ms,
    // ..."
    [[nodiscard]] std::string summary() const;
};

} // namespace ember
