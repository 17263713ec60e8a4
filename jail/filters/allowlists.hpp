// ember's built-in seccomp allowlists, one per thread kind (docs/seccomp.md says how to extend
// them). Each rule carries the reason the thread needs the call; keep them tight: a syscall the
// thread does not make is an attack surface it does not need.
#pragma once

#include "jail/seccomp_rules.hpp"

namespace ember::jail {

// Values the lists depend on that only the process knows.
struct FilterParams {
    int kick_signal = 0; // the signal that kicks a vCPU out of KVM_RUN (VcpuThread::kick_signal)
};

[[nodiscard]] Allowlist api_allowlist();
[[nodiscard]] Allowlist vmm_allowlist(const FilterParams& params);
[[nodiscard]] Allowlist vcpu_allowlist(const FilterParams& params);
[[nodiscard]] FilterSet default_filters(const FilterParams& params);

// Rules every thread kind shares: malloc's memory calls (never executable memory), futexes,
// and what the violation handler and thread exit need.
[[nodiscard]] Allowlist common_rules();

} // namespace ember::jail
