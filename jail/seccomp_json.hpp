// Filter files (--seccomp-filter FILE): the allowlists as JSON, in Firecracker's seccompiler
// format, so that a filter written for Firecracker's threads (same kinds: vmm, api, vcpu) loads
// as it is. docs/seccomp.md describes the format and why ember takes JSON, not compiled BPF.
//
//   { "vcpu": { "default_action": "trap", "filter_action": "allow",
//               "filter": [ { "syscall": "ioctl", "comment": "KVM_RUN",
//                             "args": [ { "index": 1, "type": "dword", "op": "eq",
//                                         "val": 44672, "comment": "KVM_RUN" } ] } ] },
//     "vmm": { ... }, "api": { ... } }
#pragma once

#include "jail/seccomp_rules.hpp"
#include "vmm/sys/result.hpp"

#include <string>
#include <string_view>

namespace ember::jail {

// Parses a filter document. Every thread kind must be present. Errors are
// Errc::kInvalidInput naming the kind, the entry and what is allowed.
[[nodiscard]] Result<FilterSet> parse_filter_json(std::string_view text);

// Reads and parses `path` (Errc::kNotFound when it cannot be read).
[[nodiscard]] Result<FilterSet> load_filter_file(const std::string& path);

// The document parse_filter_json reads back: a reason becomes the entry's "comment".
[[nodiscard]] std::string to_filter_json(const FilterSet& filters);

} // namespace ember::jail
