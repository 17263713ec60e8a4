// The virtio-net header (virtio 1.2, 5.1.6) and the pure rules around it: which tap offloads a
// set of negotiated features allows, whether a header the guest sent can be handed to the tap,
// and how many receive chains a frame needs (VIRTIO_NET_F_MRG_RXBUF).
//
// With VIRTIO_F_VERSION_1 the header is always struct virtio_net_hdr_v1 (12 bytes, num_buffers
// included), and the tap is told the same size (TUNSETVNETHDRSZ), so frames pass between the tap
// and the rings with their header unchanged, except num_buffers, which the device sets.
#pragma once

// The ABI (struct virtio_net_hdr_v1, VIRTIO_NET_F_*, struct virtio_net_config) comes from the
// kernel header; include this header rather than it. It names a field `class` (the control
// queue's header, unused here), which is not C++: renamed while it is included.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wkeyword-macro"
#endif
#define class virtio_net_ctrl_class
#include <linux/virtio_net.h>
#undef class
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace ember::virtio::net {

using VnetHeader = virtio_net_hdr_v1;
static_assert(sizeof(VnetHeader) == 12);
inline constexpr size_t kVnetHeaderSize = sizeof(VnetHeader);
// The largest frame the tap hands over with TSO on (a 64 KiB IP packet, Ethernet and VLAN
// headers), as Firecracker's and QEMU's buffers; without a vnet header.
inline constexpr size_t kMaxFrameBytes = 65562;
// The offset of num_buffers in the header.
inline constexpr size_t kNumBuffersOffset = offsetof(VnetHeader, num_buffers);

// The TUN_F_* flags (TUNSETOFFLOAD) for the receive offloads the guest negotiated: what the tap
// may then send us (checksum-partial frames, TSO4/6 with ECN, UFO). TSO and UFO need
// GUEST_CSUM, as in the spec's feature dependencies.
[[nodiscard]] unsigned tap_offloads(uint64_t features);
// The same without TUN_F_UFO, for kernels that refuse it.
[[nodiscard]] unsigned without_ufo(unsigned tun_flags);

// Why a transmit header cannot go to the tap ("" when it can): an unknown flag or gso type, an
// offload the driver did not negotiate (NEEDS_CSUM without CSUM, TCPV4 without HOST_TSO4, ...),
// a checksum position outside the `frame_len` bytes that follow the header, a gso size of 0.
// What is left (the packet's own headers) the kernel checks when the frame reaches the tap.
[[nodiscard]] std::string check_tx_header(const VnetHeader& header, uint64_t features,
                                          uint64_t frame_len);

// Receive buffer accounting for one frame of `bytes` (header included) against the writable
// sizes of the chains reserved so far, in order.
enum class RxFit {
    kFits,     // the first `chains` chains hold it
    kNeedMore, // reserve another chain (the driver must post one)
    kTooBig,   // it can never fit: drop the frame, keep the chains
};
struct RxFitResult {
    RxFit fit = RxFit::kNeedMore;
    size_t chains = 0;
    friend bool operator==(const RxFitResult&, const RxFitResult&) = default;
};
// Without `mergeable` a frame takes exactly one chain; with it, as many as it needs, at most
// `max_chains` (the queue size; num_buffers is 16 bits).
[[nodiscard]] RxFitResult fit_rx_frame(std::span<const uint64_t> capacities, uint64_t bytes,
                                       bool mergeable, size_t max_chains);

} // namespace ember::virtio::net
