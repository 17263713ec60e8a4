// The pure virtio-net rules: tap offloads from features, transmit header checks, receive buffer
// accounting.
#include "virtio/net/vnet_header.hpp"

#include "virtio/virtio_device.hpp"

#include <gtest/gtest.h>
#include <linux/if_tun.h>

#include <vector>

namespace ember::virtio::net {
namespace {

uint64_t bits(std::initializer_list<unsigned> list) {
    uint64_t f = 0;
    for (unsigned b : list)
        f |= feature_bit(b);
    return f;
}

TEST(VnetHeader, OffloadsFollowTheGuestsReceiveFeatures) {
    EXPECT_EQ(tap_offloads(0), 0U);
    // TSO without GUEST_CSUM is not allowed: nothing.
    EXPECT_EQ(tap_offloads(bits({VIRTIO_NET_F_GUEST_TSO4})), 0U);
    EXPECT_EQ(tap_offloads(bits({VIRTIO_NET_F_GUEST_CSUM})), unsigned{TUN_F_CSUM});
    EXPECT_EQ(tap_offloads(
                  bits({VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
                        VIRTIO_NET_F_GUEST_ECN, VIRTIO_NET_F_GUEST_UFO})),
              unsigned{TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_UFO});
    // ECN only with TSO; host-side features change nothing here.
    EXPECT_EQ(tap_offloads(bits({VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_ECN,
                                 VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_CSUM})),
              unsigned{TUN_F_CSUM});
    EXPECT_EQ(without_ufo(TUN_F_CSUM | TUN_F_UFO), unsigned{TUN_F_CSUM});
}

VnetHeader header(uint8_t flags, uint8_t gso_type, uint16_t gso_size = 0, uint16_t start = 0,
                  uint16_t offset = 0) {
    VnetHeader h{};
    h.flags = flags;
    h.gso_type = gso_type;
    h.gso_size = gso_size;
    h.csum_start = start;
    h.csum_offset = offset;
    return h;
}

TEST(VnetHeader, PlainFramesPass) {
    EXPECT_EQ(check_tx_header(header(0, VIRTIO_NET_HDR_GSO_NONE), 0, 60), "");
}

TEST(VnetHeader, ChecksumOffloadNeedsCsumAndAPlaceInTheFrame) {
    const VnetHeader h = header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 0, 34, 16);
    EXPECT_NE(check_tx_header(h, 0, 100).find("without VIRTIO_NET_F_CSUM"), std::string::npos);
    EXPECT_EQ(check_tx_header(h, bits({VIRTIO_NET_F_CSUM}), 100), "");
    EXPECT_EQ(check_tx_header(h, bits({VIRTIO_NET_F_CSUM}), 52), ""); // 34 + 16 + 2 == 52
    EXPECT_NE(check_tx_header(h, bits({VIRTIO_NET_F_CSUM}), 51).find("past the 51-byte frame"),
              std::string::npos);
}

TEST(VnetHeader, GsoNeedsItsFeature) {
    const uint64_t csum = bits({VIRTIO_NET_F_CSUM});
    const auto tso4 = header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 1448, 34, 16);
    EXPECT_NE(check_tx_header(tso4, csum, 3000).find("without its feature"), std::string::npos);
    EXPECT_EQ(check_tx_header(tso4, csum | bits({VIRTIO_NET_F_HOST_TSO4}), 3000), "");
    const auto tso6 = header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 1428, 54, 16);
    EXPECT_NE(check_tx_header(tso6, csum | bits({VIRTIO_NET_F_HOST_TSO4}), 3000), "");
    EXPECT_EQ(check_tx_header(tso6, csum | bits({VIRTIO_NET_F_HOST_TSO6}), 3000), "");
    const auto ufo = header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP, 1472, 34, 6);
    EXPECT_EQ(check_tx_header(ufo, csum | bits({VIRTIO_NET_F_HOST_UFO}), 3000), "");
    const auto ecn = header(VIRTIO_NET_HDR_F_NEEDS_CSUM,
                            VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 1448, 34, 16);
    const uint64_t tso = csum | bits({VIRTIO_NET_F_HOST_TSO4});
    EXPECT_NE(check_tx_header(ecn, tso, 3000).find("HOST_ECN"), std::string::npos);
    EXPECT_EQ(check_tx_header(ecn, tso | bits({VIRTIO_NET_F_HOST_ECN}), 3000), "");
    const auto zero = header(VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 0, 34, 16);
    EXPECT_NE(check_tx_header(zero, tso, 3000).find("gso size 0"), std::string::npos);
}

TEST(VnetHeader, UnknownBitsAreRefused) {
    EXPECT_NE(check_tx_header(header(0x80, 0), ~uint64_t{0}, 60).find("unknown header flags"),
              std::string::npos);
    EXPECT_NE(check_tx_header(header(0, 7), ~uint64_t{0}, 60).find("unknown gso type"),
              std::string::npos);
    EXPECT_NE(check_tx_header(header(0, VIRTIO_NET_HDR_GSO_ECN), ~uint64_t{0}, 60)
                  .find("without a gso type"),
              std::string::npos);
}

TEST(VnetHeader, OneChainPerFrameWithoutMergeableBuffers) {
    const std::vector<uint64_t> none;
    EXPECT_EQ(fit_rx_frame(none, 100, false, 256), (RxFitResult{RxFit::kNeedMore, 0}));
    const std::vector<uint64_t> big{1526};
    EXPECT_EQ(fit_rx_frame(big, 1526, false, 256), (RxFitResult{RxFit::kFits, 1}));
    EXPECT_EQ(fit_rx_frame(big, 1527, false, 256), (RxFitResult{RxFit::kTooBig, 0}));
}

TEST(VnetHeader, MergeableBuffersAddUp) {
    const std::vector<uint64_t> caps{1000, 1000, 500};
    EXPECT_EQ(fit_rx_frame(std::span(caps).first(1), 900, true, 256),
              (RxFitResult{RxFit::kFits, 1}));
    EXPECT_EQ(fit_rx_frame(std::span(caps).first(1), 1500, true, 256),
              (RxFitResult{RxFit::kNeedMore, 0}));
    EXPECT_EQ(fit_rx_frame(caps, 1500, true, 256), (RxFitResult{RxFit::kFits, 2}));
    EXPECT_EQ(fit_rx_frame(caps, 2500, true, 256), (RxFitResult{RxFit::kFits, 3}));
    EXPECT_EQ(fit_rx_frame(caps, 2501, true, 256), (RxFitResult{RxFit::kNeedMore, 0}));
    // Every descriptor of a 3-entry ring is reserved and still short: it never fits.
    EXPECT_EQ(fit_rx_frame(caps, 2501, true, 3), (RxFitResult{RxFit::kTooBig, 0}));
}

} // namespace
} // namespace ember::virtio::net
