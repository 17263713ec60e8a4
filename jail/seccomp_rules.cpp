#include "jail/seccomp_rules.hpp"

namespace ember::jail {

std::string_view thread_kind_name(ThreadKind kind) {
    switch (kind) {
    case ThreadKind::kApi:
        return "api";
    case ThreadKind::kVmm:
        return "vmm";
    case ThreadKind::kVcpu:
        return "vcpu";
    }
    return "unknown";
}

std::optional<ThreadKind> parse_thread_kind(std::string_view name) {
    for (const ThreadKind k : kThreadKinds)
        if (thread_kind_name(k) == name) return k;
    return std::nullopt;
}

} // namespace ember::jail
