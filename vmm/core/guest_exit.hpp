// GuestExit: why the VM ended, as devices and vCPUs report it to the Vmm.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace ember {

struct GuestExit {
    enum class Kind {
        kStatus,    // the guest wrote a status to the exit device
        kReset,     // i8042 reset (0xFE to port 0x64) or triple-fault-free reboot request
        kPowerOff,  // an orderly power-off (ACPI, later)
        kCrash,     // triple fault (KVM_EXIT_SHUTDOWN), KVM internal error, failed emulation
        kHostError, // ember itself failed while running the guest
    };
    Kind kind = Kind::kStatus;
    int status = 0;     // process exit status ember will return
    std::string detail; // human-readable reason, logged on exit
};

// Devices that can end the VM get one of these. The first report wins; later ones are ignored.
using ExitReporter = std::function<void(GuestExit)>;

} // namespace ember
