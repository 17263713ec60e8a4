#include "virtio/queue/descriptor_chain.hpp"

#include "tests/unit/virtio/virtqueue_builder.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

namespace ember::virtio {
namespace {

using ::testing::HasSubstr;
using B = VirtqueueBuilder;

// Parses `head` and expects a fault of kind `error` whose message contains `text`.
void expect_fault(const VirtqueueBuilder& q, uint16_t head, ChainError error, std::string_view text,
                  bool indirect_desc = true) {
    auto chain = DescriptorChain::parse(q.memory(), q.table(indirect_desc), head);
    ASSERT_FALSE(chain) << "parsed " << chain->segments().size() << " segments";
    EXPECT_EQ(chain.error().error, error) << chain.error().message;
    EXPECT_THAT(chain.error().message, HasSubstr(text));
    EXPECT_EQ(chain.error().to_error().code(), Errc::kInvalidInput);
}

TEST(DescriptorChain, SingleReadableBuffer) {
    VirtqueueBuilder q;
    const uint16_t head = q.add_chain({{64}});
    auto chain = DescriptorChain::parse(q.memory(), q.table(), head);
    ASSERT_TRUE(chain) << chain.error().message;
    EXPECT_EQ(chain->head(), 0);
    ASSERT_EQ(chain->segments().size(), 1U);
    EXPECT_EQ(chain->segments()[0], (Segment{B::kDataAddr, 64, false}));
    EXPECT_EQ(chain->readable_bytes(), 64U);
    EXPECT_EQ(chain->writable_bytes(), 0U);
    EXPECT_EQ(chain->writable().size(), 0U);
}

TEST(DescriptorChain, SplitsReadableFromWritable) {
    VirtqueueBuilder q;
    (void)q.add_chain({{8}}); // descriptor 0, so the chain under test starts at 1
    const uint16_t head = q.add_chain({{16}, {512}, {1, true}, {100, true}});
    auto chain = DescriptorChain::parse(q.memory(), q.table(), head);
    ASSERT_TRUE(chain) << chain.error().message;
    EXPECT_EQ(chain->head(), 1);
    ASSERT_EQ(chain->readable().size(), 2U);
    ASSERT_EQ(chain->writable().size(), 2U);
    EXPECT_EQ(chain->readable()[0], (Segment{B::kDataAddr + 0x10, 16, false}));
    EXPECT_EQ(chain->readable()[1], (Segment{B::kDataAddr + 0x20, 512, false}));
    EXPECT_EQ(chain->writable()[0], (Segment{B::kDataAddr + 0x220, 1, true}));
    EXPECT_EQ(chain->writable()[1], (Segment{B::kDataAddr + 0x230, 100, true}));
    EXPECT_EQ(chain->readable_bytes(), 528U);
    EXPECT_EQ(chain->writable_bytes(), 101U);
}

TEST(DescriptorChain, FollowsNextInAnyOrder) {
    VirtqueueBuilder q;
    q.set_desc(5, {0x30000, 10, kNext, 2});
    q.set_desc(2, {0x31000, 20, kNext | kWrite, 9});
    q.set_desc(9, {0x32000, 30, kWrite, 0});
    auto chain = DescriptorChain::parse(q.memory(), q.table(), 5);
    ASSERT_TRUE(chain) << chain.error().message;
    ASSERT_EQ(chain->segments().size(), 3U);
    EXPECT_EQ(chain->segments()[2], (Segment{0x32000, 30, true}));
    EXPECT_EQ(chain->readable_bytes(), 10U);
    EXPECT_EQ(chain->writable_bytes(), 50U);
}

TEST(DescriptorChain, WholeTableAsOneChainIsAllowed) {
    VirtqueueBuilder q(4);
    const uint16_t head = q.add_chain({{1}, {2}, {3, true}, {4, true}});
    auto chain = DescriptorChain::parse(q.memory(), q.table(), head);
    ASSERT_TRUE(chain) << chain.error().message;
    EXPECT_EQ(chain->segments().size(), 4U);
    EXPECT_EQ(chain->readable_bytes() + chain->writable_bytes(), 10U);
}

TEST(DescriptorChain, ZeroLengthBufferInsideRamIsAccepted) {
    VirtqueueBuilder q;
    const uint16_t head = q.add_chain({{0}, {0, true}});
    auto chain = DescriptorChain::parse(q.memory(), q.table(), head);
    ASSERT_TRUE(chain) << chain.error().message;
    EXPECT_EQ(chain->segments().size(), 2U);
    EXPECT_EQ(chain->readable_bytes(), 0U);
}

TEST(DescriptorChain, IndirectTable) {
    VirtqueueBuilder q;
    const uint16_t head = q.add_indirect_chain({{16}, {32, true}, {48, true}});
    auto chain = DescriptorChain::parse(q.memory(), q.table(), head);
    ASSERT_TRUE(chain) << chain.error().message;
    EXPECT_EQ(chain->head(), head);
    ASSERT_EQ(chain->segments().size(), 3U); // the table's descriptor itself is not a buffer
    EXPECT_EQ(chain->segments()[0], (Segment{B::kDataAddr, 16, false}));
    EXPECT_EQ(chain->segments()[1], (Segment{B::kDataAddr + 0x10, 32, true}));
    EXPECT_EQ(chain->readable_bytes(), 16U);
    EXPECT_EQ(chain->writable_bytes(), 80U);
}

TEST(DescriptorChain, DirectBuffersThenIndirectTable) {
    VirtqueueBuilder q;
    const GuestAddr table =
        q.add_indirect_table({{0x30000, 8, kNext, 3}, {}, {}, {0x31000, 4, kWrite, 0}});
    q.set_desc(0, {0x2f000, 12, kNext, 1});
    q.set_desc(1, {table, 4 * sizeof(Descriptor), kIndirect | kWrite, 0}); // WRITE is ignored
    auto chain = DescriptorChain::parse(q.memory(), q.table(), 0);
    ASSERT_TRUE(chain) << chain.error().message;
    ASSERT_EQ(chain->segments().size(), 3U);
    EXPECT_EQ(chain->segments()[0], (Segment{0x2f000, 12, false}));
    EXPECT_EQ(chain->segments()[1], (Segment{0x30000, 8, false}));
    EXPECT_EQ(chain->segments()[2], (Segment{0x31000, 4, true}));
}

TEST(DescriptorChain, ParseIntoReusesAndResetsTheChain) {
    VirtqueueBuilder q;
    const uint16_t first = q.add_chain({{10}, {20}, {30, true}});
    const uint16_t second = q.add_chain({{5, true}});
    DescriptorChain chain;
    ASSERT_TRUE(DescriptorChain::parse_into(q.memory(), q.table(), first, chain));
    EXPECT_EQ(chain.segments().size(), 3U);
    ASSERT_TRUE(DescriptorChain::parse_into(q.memory(), q.table(), second, chain));
    EXPECT_EQ(chain.head(), 3);
    ASSERT_EQ(chain.segments().size(), 1U);
    EXPECT_EQ(chain.readable().size(), 0U);
    EXPECT_EQ(chain.readable_bytes(), 0U);
    EXPECT_EQ(chain.writable_bytes(), 5U);
}

// --- hostile chains ---

TEST(DescriptorChain, HeadIndexOutOfRange) {
    VirtqueueBuilder q;
    expect_fault(q, 16, ChainError::kIndexOutOfRange, "head 16, descriptor 16: head index");
}

TEST(DescriptorChain, NextIndexOutOfRange) {
    VirtqueueBuilder q;
    q.set_desc(3, {0x30000, 8, kNext, 16});
    expect_fault(q, 3, ChainError::kIndexOutOfRange, "descriptor 3: next index 16 is not below 16");
}

TEST(DescriptorChain, LoopThroughNext) {
    VirtqueueBuilder q;
    q.set_desc(0, {0x30000, 8, kNext, 1});
    q.set_desc(1, {0x30000, 8, kNext, 0});
    expect_fault(q, 0, ChainError::kLoop, "more than the 16 descriptors");
}

TEST(DescriptorChain, SelfLoop) {
    VirtqueueBuilder q(4);
    q.set_desc(2, {0x30000, 8, kNext | kWrite, 2});
    expect_fault(q, 2, ChainError::kLoop, "head 2, descriptor 2: the chain visits more than the 4");
}

TEST(DescriptorChain, BufferOutsideRam) {
    VirtqueueBuilder q;
    q.set_desc(0, {B::kRamSize, 8, 0, 0});
    expect_fault(q, 0, ChainError::kOutOfRange, "buffer [0x100000, +0x8) is not in guest RAM");
}

TEST(DescriptorChain, BufferRunsPastTheEndOfRam) {
    VirtqueueBuilder q;
    q.set_desc(0, {0x30000, 8, kNext, 1});
    q.set_desc(1, {B::kRamSize - 8, 16, kWrite, 0});
    expect_fault(q, 0, ChainError::kOutOfRange, "descriptor 1: buffer [0xffff8, +0x10)");
}

TEST(DescriptorChain, AddressPlusLengthOverflows) {
    VirtqueueBuilder q;
    q.set_desc(0, {std::numeric_limits<uint64_t>::max() - 7, 16, 0, 0});
    expect_fault(q, 0, ChainError::kOutOfRange, "[0xfffffffffffffff8, +0x10)");
    q.set_desc(0, {0x1000, std::numeric_limits<uint32_t>::max(), 0, 0});
    expect_fault(q, 0, ChainError::kOutOfRange, "[0x1000, +0xffffffff)");
}

TEST(DescriptorChain, ReadableAfterWritable) {
    VirtqueueBuilder q;
    const uint16_t head = q.add_chain({{8}, {8, true}, {8}});
    expect_fault(q, head, ChainError::kWrongOrder,
                 "descriptor 2: a device-readable buffer follows a device-writable one");
}

TEST(DescriptorChain, ReadableInIndirectTableAfterWritableDirect) {
    VirtqueueBuilder q;
    const GuestAddr table = q.add_indirect_table({{0x30000, 8, 0, 0}});
    q.set_desc(0, {0x2f000, 8, kNext | kWrite, 1});
    q.set_desc(1, {table, sizeof(Descriptor), kIndirect, 0});
    expect_fault(q, 0, ChainError::kWrongOrder, "indirect descriptor 0 of table 0x10000");
}

TEST(DescriptorChain, ChainLongerThanQueueSizeThroughIndirectTable) {
    VirtqueueBuilder q(4);
    const uint16_t head = q.add_indirect_chain({{1}, {1}, {1}, {1}, {1, true}});
    expect_fault(q, head, ChainError::kTooLong, "more than 4 buffers (the queue size)");
}

TEST(DescriptorChain, DirectPlusIndirectLongerThanQueueSize) {
    VirtqueueBuilder q(4);
    const GuestAddr table =
        q.add_indirect_table({{0x30000, 1, kNext, 1}, {0x30000, 1, kNext, 2}, {0x30000, 1, 0, 0}});
    q.set_desc(0, {0x2f000, 8, kNext, 1});
    q.set_desc(1, {0x2f000, 8, kNext, 2});
    q.set_desc(2, {table, 3 * sizeof(Descriptor), kIndirect, 0});
    expect_fault(q, 0, ChainError::kTooLong, "indirect descriptor 2");
}

TEST(DescriptorChain, MoreThan4GiBInTotal) {
    // Two overlapping 3 GiB buffers: each is in RAM, together they break 2.7.4.2.
    auto memory = make_guest_memory(3 * layout::kGiB);
    const DescriptorTable table{0x1000, 4, false};
    const uint32_t len = 3U << 30;
    ASSERT_TRUE(memory.write_obj<Descriptor>(0x1000, {0, len, kNext, 1}));
    ASSERT_TRUE(memory.write_obj<Descriptor>(0x1010, {0, len, kWrite, 0}));
    auto chain = DescriptorChain::parse(memory, table, 0);
    ASSERT_FALSE(chain);
    EXPECT_EQ(chain.error().error, ChainError::kTooLarge);
    EXPECT_THAT(chain.error().message, HasSubstr("descriptor 1: the chain holds more than 2^32"));
}

TEST(DescriptorChain, IndirectNotNegotiated) {
    VirtqueueBuilder q;
    const uint16_t head = q.add_indirect_chain({{8}});
    expect_fault(q, head, ChainError::kBadIndirect,
                 "VIRTIO_RING_F_INDIRECT_DESC was not negotiated", false);
}

TEST(DescriptorChain, ZeroLengthIndirectTable) {
    VirtqueueBuilder q;
    q.set_desc(0, {B::kIndirectAddr, 0, kIndirect, 0});
    expect_fault(q, 0, ChainError::kBadIndirect, "indirect table length 0 is not a non-zero");
}

TEST(DescriptorChain, IndirectLengthNotAMultipleOf16) {
    VirtqueueBuilder q;
    q.set_desc(0, {B::kIndirectAddr, 24, kIndirect, 0});
    expect_fault(q, 0, ChainError::kBadIndirect, "length 24 is not a non-zero multiple of 16");
}

TEST(DescriptorChain, NestedIndirect) {
    VirtqueueBuilder q;
    const GuestAddr inner = q.add_indirect_table({{0x30000, 8, 0, 0}});
    const GuestAddr outer =
        q.add_indirect_table({{0x30000, 8, kNext, 1}, {inner, 16, kIndirect, 0}});
    q.set_desc(0, {outer, 32, kIndirect, 0});
    expect_fault(q, 0, ChainError::kBadIndirect,
                 "indirect descriptor 1 of table 0x10010: an indirect table must not contain");
}

TEST(DescriptorChain, IndirectWithNext) {
    VirtqueueBuilder q;
    const GuestAddr table = q.add_indirect_table({{0x30000, 8, 0, 0}});
    q.set_desc(0, {table, 16, kIndirect | kNext, 1});
    q.set_desc(1, {0x30000, 8, 0, 0});
    expect_fault(q, 0, ChainError::kBadIndirect, "INDIRECT and NEXT must not both be set");
}

TEST(DescriptorChain, IndirectTableOutsideRam) {
    VirtqueueBuilder q;
    q.set_desc(0, {B::kRamSize - 16, 32, kIndirect, 0});
    expect_fault(q, 0, ChainError::kOutOfRange,
                 "indirect table [0xffff0, +0x20) is not in guest RAM");
}

TEST(DescriptorChain, LoopInsideIndirectTable) {
    VirtqueueBuilder q;
    const GuestAddr table = q.add_indirect_table({{0x30000, 8, kNext, 1}, {0x30000, 8, kNext, 0}});
    q.set_desc(0, {table, 32, kIndirect, 0});
    expect_fault(q, 0, ChainError::kLoop, "visits more than the 2 descriptors of its table");
}

TEST(DescriptorChain, NextOutsideIndirectTable) {
    VirtqueueBuilder q;
    // Entry 1 would be readable memory, but the table is one entry long.
    const GuestAddr table = q.add_indirect_table({{0x30000, 8, kNext, 1}, {0x30000, 8, 0, 0}});
    q.set_desc(0, {table, 16, kIndirect, 0});
    expect_fault(q, 0, ChainError::kIndexOutOfRange, "next index 1 is not below 1");
}

TEST(DescriptorChain, BufferOutsideRamInIndirectTable) {
    VirtqueueBuilder q;
    const GuestAddr table =
        q.add_indirect_table({{0x30000, 8, kNext, 1}, {0x7fff'0000'0000, 8, 0, 0}});
    q.set_desc(0, {table, 32, kIndirect, 0});
    expect_fault(q, 0, ChainError::kOutOfRange, "indirect descriptor 1 of table 0x10000: buffer");
}

TEST(DescriptorChain, DescriptorTableOutsideRam) {
    VirtqueueBuilder q;
    const DescriptorTable table{B::kRamSize - 16, 4, false};
    auto chain = DescriptorChain::parse(q.memory(), table, 0);
    ASSERT_FALSE(chain);
    EXPECT_EQ(chain.error().error, ChainError::kOutOfRange);
    EXPECT_THAT(chain.error().message,
                HasSubstr("descriptor table at 0xffff0 is not in guest RAM"));
}

TEST(DescriptorChain, ErrorNamesAreDistinct) {
    EXPECT_EQ(to_string(ChainError::kLoop), "descriptor loop");
    EXPECT_EQ(to_string(ChainError::kWrongOrder), "readable after writable");
    EXPECT_EQ(to_string(ChainError::kBadAvailIdx), "bad available index");
}

} // namespace
} // namespace ember::virtio
