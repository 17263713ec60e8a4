// SplitRing: the driver side of one split virtqueue at a fixed base in shared test memory, for
// device tests with several queues (virtqueue_builder.hpp has one queue per memory). Layout from
// `base`: descriptors (up to 256), avail at +0x1000, used at +0x2000, data buffers from +0x10000.
#pragma once

#include "tests/unit/virtio/virtqueue_builder.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

namespace ember::virtio {

// One split ring at `base` in shared test memory: descriptors, avail, used, then data.
class SplitRing {
public:
    SplitRing(const GuestMemory& memory, GuestAddr base, uint16_t size)
        : memory_(memory), base_(base), size_(size), next_data_(base + 0x10000) {}

    [[nodiscard]] QueueConfig config() const {
        return {size_, size_, true, base_, base_ + 0x1000, base_ + 0x2000};
    }
    // A chain of fresh buffers: {len, writable}; returns its head.
    uint16_t add_chain(std::initializer_list<Buf> bufs) {
        const uint16_t head = next_desc_;
        size_t i = 0;
        for (const Buf& b : bufs) {
            const uint16_t index = next_desc_;
            next_desc_ = static_cast<uint16_t>((next_desc_ + 1) % size_);
            const bool last = ++i == bufs.size();
            const auto flags =
                static_cast<uint16_t>((b.writable ? kWrite : 0) | (last ? 0 : kNext));
            set_desc(index, {next_data_, b.len, flags, next_desc_});
            next_data_ += (uint64_t{b.len} + 15) & ~uint64_t{15};
        }
        return head;
    }
    void set_desc(uint16_t index, const Descriptor& d) {
        ASSERT_TRUE(memory_.write_obj(base_ + 16ULL * index, d));
    }
    [[nodiscard]] Descriptor desc(uint16_t index) const {
        return memory_.read_obj<Descriptor>(base_ + 16ULL * index).value_or(Descriptor{});
    }
    void publish(uint16_t head) {
        ASSERT_TRUE(memory_.write_obj(base_ + 0x1000 + 4 + 2ULL * (avail_ % size_), head));
        ++avail_;
        ASSERT_TRUE(memory_.write_obj(base_ + 0x1000 + 2, avail_));
    }
    [[nodiscard]] uint16_t used_idx() const {
        return memory_.read_obj<uint16_t>(base_ + 0x2002).value_or(0xffff);
    }
    [[nodiscard]] UsedElement used(uint16_t slot) const {
        return memory_.read_obj<UsedElement>(base_ + 0x2004 + 8ULL * slot).value_or(UsedElement{});
    }
    // The bytes of descriptor `index`'s buffer.
    [[nodiscard]] std::vector<uint8_t> bytes(uint16_t index) const {
        const Descriptor d = desc(index);
        std::vector<uint8_t> out(d.len);
        EXPECT_TRUE(memory_.read(d.addr, std::as_writable_bytes(std::span(out))));
        return out;
    }
    void fill(uint16_t index, const std::vector<uint8_t>& data) {
        ASSERT_TRUE(memory_.write(desc(index).addr, std::as_bytes(std::span(data))));
    }

private:
    const GuestMemory& memory_;
    GuestAddr base_;
    uint16_t size_;
    GuestAddr next_data_;
    uint16_t next_desc_ = 0;
    uint16_t avail_ = 0;
};

} // namespace ember::virtio
