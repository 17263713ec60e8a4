// Process exit codes of ember. Documented in docs/exit-codes.md; keep the two in step.
//
// A guest that ends the VM through the exit device (vmm/devices/exit_device.hpp) chooses the
// status itself; ember's own codes sit in 64..80 (after sysexits.h) so that scripts can tell
// them apart from common guest statuses, except 148 (a seccomp violation, as in Firecracker).
#pragma once

#include "vmm/sys/result.hpp"

namespace ember {

enum class ExitCode : int {
    kSuccess = 0,       // guest exited with 0, powered off, or reset
    kBadArguments = 64, // a command-line flag is unknown or out of range (EX_USAGE)
    kBadInput = 65,     // kernel/initrd/config malformed or does not fit (EX_DATAERR)
    kNoInput = 66,      // a file named on the command line is missing/unreadable (EX_NOINPUT)
    kUnavailable = 69,  // /dev/kvm missing, wrong KVM API, missing capability (EX_UNAVAILABLE)
    kInternal = 70,     // a bug in ember (EX_SOFTWARE)
    kOsError = 71,      // a system call failed (EX_OSERR)
    kGuestCrashed = 80, // triple fault, KVM internal error or failed emulation
    // A thread made a system call its seccomp filter forbids (jail/seccomp_violation.hpp).
    // Firecracker's code, kept so that tooling written for it reads ours.
    kSeccompViolation = 148,
};

[[nodiscard]] constexpr int to_int(ExitCode c) {
    return static_cast<int>(c);
}

[[nodiscard]] constexpr ExitCode exit_code_for(Errc e) {
    switch (e) {
    case Errc::kInvalidArgument:
        return ExitCode::kBadArguments;
    case Errc::kInvalidInput:
        return ExitCode::kBadInput;
    case Errc::kNotFound:
        return ExitCode::kNoInput;
    case Errc::kUnavailable:
        return ExitCode::kUnavailable;
    case Errc::kOsError:
        return ExitCode::kOsError;
    case Errc::kInternal:
        return ExitCode::kInternal;
    }
    return ExitCode::kInternal;
}

} // namespace ember
