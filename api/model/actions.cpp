#include "api/model/actions.hpp"

#include "api/model/codec.hpp"

#include <array>

namespace ember::api::model {
namespace {

constexpr std::array<EnumName<ActionType>, 3> kActions{{
    {"InstanceStart", ActionType::kInstanceStart},
    {"SendCtrlAltDel", ActionType::kSendCtrlAltDel},
    {"FlushMetrics", ActionType::kFlushMetrics},
}};
constexpr std::array<EnumName<VmState>, 2> kStates{{
    {"Paused", VmState::kPaused},
    {"Resumed", VmState::kResumed},
}};

} // namespace

Result<InstanceActionInfo> decode_instance_action(const Json& value, const std::string& where) {
    ObjectReader r(value, where, {"action_type"});
    InstanceActionInfo action;
    action.action_type = r.required_enum("action_type", kActions);
    EMBER_TRY_VOID(r.finish());
    return action;
}

Result<Vm> decode_vm(const Json& value, const std::string& where) {
    ObjectReader r(value, where, {"state"});
    Vm vm;
    vm.state = r.required_enum("state", kStates);
    EMBER_TRY_VOID(r.finish());
    return vm;
}

Result<InstanceActionInfo> parse_instance_action(std::string_view body) {
    return decode_body(body, "actions", decode_instance_action);
}

Result<Vm> parse_vm(std::string_view body) {
    return decode_body(body, "vm", decode_vm);
}

std::string to_json(const InstanceActionInfo& action) {
    return dump(Json{{"action_type", enum_name(kActions, action.action_type)}});
}

std::string to_json(const Vm& vm) {
    return dump(Json{{"state", enum_name(kStates, vm.state)}});
}

} // namespace ember::api::model
