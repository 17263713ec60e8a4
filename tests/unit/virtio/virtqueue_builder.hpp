// VirtqueueBuilder: plays the driver side of a split virtqueue for unit tests.
//
// Lays out a descriptor table, an available ring and a used ring in a small GuestMemory, writes
// chains of data buffers (direct, or through an indirect table) into it, publishes heads on the
// available ring and reads back what the device put on the used ring. Raw setters let a test
// write any descriptor or ring word a hostile guest could.
#pragma once

#include "virtio/queue/descriptor_chain.hpp"
#include "virtio/queue/queue_config.hpp"
#include "vmm/core/guest_memory.hpp"
#include "vmm/core/layout.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

namespace ember::virtio {

// The kernel's flag macros are ints; typed copies keep -Wconversion quiet in tests.
inline constexpr uint16_t kNext = VRING_DESC_F_NEXT;
inline constexpr uint16_t kWrite = VRING_DESC_F_WRITE;
inline constexpr uint16_t kIndirect = VRING_DESC_F_INDIRECT;

// One buffer of a chain the builder makes: its length and who writes it.
struct Buf {
    uint32_t len = 0;
    bool writable = false;
};

struct UsedElement {
    uint32_t id = 0;
    uint32_t len = 0;
};

inline GuestMemory make_guest_memory(uint64_t bytes) {
    auto m = GuestMemory::create(GuestMemory::x86_regions(bytes));
    EXPECT_TRUE(m) << m.error().message();
    return std::move(*m);
}

class VirtqueueBuilder {
public:
    // Fixed layout (queue sizes up to 1024): rings low, then indirect tables, then data.
    static constexpr GuestAddr kDescAddr = 0x1000;  // up to 16 KiB
    static constexpr GuestAddr kAvailAddr = 0x5000; // up to 2054 bytes
    static constexpr GuestAddr kUsedAddr = 0x6000;  // up to 8198 bytes
    static constexpr GuestAddr kIndirectAddr = 0x10000;
    static constexpr GuestAddr kDataAddr = 0x20000;
    static constexpr uint64_t kRamSize = layout::kMiB;

    explicit VirtqueueBuilder(uint16_t size = 16)
        : size_(size), memory_(make_guest_memory(kRamSize)) {}

    [[nodiscard]] const GuestMemory& memory() const { return memory_; }
    [[nodiscard]] uint16_t size() const { return size_; }
    [[nodiscard]] QueueConfig config() const {
        return {size_, size_, true, kDescAddr, kAvailAddr, kUsedAddr};
    }
    [[nodiscard]] DescriptorTable table(bool indirect_desc = true) const {
        return {kDescAddr, size_, indirect_desc};
    }

    // Raw descriptors, in the queue's table or in any table.
    void set_desc(uint16_t index, const Descriptor& d) { write_desc(kDescAddr, index, d); }
    void write_desc(GuestAddr table, uint32_t index, const Descriptor& d) {
        write(table + uint64_t{index} * sizeof(Descriptor), d);
    }

    // A fresh data buffer (never reused, 16-byte aligned).
    GuestAddr alloc_data(uint32_t len) {
        const GuestAddr at = next_data_;
        next_data_ += (uint64_t{len} + 15) & ~uint64_t{15};
        return at;
    }

    // Writes `bufs` as a chain of consecutive free descriptors (wrapping round the table) and
    // returns its head. Segments get fresh data buffers in order.
    uint16_t add_chain(std::initializer_list<Buf> bufs) {
        const uint16_t head = next_free_;
        size_t i = 0;
        for (const Buf& b : bufs) {
            const uint16_t index = next_free_;
            next_free_ = static_cast<uint16_t>((next_free_ + 1) % size_);
            const bool last = ++i == bufs.size();
            set_desc(index, make_desc(b, last ? uint16_t{0} : kNext, next_free_));
        }
        return head;
    }

    // One queue descriptor (INDIRECT) pointing at a new table holding `bufs` as a linear chain.
    uint16_t add_indirect_chain(std::initializer_list<Buf> bufs) {
        std::vector<Descriptor> entries;
        for (const Buf& b : bufs) {
            const auto next = static_cast<uint16_t>(entries.size() + 1);
            entries.push_back(make_desc(b, next == bufs.size() ? uint16_t{0} : kNext, next));
        }
        const GuestAddr table = add_indirect_table(entries);
        const uint16_t head = next_free_;
        next_free_ = static_cast<uint16_t>((next_free_ + 1) % size_);
        set_desc(head,
                 {table, static_cast<uint32_t>(entries.size() * sizeof(Descriptor)), kIndirect, 0});
        return head;
    }

    // Writes raw entries as an indirect table; returns its address.
    GuestAddr add_indirect_table(const std::vector<Descriptor>& entries) {
        const GuestAddr table = next_indirect_;
        for (size_t i = 0; i < entries.size(); ++i)
            write_desc(table, static_cast<uint32_t>(i), entries[i]);
        next_indirect_ += entries.size() * sizeof(Descriptor);
        return table;
    }

    // Puts `head` on the available ring and bumps avail->idx, as a driver does.
    void publish(uint16_t head) {
        write(kAvailAddr + 4 + uint64_t{2} * (avail_idx_ % size_), head);
        set_avail_idx(static_cast<uint16_t>(avail_idx_ + 1));
    }
    void set_avail_idx(uint16_t idx) {
        avail_idx_ = idx;
        write(kAvailAddr + 2, idx);
    }
    void set_avail_flags(uint16_t flags) { write(kAvailAddr, flags); }
    void set_used_event(uint16_t idx) { write(kAvailAddr + 4 + uint64_t{2} * size_, idx); }
    [[nodiscard]] uint16_t avail_idx() const { return avail_idx_; }

    [[nodiscard]] uint16_t used_flags() const { return read<uint16_t>(kUsedAddr); }
    [[nodiscard]] uint16_t used_idx() const { return read<uint16_t>(kUsedAddr + 2); }
    [[nodiscard]] UsedElement used_elem(uint16_t slot) const {
        return read<UsedElement>(kUsedAddr + 4 + uint64_t{8} * slot);
    }
    [[nodiscard]] uint16_t avail_event() const {
        return read<uint16_t>(kUsedAddr + 4 + uint64_t{8} * size_);
    }

private:
    Descriptor make_desc(const Buf& b, uint16_t flags, uint16_t next) {
        const uint16_t write_flag = b.writable ? kWrite : uint16_t{0};
        return {alloc_data(b.len), b.len, static_cast<uint16_t>(flags | write_flag), next};
    }
    template <class T> void write(GuestAddr at, const T& v) {
        auto r = memory_.write_obj(at, v);
        EXPECT_TRUE(r) << r.error().message();
    }
    template <class T> T read(GuestAddr at) const {
        auto r = memory_.read_obj<T>(at);
        EXPECT_TRUE(r) << r.error().message();
        return r.value_or(T{});
    }

    uint16_t size_;
    GuestMemory memory_;
    uint16_t next_free_ = 0;
    uint16_t avail_idx_ = 0;
    GuestAddr next_indirect_ = kIndirectAddr;
    GuestAddr next_data_ = kDataAddr;
};

} // namespace ember::virtio
