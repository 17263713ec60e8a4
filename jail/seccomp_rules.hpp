// Seccomp allowlists as data: one list of rules per thread kind, each rule a system call by name,
// the reason it is allowed, and optional checks on its arguments.
//
// A syscall is allowed when any of its rules matches; a rule matches when all of its argument
// checks do (libseccomp's model, and Firecracker's JSON filter format, jail/seccomp_json.hpp).
// Everything not allowed raises SIGSYS (jail/seccomp_violation.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ember::jail {

// The thread kinds of ember (docs/architecture.md), one filter each.
enum class ThreadKind : uint8_t { kApi, kVmm, kVcpu };
inline constexpr std::array kThreadKinds{ThreadKind::kApi, ThreadKind::kVmm, ThreadKind::kVcpu};

// "api", "vmm", "vcpu": the names in logs and in filter files.
[[nodiscard]] std::string_view thread_kind_name(ThreadKind kind);
[[nodiscard]] std::optional<ThreadKind> parse_thread_kind(std::string_view name);

enum class CmpOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kMaskedEq };

// Compares argument `index` (0-5) with `value`; kMaskedEq compares (arg & mask) == value.
// Arguments are compared as 64-bit values.
struct ArgCheck {
    uint8_t index = 0;
    CmpOp op = CmpOp::kEq;
    uint64_t value = 0;
    uint64_t mask = 0; // kMaskedEq only
    std::string comment;

    friend bool operator==(const ArgCheck& a, const ArgCheck& b) {
        return a.index == b.index && a.op == b.op && a.value == b.value && a.mask == b.mask;
    }
};

struct SyscallRule {
    std::string name;   // as libseccomp names it ("ioctl", "epoll_pwait")
    std::string reason; // why this thread kind needs it
    std::vector<ArgCheck> args;
};

using Allowlist = std::vector<SyscallRule>;

// One allowlist per thread kind, indexed by ThreadKind.
struct FilterSet {
    std::array<Allowlist, kThreadKinds.size()> lists;

    [[nodiscard]] Allowlist& operator[](ThreadKind k) { return lists.at(static_cast<size_t>(k)); }
    [[nodiscard]] const Allowlist& operator[](ThreadKind k) const {
        return lists.at(static_cast<size_t>(k));
    }
};

// Shorthands for the built-in lists (jail/filters/).
[[nodiscard]] inline ArgCheck arg_eq(uint8_t index, uint64_t value, std::string comment = {}) {
    return ArgCheck{index, CmpOp::kEq, value, 0, std::move(comment)};
}
// (arg & mask) == value
[[nodiscard]] inline ArgCheck arg_masked_eq(uint8_t index, uint64_t mask, uint64_t value,
                                            std::string comment = {}) {
    return ArgCheck{index, CmpOp::kMaskedEq, value, mask, std::move(comment)};
}

} // namespace ember::jail
