// Builds virtio-blk requests in a VirtqueueBuilder's memory, as a driver would, and reads back
// what the device answered (tests only).
#pragma once

#include "virtqueue_builder.hpp"

#include <linux/virtio_blk.h>

#include <cstring>
#include <vector>

namespace ember::virtio::block::testing {

// Where the pieces of one request live in guest memory.
struct BlockRequest {
    uint16_t head = 0;
    GuestAddr header = 0;
    std::vector<GuestAddr> data; // one per data buffer
    GuestAddr status = 0;
};

class BlockRequests {
public:
    explicit BlockRequests(VirtqueueBuilder& q) : q_(q) {}

    // header (readable) + data buffers of `data_lens` bytes (writable for reads and GET_ID,
    // readable otherwise) + a 1-byte status, as separate descriptors. `indirect`: one
    // queue descriptor pointing at a table of them.
    BlockRequest make(uint32_t type, uint64_t sector, std::vector<uint32_t> data_lens,
                      bool indirect = false) {
        const bool device_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
        std::vector<Buf> bufs{{16, false}};
        for (uint32_t len : data_lens)
            bufs.push_back({len, device_writes});
        bufs.push_back({1, true});
        BlockRequest r;
        std::vector<Descriptor> descs;
        for (size_t i = 0; i < bufs.size(); ++i) {
            const GuestAddr at = q_.alloc_data(bufs[i].len);
            const auto flags = static_cast<uint16_t>((bufs[i].writable ? kWrite : 0) |
                                                     (i + 1 < bufs.size() ? kNext : 0));
            descs.push_back({at, bufs[i].len, flags, 0});
            if (i == 0)
                r.header = at;
            else if (i + 1 == bufs.size())
                r.status = at;
            else
                r.data.push_back(at);
        }
        virtio_blk_outhdr hdr{type, 0, sector};
        write_bytes(r.header, &hdr, sizeof hdr);
        write_bytes(r.status, &kUntouched, 1);
        if (indirect) {
            for (size_t i = 0; i + 1 < descs.size(); ++i)
                descs[i].next = static_cast<uint16_t>(i + 1);
            const GuestAddr table = q_.add_indirect_table(descs);
            r.head = next_;
            q_.set_desc(next_, {table, static_cast<uint32_t>(descs.size() * 16), kIndirect, 0});
            next_ = static_cast<uint16_t>((next_ + 1) % q_.size());
        } else {
            r.head = next_;
            for (size_t i = 0; i < descs.size(); ++i) {
                const uint16_t index = next_;
                next_ = static_cast<uint16_t>((next_ + 1) % q_.size());
                descs[i].next = next_;
                q_.set_desc(index, descs[i]);
            }
        }
        return r;
    }

    // A discard / write-zeroes request with one segment.
    BlockRequest make_segment(uint32_t type, uint64_t sector, uint32_t sectors, uint32_t flags) {
        BlockRequest r = make(type, 0, {16});
        virtio_blk_discard_write_zeroes seg{sector, sectors, flags};
        write_bytes(r.data[0], &seg, sizeof seg);
        return r;
    }

    void write_bytes(GuestAddr at, const void* p, size_t len) {
        auto ok = q_.memory().write(at, std::span(static_cast<const std::byte*>(p), len));
        EXPECT_TRUE(ok);
    }
    std::vector<uint8_t> read_bytes(GuestAddr at, size_t len) {
        std::vector<uint8_t> out(len);
        auto ok = q_.memory().read(at, std::as_writable_bytes(std::span(out)));
        EXPECT_TRUE(ok);
        return out;
    }
    uint8_t status(const BlockRequest& r) { return read_bytes(r.status, 1)[0]; }

    static constexpr uint8_t kUntouched = 0xee; // what a status byte holds before the device

private:
    VirtqueueBuilder& q_;
    uint16_t next_ = 0;
};

} // namespace ember::virtio::block::testing
