// The vsock transmit packet checks: one test per malformed shape, and the header/payload split
// across buffers.
#include "virtio/vsock/packet.hpp"

#include "virtqueue_builder.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace ember::virtio::vsock {
namespace {

constexpr uint64_t kGuestCid = 3;

VsockHeader header(Op op, uint32_t len = 0) {
    VsockHeader h{};
    h.src_cid = kGuestCid;
    h.dst_cid = kHostCid;
    h.src_port = 1234;
    h.dst_port = 52;
    h.len = len;
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(op);
    h.buf_alloc = 4096;
    return h;
}

class VsockPacket : public ::testing::Test {
protected:
    // Writes the header then `payload` bytes (0, 1, 2, ...) contiguously at 0x1000 and splits
    // them into readable segments of the given sizes.
    std::vector<Segment> place(const VsockHeader& h, uint32_t payload,
                               std::initializer_list<uint32_t> sizes) {
        std::vector<std::byte> bytes(kHeaderSize + payload);
        std::memcpy(bytes.data(), &h, kHeaderSize);
        for (uint32_t i = 0; i < payload; ++i)
            bytes[kHeaderSize + i] = static_cast<std::byte>(i);
        EXPECT_TRUE(memory_.write(kBase, bytes));
        std::vector<Segment> segs;
        GuestAddr at = kBase;
        for (uint32_t s : sizes) {
            segs.push_back({at, s, false});
            at += s;
        }
        return segs;
    }
    PacketError error_of(const VsockHeader& h, uint32_t payload,
                         std::initializer_list<uint32_t> sizes) {
        auto r = parse_tx_packet(memory_, place(h, payload, sizes), kGuestCid);
        EXPECT_FALSE(r);
        return r ? PacketError::kMemory : r.error().error;
    }

    static constexpr GuestAddr kBase = 0x1000;
    GuestMemory memory_ = make_guest_memory(layout::kMiB);
};

TEST_F(VsockPacket, ControlPacketParses) {
    auto r = parse_tx_packet(memory_, place(header(Op::kRequest), 0, {44}), kGuestCid);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->op(), Op::kRequest);
    EXPECT_EQ(r->header.dst_port, 52U);
    EXPECT_TRUE(r->payload.empty());
}

TEST_F(VsockPacket, PayloadSegmentsFollowAHeaderSplitAcrossBuffers) {
    // 10 + 40 (header ends 6 bytes in) + 20: payload = 34 + 20 - 4 bytes ignored.
    auto r = parse_tx_packet(memory_, place(header(Op::kRw, 50), 54, {10, 40, 48}), kGuestCid);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->payload.size(), 2U);
    EXPECT_EQ(r->payload[0], (Segment{kBase + 44, 6, false}));
    EXPECT_EQ(r->payload[1], (Segment{kBase + 50, 44, false}));
}

TEST_F(VsockPacket, ShortHeader) {
    EXPECT_EQ(error_of(header(Op::kRequest), 0, {43}), PacketError::kShortHeader);
    EXPECT_EQ(error_of(header(Op::kRequest), 0, {20, 23}), PacketError::kShortHeader);
    EXPECT_EQ(error_of(header(Op::kRequest), 0, {}), PacketError::kShortHeader);
}

TEST_F(VsockPacket, LengthBeyondTheChain) {
    EXPECT_EQ(error_of(header(Op::kRw, 100), 99, {44, 99}), PacketError::kBadLength);
    auto r = parse_tx_packet(memory_, place(header(Op::kRw, 100), 100, {44, 100}), kGuestCid);
    EXPECT_TRUE(r);
}

TEST_F(VsockPacket, LengthOverTheLimitOrOnAControlOp) {
    EXPECT_EQ(error_of(header(Op::kRw, kMaxPayload + 1), kMaxPayload + 1, {44, kMaxPayload + 1}),
              PacketError::kBadLength);
    EXPECT_EQ(error_of(header(Op::kShutdown, 4), 4, {48}), PacketError::kBadLength);
}

TEST_F(VsockPacket, WrongType) {
    VsockHeader h = header(Op::kRequest);
    h.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
    EXPECT_EQ(error_of(h, 0, {44}), PacketError::kBadType);
    h.type = 0;
    EXPECT_EQ(error_of(h, 0, {44}), PacketError::kBadType);
}

TEST_F(VsockPacket, UnknownOp) {
    VsockHeader h = header(Op::kRequest);
    h.op = 0;
    EXPECT_EQ(error_of(h, 0, {44}), PacketError::kUnknownOp);
    h.op = 8;
    EXPECT_EQ(error_of(h, 0, {44}), PacketError::kUnknownOp);
}

TEST_F(VsockPacket, SourceCidIsNotTheGuests) {
    VsockHeader h = header(Op::kRequest);
    h.src_cid = kHostCid;
    EXPECT_EQ(error_of(h, 0, {44}), PacketError::kBadSourceCid);
}

TEST_F(VsockPacket, DestinationIsNotTheHost) {
    VsockHeader h = header(Op::kRequest);
    h.dst_cid = 1;
    EXPECT_EQ(error_of(h, 0, {44}), PacketError::kBadDestCid);
    h.dst_cid = kGuestCid;
    auto r = parse_tx_packet(memory_, place(h, 0, {44}), kGuestCid);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("dst_cid 3 is not the host (2)"), std::string::npos);
}

TEST_F(VsockPacket, UnknownShutdownFlags) {
    VsockHeader h = header(Op::kShutdown);
    h.flags = kShutdownBoth;
    EXPECT_TRUE(parse_tx_packet(memory_, place(h, 0, {44}), kGuestCid));
    h.flags = 4;
    EXPECT_EQ(error_of(h, 0, {44}), PacketError::kBadFlags);
}

} // namespace
} // namespace ember::virtio::vsock
