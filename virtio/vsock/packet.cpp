#include "virtio/vsock/packet.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace ember::virtio::vsock {
namespace {

tl::unexpected<PacketFault> fault(PacketError error, std::string message) {
    return tl::unexpected<PacketFault>(
        PacketFault{error, fmt::format("vsock tx packet: {}", message)});
}

bool known_op(uint16_t op) {
    return op >= VIRTIO_VSOCK_OP_REQUEST && op <= VIRTIO_VSOCK_OP_CREDIT_REQUEST;
}

} // namespace

std::string_view to_string(Op op) {
    switch (op) {
    case Op::kRequest:
        return "REQUEST";
    case Op::kResponse:
        return "RESPONSE";
    case Op::kRst:
        return "RST";
    case Op::kShutdown:
        return "SHUTDOWN";
    case Op::kRw:
        return "RW";
    case Op::kCreditUpdate:
        return "CREDIT_UPDATE";
    case Op::kCreditRequest:
        return "CREDIT_REQUEST";
    }
    return "unknown";
}

tl::expected<void, PacketFault> check_tx_header(const VsockHeader& h, uint64_t payload_available,
                                                uint64_t guest_cid) {
    // Copies: the struct is packed, and fmt takes references.
    const uint64_t src_cid = h.src_cid;
    const uint64_t dst_cid = h.dst_cid;
    const uint32_t len = h.len;
    const uint16_t type = h.type;
    const uint16_t op = h.op;
    const uint32_t flags = h.flags;
    if (type != kTypeStream)
        return fault(PacketError::kBadType,
                     fmt::format("type {} is not STREAM ({})", type, kTypeStream));
    if (!known_op(op)) return fault(PacketError::kUnknownOp, fmt::format("unknown op {}", op));
    if (src_cid != guest_cid)
        return fault(PacketError::kBadSourceCid,
                     fmt::format("src_cid {} is not the guest's cid {}", src_cid, guest_cid));
    if (dst_cid != kHostCid)
        return fault(PacketError::kBadDestCid,
                     fmt::format("dst_cid {} is not the host ({})", dst_cid, kHostCid));
    if (static_cast<Op>(op) == Op::kRw) {
        if (len > kMaxPayload)
            return fault(PacketError::kBadLength,
                         fmt::format("len {} is over the {}-byte limit", len, kMaxPayload));
        if (len > payload_available)
            return fault(
                PacketError::kBadLength,
                fmt::format("len {} is past the chain's {} payload bytes", len, payload_available));
    } else if (len != 0) {
        return fault(PacketError::kBadLength,
                     fmt::format("len {} on a {} packet (only RW carries data)", len,
                                 to_string(static_cast<Op>(op))));
    }
    if (static_cast<Op>(op) == Op::kShutdown && (flags & ~kShutdownBoth) != 0)
        return fault(PacketError::kBadFlags, fmt::format("unknown SHUTDOWN flags {:#x}", flags));
    return {};
}

tl::expected<TxPacket, PacketFault>
parse_tx_packet(const GuestMemory& memory, std::span<const Segment> readable, uint64_t guest_cid) {
    uint64_t total = 0;
    for (const Segment& s : readable)
        total += s.len;
    if (total < kHeaderSize)
        return fault(PacketError::kShortHeader,
                     fmt::format("{} readable bytes, a header needs {}", total, kHeaderSize));

    TxPacket packet;
    std::array<std::byte, kHeaderSize> raw{};
    size_t copied = 0;
    size_t index = 0;
    uint32_t offset = 0; // into readable[index], where the payload starts
    while (copied < kHeaderSize) {
        const Segment& s = readable[index];
        const size_t n = std::min<size_t>(s.len, kHeaderSize - copied);
        if (auto r = memory.read(s.addr, std::span(raw).subspan(copied, n)); !r)
            return fault(PacketError::kMemory, r.error().message());
        copied += n;
        if (n == s.len) {
            ++index;
            offset = 0;
        } else {
            offset = static_cast<uint32_t>(n);
        }
    }
    std::memcpy(&packet.header, raw.data(), kHeaderSize);

    auto checked = check_tx_header(packet.header, total - kHeaderSize, guest_cid);
    if (!checked) return tl::unexpected(std::move(checked.error()));

    uint32_t left = packet.header.len;
    for (; left > 0 && index < readable.size(); ++index, offset = 0) {
        const Segment& s = readable[index];
        const uint32_t n = std::min(left, s.len - offset);
        if (n == 0) continue;
        packet.payload.push_back({s.addr + offset, n, false});
        left -= n;
    }
    return packet;
}

} // namespace ember::virtio::vsock
