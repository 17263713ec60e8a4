// --config-file: a JSON document with the API's resources under Firecracker's kebab-case keys,
// enough to boot without any API call.
//
//   {"boot-source": {...}, "machine-config": {...}, "drives": [{...}, ...],
//    "network-interfaces": [{...}], "vsock": {...}, "entropy": {...}, "logger": {...},
//    "metrics": {...}, "serial": {...}}
//
// Each value has the shape of the matching request body (drives and network-interfaces are
// arrays of them) and goes through the same checks and the same VmConfigBuilder. Every key is
// optional and null means absent; without "boot-source" ember boots its bundled guest.
// "serial" is ember's (Firecracker's config file has none). Firecracker's "balloon",
// "cpu-config", "mmds-config", "pmem" and "memory-hotplug" are refused unless null (or, for
// "pmem", []); any other key is refused, as is an id that appears twice in one array.
// GET /vm/config writes this same document.
#pragma once

#include "api/model/vm_config_builder.hpp"

#include <string>
#include <string_view>

namespace ember::api::model {

// Applies `document` to `builder`. Errors are Errc::kInvalidArgument and name the key
// ("machine-config: vcpu_count 0 is out of range; use 1..32", "drives[1]: ...").
Result<void> apply_config_document(std::string_view document, VmConfigBuilder& builder);

// A builder from `base` (the command line's configuration) with `document` applied.
Result<VmConfigBuilder> parse_config_document(std::string_view document, VmConfig base = {});

// Reads and applies the file at `path`. Errors: Errc::kNotFound when it cannot be read,
// Errc::kInvalidInput (exit code "bad config") for its content; messages start with
// "config file 'PATH': ".
Result<VmConfigBuilder> load_config_file(const std::string& path, VmConfig base = {});

// Config files larger than this are refused.
inline constexpr size_t kMaxConfigFileBytes = 1 << 20;

} // namespace ember::api::model
