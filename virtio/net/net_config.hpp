// NetConfig: one virtio-net interface as the user describes it (--net, and the API's
// /network-interfaces): the host tap it is backed by, the guest's MAC and MTU, and a rate
// limiter per direction.
#pragma once

#include "vmm/core/rate_limiter.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ember::virtio::net {

using MacAddress = std::array<uint8_t, 6>;

struct NetConfig {
    std::string id{};                    // iface_id: names the interface in logs and the API
    std::string tap{};                   // host_dev_name: an existing tap device (at most 15 bytes)
    std::optional<MacAddress> mac{};     // VIRTIO_NET_F_MAC; absent: the guest picks one
    std::optional<uint16_t> mtu{};       // VIRTIO_NET_F_MTU (68..65535); absent: not offered
    RateLimiterConfig rx_rate_limiter{}; // host → guest
    RateLimiterConfig tx_rate_limiter{}; // guest → host
    bool operator==(const NetConfig&) const = default;
};

// Smallest and largest MTU accepted (IPv4's minimum; the largest frame a 16-bit length holds).
inline constexpr uint16_t kMinMtu = 68;
inline constexpr uint16_t kMaxMtu = 65535;

// "06:00:ac:10:00:02" (either case); nullopt if not that shape.
[[nodiscard]] std::optional<MacAddress> parse_mac(std::string_view text);
// Lower case, colon-separated.
[[nodiscard]] std::string format_mac(const MacAddress& mac);

// "iface 'eth0' (tap 'tap0')", for messages.
[[nodiscard]] inline std::string net_name(const NetConfig& config) {
    return "iface '" + (config.id.empty() ? config.tap : config.id) + "' (tap '" + config.tap +
           "')";
}

} // namespace ember::virtio::net
