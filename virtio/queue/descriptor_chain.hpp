// DescriptorChain: one validated buffer chain of a split virtqueue (virtio 1.2, 2.7.5 and 2.7.4).
//
// The descriptor table is guest memory the guest may rewrite at any moment, so each descriptor
// is copied out exactly once, validated, and only the copy is used. A chain that parses is safe
// to use as-is: every segment lies inside one guest RAM region, device-readable segments come
// before device-writable ones, and the walk was bounded (a loop in `next` cannot hang the VMM).
// A chain that does not parse yields a ChainFault naming the head, the descriptor and what was
// wrong; the device then sets DEVICE_NEEDS_RESET (a fault caused by the guest never aborts).
#pragma once

#include "vmm/core/guest_memory.hpp"
#include "vmm/sys/result.hpp"

// The ring ABI constants (VRING_DESC_F_*, VIRTIO_RING_F_*, vring_need_event) come from the kernel
// header; include this header rather than it. Its legacy vring_init() is C only (void* conversions)
// and unused here, so it is compiled out.
#ifndef VIRTIO_RING_NO_LEGACY
#define VIRTIO_RING_NO_LEGACY
#endif
#include <linux/virtio_ring.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ember::virtio {

// struct virtq_desc (2.7.5), little-endian like all of virtio 1.x.
struct Descriptor {
    uint64_t addr;  // 0: guest-physical buffer address
    uint32_t len;   // 8: buffer length in bytes
    uint16_t flags; // 12: VRING_DESC_F_NEXT | VRING_DESC_F_WRITE | VRING_DESC_F_INDIRECT
    uint16_t next;  // 14: index of the next descriptor when NEXT is set
};
static_assert(sizeof(Descriptor) == 16 && sizeof(Descriptor) == sizeof(vring_desc));
static_assert(VRING_DESC_ALIGN_SIZE == 16);

// What went wrong with a chain (or, for kBadAvailIdx, with the available ring). Every one of
// them is a driver bug or a hostile guest.
enum class ChainError {
    kIndexOutOfRange, // a head or `next` index outside its table
    kLoop,            // more descriptors visited than the table holds: `next` loops
    kTooLong,         // more buffers than the queue size (2.7.5.3.1)
    kTooLarge,        // more than 2^32 bytes in total (2.7.4.2)
    kOutOfRange,      // a buffer or indirect table not inside guest RAM (or addr + len overflows)
    kBadIndirect,     // indirect table: not negotiated, empty, len % 16, nested, or with NEXT
    kWrongOrder,      // a device-readable buffer after a device-writable one (2.7.4.2)
    kBadAvailIdx,     // Queue::pop: avail->idx more than the queue size ahead of the device
};

[[nodiscard]] std::string_view to_string(ChainError error);

struct ChainFault {
    ChainError error;
    std::string message; // "virtqueue head 3, descriptor 5: ..." — what and where

    // As an ember Error (Errc::kInvalidInput: the guest's input was malformed).
    [[nodiscard]] Error to_error() const { return {Errc::kInvalidInput, message}; }
};

template <class T> using ChainResult = tl::expected<T, ChainFault>;

// One guest buffer of a chain.
struct Segment {
    GuestAddr addr = 0;
    uint32_t len = 0;
    bool device_writable = false;

    friend bool operator==(const Segment&, const Segment&) = default;
};

// Where a chain is read from, and what the driver negotiated.
struct DescriptorTable {
    GuestAddr addr = 0;         // the queue's descriptor table (16 * size bytes, checked by Queue)
    uint16_t size = 0;          // queue size: table entries and the longest chain allowed
    bool indirect_desc = false; // VIRTIO_RING_F_INDIRECT_DESC negotiated
};

class DescriptorChain final {
public:
    DescriptorChain() = default;

    // Walks the chain starting at descriptor `head` of `table`.
    [[nodiscard]] static ChainResult<DescriptorChain>
    parse(const GuestMemory& memory, const DescriptorTable& table, uint16_t head);
    // The same, into `out`, reusing its storage: no allocation per chain once warmed up. On
    // failure `out` holds the segments that had been accepted before the fault.
    static ChainResult<void> parse_into(const GuestMemory& memory, const DescriptorTable& table,
                                        uint16_t head, DescriptorChain& out);

    // The index to hand back with Queue::add_used.
    [[nodiscard]] uint16_t head() const { return head_; }
    // All buffers in chain order: the readable ones first, then the writable ones. Indirect
    // table descriptors do not appear; their entries do.
    [[nodiscard]] std::span<const Segment> segments() const { return segments_; }
    [[nodiscard]] std::span<const Segment> readable() const {
        return std::span(segments_).first(readable_count_);
    }
    [[nodiscard]] std::span<const Segment> writable() const {
        return std::span(segments_).subspan(readable_count_);
    }
    [[nodiscard]] uint64_t readable_bytes() const { return readable_bytes_; }
    [[nodiscard]] uint64_t writable_bytes() const { return writable_bytes_; }

private:
    class Walker;

    void clear(uint16_t head);

    uint16_t head_ = 0;
    std::vector<Segment> segments_;
    size_t readable_count_ = 0;
    uint64_t readable_bytes_ = 0;
    uint64_t writable_bytes_ = 0;
};

} // namespace ember::virtio
