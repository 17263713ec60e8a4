// VmConfigBuilder: the pre-boot configuration the API and the config file build up, resource by
// resource, with Firecracker's rules; build() hands the VMM its VmConfig.
//
// Rules (Firecracker's unless marked):
// - PUT /drives/{id}, /network-interfaces/{id}: the id in the path must be the one in the body;
//   a PUT of an existing id replaces that entry in place; a new one is appended.
// - Only one drive is the root device: making a second drive root is an error (replacing the
//   root drive itself is fine).
// - Two interfaces cannot share a guest_mac, nor (ember) a host_dev_name.
// - (ember) drives, interfaces, vsock and entropy together fit the virtio-mmio slots
//   (kMaxVirtioDevices).
// - PUT /machine-config resets what the body leaves out; PATCH changes only what it names.
// - PUT /logger changes only the fields it names; the other PUTs replace the resource.
// - PATCH of a drive or interface: check_*() validates against the current entry and returns
//   the change for the running device; commit() records it once the device took it.
// Which requests are allowed before or after boot is the caller's rule, not the builder's.
//
// Every error is Errc::kInvalidArgument (HTTP 400) with a message naming the resource.
#pragma once

#include "api/model/boot_source.hpp"
#include "api/model/drive.hpp"
#include "api/model/entropy.hpp"
#include "api/model/logger.hpp"
#include "api/model/machine_config.hpp"
#include "api/model/metrics.hpp"
#include "api/model/network_interface.hpp"
#include "api/model/serial.hpp"
#include "api/model/vsock.hpp"
#include "vmm/config.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ember::api::model {

// A PATCH /drives/{id} for the running device.
struct DriveUpdate {
    std::string drive_id;
    std::optional<std::string> path_on_host;       // a new image to open
    std::optional<RateLimiterUpdate> rate_limiter; // new buckets (absent ones keep their state)
};

// A PATCH /network-interfaces/{id} for the running device.
struct NetworkInterfaceUpdate {
    std::string iface_id;
    std::optional<RateLimiterUpdate> rx_rate_limiter;
    std::optional<RateLimiterUpdate> tx_rate_limiter;
};

// The device configuration of an API interface.
[[nodiscard]] virtio::net::NetConfig to_net_config(const NetworkInterface& iface);

class VmConfigBuilder final {
public:
    VmConfigBuilder() = default;
    // Starts from `base` (the command line's configuration, say).
    explicit VmConfigBuilder(VmConfig base) : config_(std::move(base)) {}

    Result<void> set_boot_source(const BootSource& source);
    Result<void> set_machine_config(const MachineConfig& machine);
    Result<void> update_machine_config(const MachineConfigUpdate& update);
    Result<void> put_drive(std::string_view path_id, const Drive& drive);
    [[nodiscard]] Result<DriveUpdate> check_drive_update(std::string_view path_id,
                                                         const PartialDrive& patch) const;
    void commit(const DriveUpdate& update);
    Result<void> put_network_interface(std::string_view path_id, const NetworkInterface& iface);
    [[nodiscard]] Result<NetworkInterfaceUpdate>
    check_network_interface_update(std::string_view path_id,
                                   const PartialNetworkInterface& patch) const;
    void commit(const NetworkInterfaceUpdate& update);
    Result<void> set_vsock(const Vsock& vsock);
    Result<void> set_entropy(const Entropy& entropy);
    Result<void> set_logger(const Logger& logger);
    void set_metrics(const Metrics& metrics) { metrics_ = metrics; }
    void set_serial(const Serial& serial) { config_.serial = to_serial_config(serial); }

    // The configuration to boot: config() with the root drive's partuuid on the command line
    // (`root=PARTUUID=<uuid> rw|ro`, as Firecracker appends it), the network interfaces after
    // the base's (VmConfig::nets) and the entropy device (replacing the base's).
    [[nodiscard]] VmConfig build() const;
    // The configuration as set so far.
    [[nodiscard]] const VmConfig& config() const { return config_; }
    // False until a boot source is set (or the base named a kernel): InstanceStart is then a
    // 400 in Firecracker; ember could boot its bundled guest.
    [[nodiscard]] bool has_kernel() const { return config_.kernel_path.has_value(); }
    [[nodiscard]] const std::vector<NetworkInterface>& network_interfaces() const {
        return network_interfaces_;
    }
    [[nodiscard]] const std::optional<Vsock>& vsock() const { return vsock_; }
    [[nodiscard]] const std::optional<Entropy>& entropy() const { return entropy_; }
    // The logger as configured; its level is also in config().log_level.
    [[nodiscard]] const std::optional<Logger>& logger() const { return logger_; }
    [[nodiscard]] const std::optional<Metrics>& metrics() const { return metrics_; }

    // GET /machine-config: Firecracker's MachineConfiguration.
    [[nodiscard]] std::string machine_config_json() const;
    // GET /vm/config: every resource under the config file's keys; a valid config file.
    [[nodiscard]] std::string vm_config_json() const;

private:
    // Virtio devices configured, for the slot check.
    [[nodiscard]] size_t device_count() const;
    [[nodiscard]] Result<void> check_room(std::string_view where) const;

    VmConfig config_;
    std::map<std::string, std::string, std::less<>> partuuids_; // by drive_id
    std::vector<NetworkInterface> network_interfaces_;
    std::optional<Vsock> vsock_;
    std::optional<Entropy> entropy_;
    std::optional<Logger> logger_;
    std::optional<Metrics> metrics_;
};

} // namespace ember::api::model
