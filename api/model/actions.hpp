// PUT /actions and PATCH /vm: what the API asks the VMM to do.
//
//   {"action_type": "InstanceStart"}        // or "SendCtrlAltDel", "FlushMetrics"
//   {"state": "Paused"}                     // or "Resumed"
#pragma once

#include "vmm/sys/result.hpp"

#include <string>
#include <string_view>

namespace ember::api::model {

enum class ActionType { kInstanceStart, kSendCtrlAltDel, kFlushMetrics };

struct InstanceActionInfo {
    ActionType action_type = ActionType::kInstanceStart;

    bool operator==(const InstanceActionInfo&) const = default;
};

enum class VmState { kPaused, kResumed };

struct Vm {
    VmState state = VmState::kPaused;

    bool operator==(const Vm&) const = default;
};

Result<InstanceActionInfo> parse_instance_action(std::string_view body);
Result<Vm> parse_vm(std::string_view body);
[[nodiscard]] std::string to_json(const InstanceActionInfo& action);
[[nodiscard]] std::string to_json(const Vm& vm);

} // namespace ember::api::model
