// PUT, PATCH and GET /machine-config, and the config file's "machine-config".
//
//   {"vcpu_count": 2, "mem_size_mib": 1024, "smt": false, "track_dirty_pages": false,
//    "cpu_template": "None", "huge_pages": "None"}
//
// PUT needs vcpu_count and mem_size_mib; PATCH takes any non-empty subset. ember accepts every
// value Firecracker does for the fields below, and refuses (400, saying why) the features it
// does not have: smt true, track_dirty_pages true (no snapshots yet), a cpu_template other than
// "None", huge_pages other than "None". mem_size_mib runs from 2 MiB (Firecracker: 1) to 1 TiB.
#pragma once

#include "vmm/sys/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ember::api::model {

struct MachineConfig {
    uint32_t vcpu_count = 1;
    uint64_t mem_size_mib = 128;

    bool operator==(const MachineConfig&) const = default;
};

// PATCH: what is absent stays as it is.
struct MachineConfigUpdate {
    std::optional<uint32_t> vcpu_count;
    std::optional<uint64_t> mem_size_mib;

    bool operator==(const MachineConfigUpdate&) const = default;
};

Result<MachineConfig> parse_machine_config(std::string_view body);
// An empty object is an error, as in Firecracker ("the PATCH body sets no field").
Result<MachineConfigUpdate> parse_machine_config_update(std::string_view body);
// Firecracker's GET shape: the two values plus smt, track_dirty_pages and huge_pages.
[[nodiscard]] std::string to_json(const MachineConfig& config);
// The fields present ("{}" for an update that changes nothing, which parses as no PATCH).
[[nodiscard]] std::string to_json(const MachineConfigUpdate& update);

} // namespace ember::api::model
