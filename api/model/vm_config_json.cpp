// VmConfigBuilder's GET bodies: /machine-config and /vm/config.
#include "api/model/codec.hpp"
#include "api/model/vm_config_builder.hpp"

namespace ember::api::model {

std::string VmConfigBuilder::machine_config_json() const {
    return to_json(MachineConfig{config_.vcpus, config_.mem_mib});
}

std::string VmConfigBuilder::vm_config_json() const {
    Json doc = Json::object();
    if (config_.kernel_path) {
        BootSource source{*config_.kernel_path, config_.cmdline, config_.initrd_path, std::nullopt};
        if (config_.boot_protocol != boot::BootProtocol::kAuto)
            source.boot_protocol = config_.boot_protocol;
        doc["boot-source"] = encode(source);
    } else {
        doc["boot-source"] = nullptr; // ember boots its bundled guest
    }
    doc["machine-config"] = encode(MachineConfig{config_.vcpus, config_.mem_mib});
    Json drives = Json::array();
    for (const auto& d : config_.drives) {
        const auto it = partuuids_.find(d.id);
        drives.push_back(encode(from_drive_config(
            d, it == partuuids_.end() ? std::nullopt : std::optional<std::string>(it->second))));
    }
    doc["drives"] = std::move(drives);
    Json ifaces = Json::array();
    for (const auto& n : network_interfaces_)
        ifaces.push_back(encode(n));
    doc["network-interfaces"] = std::move(ifaces);
    if (vsock_)
        doc["vsock"] = encode(*vsock_);
    else if (config_.vsock) // --vsock
        doc["vsock"] = encode(Vsock{config_.vsock->guest_cid, config_.vsock->uds_path, {}});
    else
        doc["vsock"] = nullptr;
    doc["entropy"] = entropy_ ? encode(*entropy_) : Json(nullptr);
    doc["logger"] = logger_ ? encode(*logger_) : Json(nullptr);
    doc["metrics"] = metrics_ ? encode(*metrics_) : Json(nullptr);
    if (config_.serial.mode == SerialConfig::Mode::kFile)
        doc["serial"] = encode(Serial{config_.serial.path}); // ember: not in Firecracker's
    return dump(doc);
}

} // namespace ember::api::model
