#include "jail/filters/allowlists.hpp"

#include <sys/mman.h>

namespace ember::jail {

Allowlist common_rules() {
    return {
        {"brk", "malloc grows the main arena", {}},
        {"mmap",
         "malloc's large blocks and arenas; never executable",
         {arg_masked_eq(2, PROT_EXEC, 0, "prot without PROT_EXEC")}},
        {"mprotect",
         "malloc commits arena pages it reserved with PROT_NONE; never executable",
         {arg_masked_eq(2, PROT_EXEC, 0, "prot without PROT_EXEC")}},
        {"munmap", "free() returns large blocks", {}},
        {"mremap", "realloc() of large blocks", {}},
        {"madvise", "free() and thread exit give pages back (MADV_DONTNEED)", {}},
        {"futex", "mutexes, condition variables, thread joins", {}},
        {"sched_yield", "libstdc++'s atomic waits (std::latch) spin with it before they sleep", {}},
        {"clock_gettime", "clocks, when the vDSO falls back to the system call", {}},
        {"write", "log lines to stderr (the violation handler too), eventfd signals", {}},
        {"rt_sigprocmask", "glibc masks signals around pthread_kill and abort", {}},
        {"exit_group", "the process exits (the violation handler too)", {}},
    };
}

FilterSet default_filters(const FilterParams& params) {
    FilterSet set;
    set[ThreadKind::kApi] = api_allowlist();
    set[ThreadKind::kVmm] = vmm_allowlist(params);
    set[ThreadKind::kVcpu] = vcpu_allowlist(params);
    return set;
}

} // namespace ember::jail
