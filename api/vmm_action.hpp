// VmmAction: what the API thread asks of the VMM thread, one typed value per request, already
// parsed and checked as far as that needs no VM state. The VMM thread answers each with an HTTP
// response (api/controller.hpp decides status and body; the API thread only writes it out).
#pragma once

#include "api/http/http_response.hpp"
#include "api/model/actions.hpp"
#include "api/model/boot_source.hpp"
#include "api/model/drive.hpp"
#include "api/model/entropy.hpp"
#include "api/model/logger.hpp"
#include "api/model/machine_config.hpp"
#include "api/model/metrics.hpp"
#include "api/model/network_interface.hpp"
#include "api/model/serial.hpp"
#include "api/model/vsock.hpp"

#include <string>
#include <string_view>
#include <variant>

namespace ember::api {

namespace action {
struct GetInstanceInfo {};
struct GetVmConfig {};
struct GetMachineConfig {};
struct PutBootSource {
    model::BootSource source;
};
struct PutMachineConfig {
    model::MachineConfig config;
};
struct PatchMachineConfig {
    model::MachineConfigUpdate update;
};
struct PutDrive {
    std::string id; // from the path
    model::Drive drive;
};
struct PatchDrive {
    std::string id;
    model::PartialDrive drive;
};
struct PutNetworkInterface {
    std::string id;
    model::NetworkInterface iface;
};
struct PatchNetworkInterface {
    std::string id;
    model::PartialNetworkInterface iface;
};
struct PutVsock {
    model::Vsock vsock;
};
struct PutEntropy {
    model::Entropy entropy;
};
struct PutLogger {
    model::Logger logger;
};
struct PutMetrics {
    model::Metrics metrics;
};
struct PutSerial {
    model::Serial serial;
};
struct Instance { // PUT /actions
    model::ActionType type;
};
struct PatchVm {
    model::VmState state;
};
} // namespace action

using VmmAction =
    std::variant<action::GetInstanceInfo, action::GetVmConfig, action::GetMachineConfig,
                 action::PutBootSource, action::PutMachineConfig, action::PatchMachineConfig,
                 action::PutDrive, action::PatchDrive, action::PutNetworkInterface,
                 action::PatchNetworkInterface, action::PutVsock, action::PutEntropy,
                 action::PutLogger, action::PutMetrics, action::PutSerial, action::Instance,
                 action::PatchVm>;

using VmmResponse = http::Response;

// "PutDrive", "Instance", ...: the action's name, for logs and the per-action metrics.
[[nodiscard]] std::string_view action_name(const VmmAction& action);

} // namespace ember::api
