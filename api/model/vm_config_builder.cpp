#include "api/model/vm_config_builder.hpp"

#include "api/model/ids.hpp"
#include "vmm/virtio_devices.hpp"

#include <algorithm>

namespace ember::api::model {
namespace {

using virtio::block::DriveConfig;

constexpr const char* kDrives = "drives";
constexpr const char* kInterfaces = "network-interfaces";

void merge(TokenBucketConfig& bucket, const std::optional<TokenBucketConfig>& update) {
    if (update) bucket = *update;
}

} // namespace

size_t VmConfigBuilder::device_count() const {
    // The base configuration's interfaces and entropy device (the command line's) count too.
    return config_.drives.size() + config_.nets.size() + network_interfaces_.size() +
           (vsock_ || config_.vsock ? 1 : 0) + (entropy_ || config_.entropy ? 1 : 0);
}

Result<void> VmConfigBuilder::check_room(std::string_view where) const {
    if (device_count() < kMaxVirtioDevices) return {};
    return make_error(Errc::kInvalidArgument,
                      "{}: no room for another device; drives, network interfaces, vsock and "
                      "entropy together have {} virtio slots",
                      where, kMaxVirtioDevices);
}

Result<void> VmConfigBuilder::set_boot_source(const BootSource& source) {
    config_.kernel_path = source.kernel_image_path;
    config_.cmdline = source.boot_args.value_or(VmConfig::kDefaultCmdline);
    config_.initrd_path = source.initrd_path;
    config_.boot_protocol = source.boot_protocol.value_or(boot::BootProtocol::kAuto);
    return {};
}

Result<void> VmConfigBuilder::set_machine_config(const MachineConfig& machine) {
    config_.vcpus = machine.vcpu_count;
    config_.mem_mib = machine.mem_size_mib;
    return {};
}

Result<void> VmConfigBuilder::update_machine_config(const MachineConfigUpdate& update) {
    if (update.vcpu_count) config_.vcpus = *update.vcpu_count;
    if (update.mem_size_mib) config_.mem_mib = *update.mem_size_mib;
    return {};
}

Result<void> VmConfigBuilder::put_drive(std::string_view path_id, const Drive& drive) {
    EMBER_TRY_VOID(check_path_id(kDrives, "drive_id", path_id, drive.drive_id));
    auto& drives = config_.drives;
    const auto same = std::find_if(drives.begin(), drives.end(),
                                   [&](const DriveConfig& d) { return d.id == drive.drive_id; });
    if (drive.is_root_device) {
        const auto root =
            std::find_if(drives.begin(), drives.end(), [](const DriveConfig& d) { return d.root; });
        if (root != drives.end() && root != same)
            return make_error(Errc::kInvalidArgument,
                              "{}: drive '{}' cannot be the root device: {} already is, and only "
                              "one drive can be",
                              kDrives, drive.drive_id, virtio::block::drive_name(*root));
    }
    if (same == drives.end()) {
        EMBER_TRY_VOID(check_room(kDrives));
        drives.push_back(to_drive_config(drive));
    } else {
        *same = to_drive_config(drive);
    }
    if (drive.partuuid) {
        partuuids_.insert_or_assign(drive.drive_id, *drive.partuuid);
    } else if (const auto it = partuuids_.find(drive.drive_id); it != partuuids_.end()) {
        partuuids_.erase(it);
    }
    return {};
}

Result<DriveUpdate> VmConfigBuilder::check_drive_update(std::string_view path_id,
                                                        const PartialDrive& patch) const {
    EMBER_TRY_VOID(check_path_id(kDrives, "drive_id", path_id, patch.drive_id));
    const auto& drives = config_.drives;
    const auto drive = std::find_if(drives.begin(), drives.end(),
                                    [&](const DriveConfig& d) { return d.id == patch.drive_id; });
    if (drive == drives.end())
        return make_error(Errc::kInvalidArgument, "{}: there is no drive '{}' to update", kDrives,
                          patch.drive_id);
    if (patch.path_on_host && drive->overlay)
        return make_error(Errc::kInvalidArgument,
                          "{}: drive '{}' has an overlay (overlay_path); ember cannot change its "
                          "path_on_host",
                          kDrives, patch.drive_id);
    DriveUpdate update{patch.drive_id, patch.path_on_host, std::nullopt};
    if (patch.rate_limiter) update.rate_limiter = to_update(*patch.rate_limiter);
    return update;
}

void VmConfigBuilder::commit(const DriveUpdate& update) {
    for (DriveConfig& d : config_.drives) {
        if (d.id != update.drive_id) continue;
        if (update.path_on_host) d.path = *update.path_on_host;
        if (update.rate_limiter) {
            merge(d.rate_limiter.bandwidth, update.rate_limiter->bandwidth);
            merge(d.rate_limiter.ops, update.rate_limiter->ops);
        }
    }
}

Result<void> VmConfigBuilder::put_network_interface(std::string_view path_id,
                                                    const NetworkInterface& iface) {
    EMBER_TRY_VOID(check_path_id(kInterfaces, "iface_id", path_id, iface.iface_id));
    auto& ifaces = network_interfaces_;
    for (const NetworkInterface& other : ifaces) {
        if (other.iface_id == iface.iface_id) continue;
        if (iface.guest_mac && other.guest_mac == iface.guest_mac)
            return make_error(Errc::kInvalidArgument,
                              "{}: guest_mac {} is already used by interface '{}'", kInterfaces,
                              format_mac(*iface.guest_mac), other.iface_id);
        if (other.host_dev_name == iface.host_dev_name)
            return make_error(Errc::kInvalidArgument,
                              "{}: host_dev_name '{}' is already used by interface '{}'",
                              kInterfaces, iface.host_dev_name, other.iface_id);
    }
    const auto same = std::find_if(ifaces.begin(), ifaces.end(), [&](const NetworkInterface& n) {
        return n.iface_id == iface.iface_id;
    });
    if (same != ifaces.end()) {
        *same = iface;
        return {};
    }
    EMBER_TRY_VOID(check_room(kInterfaces));
    ifaces.push_back(iface);
    return {};
}

Result<NetworkInterfaceUpdate>
VmConfigBuilder::check_network_interface_update(std::string_view path_id,
                                                const PartialNetworkInterface& patch) const {
    EMBER_TRY_VOID(check_path_id(kInterfaces, "iface_id", path_id, patch.iface_id));
    const bool known =
        std::any_of(network_interfaces_.begin(), network_interfaces_.end(),
                    [&](const NetworkInterface& n) { return n.iface_id == patch.iface_id; });
    if (!known)
        return make_error(Errc::kInvalidArgument, "{}: there is no interface '{}' to update",
                          kInterfaces, patch.iface_id);
    NetworkInterfaceUpdate update{patch.iface_id, std::nullopt, std::nullopt};
    if (patch.rx_rate_limiter) update.rx_rate_limiter = to_update(*patch.rx_rate_limiter);
    if (patch.tx_rate_limiter) update.tx_rate_limiter = to_update(*patch.tx_rate_limiter);
    return update;
}

void VmConfigBuilder::commit(const NetworkInterfaceUpdate& update) {
    // The model keeps Firecracker's shape: rebuild each limiter from the merged buckets.
    auto apply = [](std::optional<RateLimiter>& limiter,
                    const std::optional<RateLimiterUpdate>& change) {
        if (!change) return;
        RateLimiterConfig config = to_config(limiter);
        merge(config.bandwidth, change->bandwidth);
        merge(config.ops, change->ops);
        limiter = from_config(config);
    };
    for (NetworkInterface& n : network_interfaces_) {
        if (n.iface_id != update.iface_id) continue;
        apply(n.rx_rate_limiter, update.rx_rate_limiter);
        apply(n.tx_rate_limiter, update.tx_rate_limiter);
    }
}

Result<void> VmConfigBuilder::set_vsock(const Vsock& vsock) {
    if (!vsock_ && !config_.vsock) EMBER_TRY_VOID(check_room("vsock"));
    vsock_ = Vsock{vsock.guest_cid, vsock.uds_path, std::nullopt}; // vsock_id is deprecated
    return {};
}

Result<void> VmConfigBuilder::set_entropy(const Entropy& entropy) {
    // Replacing the device (the API's, or the base configuration's) takes no new slot.
    if (!entropy_ && !config_.entropy) EMBER_TRY_VOID(check_room("entropy"));
    entropy_ = entropy;
    return {};
}

Result<void> VmConfigBuilder::set_logger(const Logger& logger) {
    Logger merged = logger_.value_or(Logger{});
    if (logger.log_path) merged.log_path = logger.log_path;
    if (logger.level) {
        merged.level = logger.level;
        config_.log_level = to_log_level(*logger.level);
    }
    if (logger.show_level) merged.show_level = logger.show_level;
    if (logger.show_log_origin) merged.show_log_origin = logger.show_log_origin;
    logger_ = std::move(merged);
    return {};
}

virtio::net::NetConfig to_net_config(const NetworkInterface& iface) {
    return virtio::net::NetConfig{.id = iface.iface_id,
                                  .tap = iface.host_dev_name,
                                  .mac = iface.guest_mac,
                                  .mtu = iface.mtu,
                                  .rx_rate_limiter = to_config(iface.rx_rate_limiter),
                                  .tx_rate_limiter = to_config(iface.tx_rate_limiter)};
}

VmConfig VmConfigBuilder::build() const {
    VmConfig config = config_;
    for (const NetworkInterface& iface : network_interfaces_)
        config.nets.push_back(to_net_config(iface));
    if (entropy_) config.entropy = virtio::rng::EntropyConfig{to_config(entropy_->rate_limiter)};
    if (vsock_) config.vsock = virtio::vsock::VsockConfig{vsock_->guest_cid, vsock_->uds_path};
    for (const DriveConfig& d : config.drives) {
        if (!d.root) continue;
        if (const auto it = partuuids_.find(d.id); it != partuuids_.end())
            config.cmdline +=
                fmt::format("{}root=PARTUUID={} {}", config.cmdline.empty() ? "" : " ", it->second,
                            d.read_only ? "ro" : "rw");
    }
    return config;
}

} // namespace ember::api::model
