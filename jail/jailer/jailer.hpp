// The jailer's steps, in Firecracker's order (docs/jailer.md): validate everything, close
// inherited fds, clean the environment, create <base>/<exec>/<id>/root, copy ember in, set
// rlimits, create and join the cgroups, enter a new mount namespace and pivot_root into the
// jail, mknod the devices, join the netns, daemonize / start a PID namespace if asked, drop to
// uid/gid and exec ember. A failure after something was created undoes it (Rollback).
#pragma once

#include "jail/jailer/config.hpp"
#include "jail/jailer/os.hpp"

#include <optional>

namespace ember::jailer {

// ember-jailer's own exit codes (docs/exit-codes.md). After a successful exec the status is
// ember's; these tell a caller which stage of the jailer failed instead.
enum class JailerExit : int {
    kSuccess = 0,
    kBadArguments = 90, // unknown flag, bad --id, non-numeric --uid/--gid, malformed value
    kMissingInput = 91, // --exec-file or --netns does not exist
    kJailExists = 92,   // <base>/<exec>/<id> already exists
    kCgroup = 93,       // unknown controller or file, a value the kernel refuses, existing cgroup
    kSetup = 94,        // a system call setting up the jail failed (mount, mknod, setns, ...)
    kExec = 95,         // exec of ember inside the jail failed
};

[[nodiscard]] constexpr int to_int(JailerExit e) {
    return static_cast<int>(e);
}

struct Outcome {
    int status = 0;             // the process's exit status
    std::optional<Error> error; // set when the jailer failed (log it)
};

// Runs every step. Returns only on failure, or in the parent of a --new-pid-ns child (with the
// child's status, or 0 at once with --daemonize).
Outcome run_jailer(Os& os, const JailerConfig& cfg);

} // namespace ember::jailer
