#include "api/model/network_interface.hpp"

#include "api/model/codec.hpp"
#include "api/model/ids.hpp"

namespace ember::api::model {
namespace {

constexpr const char* kWhere = "network-interfaces";
constexpr UintRange kMtu{68, 65535};

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string read_iface_id(ObjectReader& r) {
    std::string id = r.required_string("iface_id", {.max_bytes = SIZE_MAX, .allow_empty = true});
    if (r.ok()) r.take(check_id(r.where(), "iface_id", id, kMaxIdBytes));
    return id;
}

} // namespace

std::optional<MacAddress> parse_mac(std::string_view text) {
    constexpr size_t kLength = 17; // "xx:xx:xx:xx:xx:xx"
    if (text.size() != kLength) return std::nullopt;
    MacAddress mac{};
    for (size_t i = 0; i < mac.size(); ++i) {
        const size_t at = i * 3;
        if (i > 0 && text[at - 1] != ':') return std::nullopt;
        const int high = hex_digit(text[at]);
        const int low = hex_digit(text[at + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        mac[i] = static_cast<uint8_t>(high * 16 + low);
    }
    return mac;
}

std::string format_mac(const MacAddress& mac) {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3],
                       mac[4], mac[5]);
}

Result<NetworkInterface> decode_network_interface(const Json& value, const std::string& where) {
    ObjectReader r(
        value, where,
        {"iface_id", "host_dev_name", "guest_mac", "mtu", "rx_rate_limiter", "tx_rate_limiter"});
    NetworkInterface iface;
    iface.iface_id = read_iface_id(r);
    iface.host_dev_name = r.required_string(
        "host_dev_name", {.max_bytes = kMaxHostDevNameBytes, .allow_empty = false});
    if (const auto text =
            r.optional_string("guest_mac", {.max_bytes = SIZE_MAX, .allow_empty = false})) {
        iface.guest_mac = parse_mac(*text);
        if (!iface.guest_mac)
            r.fail("guest_mac {} is not valid; use six hex bytes such as \"06:00:ac:10:00:02\"",
                   show(Json(*text)));
    }
    if (const auto mtu = r.optional_uint("mtu", kMtu)) iface.mtu = static_cast<uint16_t>(*mtu);
    iface.rx_rate_limiter = read_rate_limiter(r, "rx_rate_limiter");
    iface.tx_rate_limiter = read_rate_limiter(r, "tx_rate_limiter");
    EMBER_TRY_VOID(r.finish());
    return iface;
}

Result<PartialNetworkInterface> decode_partial_network_interface(const Json& value,
                                                                 const std::string& where) {
    ObjectReader r(value, where, {"iface_id", "rx_rate_limiter", "tx_rate_limiter"});
    PartialNetworkInterface iface;
    iface.iface_id = read_iface_id(r);
    iface.rx_rate_limiter = read_rate_limiter(r, "rx_rate_limiter");
    iface.tx_rate_limiter = read_rate_limiter(r, "tx_rate_limiter");
    EMBER_TRY_VOID(r.finish());
    return iface;
}

Json encode(const NetworkInterface& iface) {
    Json j{{"iface_id", iface.iface_id}, {"host_dev_name", iface.host_dev_name}};
    if (iface.guest_mac) j["guest_mac"] = format_mac(*iface.guest_mac);
    if (iface.mtu) j["mtu"] = *iface.mtu;
    if (iface.rx_rate_limiter) j["rx_rate_limiter"] = encode(*iface.rx_rate_limiter);
    if (iface.tx_rate_limiter) j["tx_rate_limiter"] = encode(*iface.tx_rate_limiter);
    return j;
}

Json encode(const PartialNetworkInterface& iface) {
    Json j{{"iface_id", iface.iface_id}};
    if (iface.rx_rate_limiter) j["rx_rate_limiter"] = encode(*iface.rx_rate_limiter);
    if (iface.tx_rate_limiter) j["tx_rate_limiter"] = encode(*iface.tx_rate_limiter);
    return j;
}

Result<NetworkInterface> parse_network_interface(std::string_view body) {
    return decode_body(body, kWhere, decode_network_interface);
}

Result<PartialNetworkInterface> parse_partial_network_interface(std::string_view body) {
    return decode_body(body, kWhere, decode_partial_network_interface);
}

std::string to_json(const NetworkInterface& iface) {
    return dump(encode(iface));
}

std::string to_json(const PartialNetworkInterface& iface) {
    return dump(encode(iface));
}

} // namespace ember::api::model
