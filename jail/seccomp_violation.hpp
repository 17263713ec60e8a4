// The SIGSYS handler: what happens when a thread makes a system call its filter forbids.
//
// It writes one line naming the thread kind and the system call (number and name) to stderr,
// flushes a last metrics line when metrics are configured (set_violation_metrics_fd), then ends
// the process with ExitCode::kSeccompViolation (148, as Firecracker). It is
// async-signal-safe: the names are resolved before any filter applies, and the line is built
// on the stack and written with one write(2).
#pragma once

#include "jail/seccomp_rules.hpp"
#include "vmm/sys/result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace ember::jail {

// Installs the handler process-wide and resolves the syscall names it prints. Idempotent;
// SeccompFilter::apply() calls it.
Result<void> install_violation_handler();

// Records the calling thread's kind for the handler.
void set_thread_kind(ThreadKind kind);

// Where the handler writes its metrics line (-1: nowhere, the default). The full metrics cannot
// be built in a signal handler (they allocate), so the line says what ended ember:
//   {"utc_timestamp_ms": N, "seccomp": {"violations": 1, "thread": "vcpu", "syscall": 16,
//    "name": "ioctl"}}
void set_violation_metrics_fd(int fd);

// The handler's metrics line (exposed for tests); returns the bytes written to `out`.
size_t format_violation_metrics(std::span<char> out, uint64_t utc_ms, std::string_view kind,
                                long nr, const char* name);

// The handler's line for a violation (exposed for tests); returns the bytes written to `out`.
size_t format_violation(std::span<char> out, std::string_view kind, long nr, const char* name);

} // namespace ember::jail
