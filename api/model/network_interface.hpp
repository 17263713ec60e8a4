// PUT and PATCH /network-interfaces/{iface_id}, and the config file's "network-interfaces":
// virtio-net interfaces backed by a host tap device (virtio/net/net_device.hpp;
// VmConfigBuilder::build() maps each onto a VmConfig::nets entry, to_net_config()).
//
//   {"iface_id": "net1", "host_dev_name": "tap0", "guest_mac": "06:00:AC:10:00:02",
//    "mtu": 1500, "rx_rate_limiter": {...}, "tx_rate_limiter": {...}}
//
// iface_id: 1 to 64 ASCII letters, digits or '_'. host_dev_name: 1 to 15 bytes (a Linux
// interface name). guest_mac: six two-digit hex bytes separated by ':'. mtu: 68..65535.
#pragma once

#include "api/model/rate_limiter.hpp"
#include "vmm/sys/result.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ember::api::model {

using MacAddress = std::array<uint8_t, 6>;

// "06:00:ac:10:00:02" (either case); nullopt if not that shape.
[[nodiscard]] std::optional<MacAddress> parse_mac(std::string_view text);
// Lower case, as Firecracker writes it.
[[nodiscard]] std::string format_mac(const MacAddress& mac);

struct NetworkInterface {
    std::string iface_id;
    std::string host_dev_name;
    std::optional<MacAddress> guest_mac; // absent: the device picks one
    std::optional<uint16_t> mtu;         // absent: the guest's default
    std::optional<RateLimiter> rx_rate_limiter;
    std::optional<RateLimiter> tx_rate_limiter;

    bool operator==(const NetworkInterface&) const = default;
};

// PATCH (after boot in Firecracker): new rate limiters.
struct PartialNetworkInterface {
    std::string iface_id;
    std::optional<RateLimiter> rx_rate_limiter;
    std::optional<RateLimiter> tx_rate_limiter;

    bool operator==(const PartialNetworkInterface&) const = default;
};

inline constexpr size_t kMaxHostDevNameBytes = 15; // IFNAMSIZ - 1

Result<NetworkInterface> parse_network_interface(std::string_view body);
Result<PartialNetworkInterface> parse_partial_network_interface(std::string_view body);
[[nodiscard]] std::string to_json(const NetworkInterface& iface);
[[nodiscard]] std::string to_json(const PartialNetworkInterface& iface);

} // namespace ember::api::model
