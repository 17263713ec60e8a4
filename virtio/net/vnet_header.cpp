#include "virtio/net/vnet_header.hpp"

#include "virtio/virtio_device.hpp"

#include <fmt/format.h>
#include <linux/if_tun.h>

namespace ember::virtio::net {
namespace {

bool has(uint64_t features, unsigned bit) {
    return (features & feature_bit(bit)) != 0;
}

} // namespace

unsigned tap_offloads(uint64_t features) {
    if (!has(features, VIRTIO_NET_F_GUEST_CSUM)) return 0;
    unsigned flags = TUN_F_CSUM;
    if (has(features, VIRTIO_NET_F_GUEST_TSO4)) flags |= TUN_F_TSO4;
    if (has(features, VIRTIO_NET_F_GUEST_TSO6)) flags |= TUN_F_TSO6;
    if ((flags & (TUN_F_TSO4 | TUN_F_TSO6)) != 0 && has(features, VIRTIO_NET_F_GUEST_ECN))
        flags |= TUN_F_TSO_ECN;
    if (has(features, VIRTIO_NET_F_GUEST_UFO)) flags |= TUN_F_UFO;
    return flags;
}

unsigned without_ufo(unsigned tun_flags) {
    return tun_flags & ~static_cast<unsigned>(TUN_F_UFO);
}

std::string check_tx_header(const VnetHeader& h, uint64_t features, uint64_t frame_len) {
    constexpr uint8_t kKnownFlags = VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
    if ((h.flags & ~kKnownFlags) != 0) return fmt::format("unknown header flags {:#x}", h.flags);
    if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0) {
        if (!has(features, VIRTIO_NET_F_CSUM))
            return "NEEDS_CSUM without VIRTIO_NET_F_CSUM negotiated";
        if (uint64_t{h.csum_start} + h.csum_offset + 2 > frame_len)
            return fmt::format("checksum at {} + {} is past the {}-byte frame", h.csum_start,
                               h.csum_offset, frame_len);
    }
    const uint8_t type = h.gso_type & static_cast<uint8_t>(~VIRTIO_NET_HDR_GSO_ECN);
    unsigned needs = 0;
    switch (type) {
    case VIRTIO_NET_HDR_GSO_NONE:
        if ((h.gso_type & VIRTIO_NET_HDR_GSO_ECN) != 0) return "GSO_ECN without a gso type";
        return {};
    case VIRTIO_NET_HDR_GSO_TCPV4:
        needs = VIRTIO_NET_F_HOST_TSO4;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        needs = VIRTIO_NET_F_HOST_TSO6;
        break;
    case VIRTIO_NET_HDR_GSO_UDP:
        needs = VIRTIO_NET_F_HOST_UFO;
        break;
    default:
        return fmt::format("unknown gso type {:#x}", h.gso_type);
    }
    if (!has(features, needs))
        return fmt::format("gso type {:#x} without its feature (bit {}) negotiated", h.gso_type,
                           needs);
    if ((h.gso_type & VIRTIO_NET_HDR_GSO_ECN) != 0 && !has(features, VIRTIO_NET_F_HOST_ECN))
        return "GSO_ECN without VIRTIO_NET_F_HOST_ECN negotiated";
    if (h.gso_size == 0) return "a gso frame with gso size 0";
    return {};
}

RxFitResult fit_rx_frame(std::span<const uint64_t> capacities, uint64_t bytes, bool mergeable,
                         size_t max_chains) {
    if (capacities.empty()) return {RxFit::kNeedMore, 0};
    if (!mergeable) {
        if (capacities[0] >= bytes) return {RxFit::kFits, 1};
        return {RxFit::kTooBig, 0};
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < capacities.size() && i < max_chains; ++i) {
        sum += capacities[i];
        if (sum >= bytes) return {RxFit::kFits, i + 1};
    }
    if (capacities.size() >= max_chains) return {RxFit::kTooBig, 0};
    return {RxFit::kNeedMore, 0};
}

} // namespace ember::virtio::net
