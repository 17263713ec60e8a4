// The virtio-vsock packet header (virtio 1.2, 5.10.6) and the pure check of what a guest puts on
// the transmit queue: one header, then `len` payload bytes, in the chain's device-readable
// buffers. The header is copied out of guest memory once (it may straddle buffers) and only the
// copy is checked and used; the payload is described as guest segments for the device to copy
// to the host socket.
#pragma once

#include "virtio/queue/descriptor_chain.hpp"
#include "vmm/core/guest_memory.hpp"

#include <linux/virtio_vsock.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ember::virtio::vsock {

// struct virtio_vsock_hdr, packed, little-endian.
struct VsockHeader {
    uint64_t src_cid;   // 0
    uint64_t dst_cid;   // 8
    uint32_t src_port;  // 16
    uint32_t dst_port;  // 20
    uint32_t len;       // 24: payload bytes after the header
    uint16_t type;      // 28: VIRTIO_VSOCK_TYPE_*
    uint16_t op;        // 30: VIRTIO_VSOCK_OP_*
    uint32_t flags;     // 32: SHUTDOWN_RCV/SEND for OP_SHUTDOWN
    uint32_t buf_alloc; // 36: the sender's receive buffer size
    uint32_t fwd_cnt;   // 40: bytes the sender has consumed from its receive buffer
} __attribute__((packed));
static_assert(sizeof(VsockHeader) == 44 && sizeof(VsockHeader) == sizeof(virtio_vsock_hdr));
inline constexpr size_t kHeaderSize = sizeof(VsockHeader);

inline constexpr uint64_t kHostCid = 2; // VMADDR_CID_HOST
// The largest payload one packet may carry (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE).
inline constexpr uint32_t kMaxPayload = 64 * 1024;

enum class Op : uint16_t {
    kRequest = VIRTIO_VSOCK_OP_REQUEST,
    kResponse = VIRTIO_VSOCK_OP_RESPONSE,
    kRst = VIRTIO_VSOCK_OP_RST,
    kShutdown = VIRTIO_VSOCK_OP_SHUTDOWN,
    kRw = VIRTIO_VSOCK_OP_RW,
    kCreditUpdate = VIRTIO_VSOCK_OP_CREDIT_UPDATE,
    kCreditRequest = VIRTIO_VSOCK_OP_CREDIT_REQUEST,
};
inline constexpr uint32_t kShutdownRcv = VIRTIO_VSOCK_SHUTDOWN_RCV;
inline constexpr uint32_t kShutdownSend = VIRTIO_VSOCK_SHUTDOWN_SEND;
inline constexpr uint32_t kShutdownBoth = kShutdownRcv | kShutdownSend;
inline constexpr uint16_t kTypeStream = VIRTIO_VSOCK_TYPE_STREAM;

[[nodiscard]] std::string_view to_string(Op op);

enum class PacketError {
    kShortHeader,  // fewer readable bytes than a header
    kBadLength,    // len past the chain, over kMaxPayload, or non-zero on a control op
    kBadType,      // not VIRTIO_VSOCK_TYPE_STREAM (SEQPACKET is not offered)
    kUnknownOp,    // op 0 or past CREDIT_REQUEST
    kBadSourceCid, // src_cid is not the guest's cid
    kBadDestCid,   // dst_cid is not the host (2)
    kBadFlags,     // unknown SHUTDOWN flags
    kMemory,       // a segment could not be read (cannot happen with a parsed chain)
};

struct PacketFault {
    PacketError error;
    std::string message; // "vsock tx packet: ...": what was wrong, with the values
};

// A checked transmit packet: the header and where its payload lies in guest memory.
struct TxPacket {
    VsockHeader header{};
    std::vector<Segment> payload; // exactly header.len bytes, in order

    [[nodiscard]] Op op() const { return static_cast<Op>(header.op); }
};

// Parses the device-readable buffers of a transmit chain sent by the guest with cid `guest_cid`.
// Bytes past header + len are ignored (drivers may post larger buffers).
[[nodiscard]] tl::expected<TxPacket, PacketFault>
parse_tx_packet(const GuestMemory& memory, std::span<const Segment> readable, uint64_t guest_cid);

// The header checks alone, given how many payload bytes follow it in the chain.
[[nodiscard]] tl::expected<void, PacketFault>
check_tx_header(const VsockHeader& header, uint64_t payload_available, uint64_t guest_cid);

} // namespace ember::virtio::vsock
