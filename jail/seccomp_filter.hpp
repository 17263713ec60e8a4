// SeccompFilter: one thread kind's allowlist compiled to a BPF program, installed per thread.
//
// compile() runs libseccomp once; apply() is a plain seccomp(2) on the calling thread, so one
// compiled vCPU filter serves every vCPU thread. Filters apply to the calling thread only (no
// TSYNC): each thread kind gets its own, and threads created later inherit it.
#pragma once

#include "jail/seccomp_rules.hpp"
#include "vmm/sys/result.hpp"

#include <linux/filter.h>

#include <vector>

namespace ember::jail {

class SeccompFilter final {
public:
    // Everything `rules` does not allow raises SIGSYS (jail/seccomp_violation.hpp). write to
    // stderr and exit_group are always allowed, so the violation handler can report and exit.
    // Errors: an unknown syscall name or a bad argument check (Errc::kInvalidInput).
    static Result<SeccompFilter> compile(ThreadKind kind, const Allowlist& rules);

    // Installs the filter on the calling thread: sets no_new_privs, installs the SIGSYS
    // handler (once per process), unblocks SIGSYS and records the thread kind for it.
    [[nodiscard]] Result<void> apply() const;

    [[nodiscard]] ThreadKind kind() const { return kind_; }
    [[nodiscard]] const std::vector<sock_filter>& program() const { return program_; }

private:
    SeccompFilter(ThreadKind kind, std::vector<sock_filter> program)
        : kind_(kind), program_(std::move(program)) {}

    ThreadKind kind_;
    std::vector<sock_filter> program_;
};

} // namespace ember::jail
