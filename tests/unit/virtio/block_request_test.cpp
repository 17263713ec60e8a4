// parse_request: every request type, every framing, every refusal.
#include "virtio/block/request.hpp"

#include "block_requests.hpp"

#include <gtest/gtest.h>

namespace ember::virtio::block {
namespace {

using testing::BlockRequest;
using testing::BlockRequests;

constexpr RequestLimits kLimits{.capacity_sectors = 1000,
                                .read_only = false,
                                .flush = true,
                                .discard = true,
                                .write_zeroes = true,
                                .max_discard_sectors = 100,
                                .max_write_zeroes_sectors = 200};

class BlockRequestTest : public ::testing::Test {
protected:
    ParseResult parse(uint16_t head, const RequestLimits& limits = kLimits) {
        auto chain = DescriptorChain::parse(q.memory(), q.table(), head);
        EXPECT_TRUE(chain) << chain.error().message;
        return parse_request(*chain, q.memory(), limits);
    }
    // The guest address an iovec of the request points at.
    GuestAddr guest_addr(const iovec& v) {
        auto base = q.memory().span(0, 1);
        return static_cast<GuestAddr>(static_cast<std::byte*>(v.iov_base) - base->data());
    }

    VirtqueueBuilder q{128};
    BlockRequests reqs{q};
};

TEST_F(BlockRequestTest, ReadNamesItsBuffersAndStatus) {
    const BlockRequest r = reqs.make(VIRTIO_BLK_T_IN, 7, {512, 1024});
    const ParseResult p = parse(r.head);
    ASSERT_TRUE(p.request) << p.error.message;
    EXPECT_EQ(p.request->type, RequestType::kRead);
    EXPECT_EQ(p.request->sector, 7U);
    EXPECT_EQ(p.request->num_sectors, 3U);
    EXPECT_EQ(p.request->data_len, 1536U);
    ASSERT_EQ(p.request->data.size(), 2U);
    EXPECT_EQ(guest_addr(p.request->data[0]), r.data[0]);
    EXPECT_EQ(p.request->data[1].iov_len, 1024U);
    EXPECT_EQ(p.request->status_addr, r.status);
    EXPECT_EQ(p.request->written_len(), 1537U);
}

TEST_F(BlockRequestTest, WriteThroughAnIndirectTable) {
    const BlockRequest r = reqs.make(VIRTIO_BLK_T_OUT, 999, {512}, /*indirect=*/true);
    const ParseResult p = parse(r.head);
    ASSERT_TRUE(p.request) << p.error.message;
    EXPECT_EQ(p.request->type, RequestType::kWrite);
    EXPECT_EQ(guest_addr(p.request->data[0]), r.data[0]);
    EXPECT_EQ(p.request->written_len(), 1U); // only the status byte
}

TEST_F(BlockRequestTest, AnyLayoutHeaderDataAndStatusShareBuffers) {
    // One readable buffer holding header + 512 bytes, one writable byte: a write.
    const GuestAddr out = q.alloc_data(528);
    const GuestAddr status = q.alloc_data(1);
    virtio_blk_outhdr hdr{VIRTIO_BLK_T_OUT, 0, 3};
    reqs.write_bytes(out, &hdr, sizeof hdr);
    q.set_desc(0, {out, 528, kNext, 1});
    q.set_desc(1, {status, 1, kWrite, 0});
    ParseResult p = parse(0);
    ASSERT_TRUE(p.request) << p.error.message;
    EXPECT_EQ(p.request->data_len, 512U);
    EXPECT_EQ(guest_addr(p.request->data[0]), out + 16);

    // A read whose data and status share one 513-byte writable buffer.
    const GuestAddr in = q.alloc_data(513);
    virtio_blk_outhdr rd{VIRTIO_BLK_T_IN, 0, 3};
    reqs.write_bytes(out, &rd, sizeof rd);
    q.set_desc(2, {out, 16, kNext, 3});
    q.set_desc(3, {in, 513, kWrite, 0});
    p = parse(2);
    ASSERT_TRUE(p.request) << p.error.message;
    EXPECT_EQ(p.request->data_len, 512U);
    EXPECT_EQ(p.request->status_addr, in + 512);
}

TEST_F(BlockRequestTest, NoWritableByteCannotBeAnswered) {
    const GuestAddr hdr = q.alloc_data(16);
    q.set_desc(0, {hdr, 16, 0, 0});
    const ParseResult p = parse(0);
    EXPECT_FALSE(p.request);
    EXPECT_FALSE(p.error.status_addr);
    EXPECT_NE(p.error.message.find("status"), std::string::npos) << p.error.message;
}

TEST_F(BlockRequestTest, RefusalsCarryTheStatusAndAReason) {
    struct Case {
        const char* what;
        BlockRequest request;
        RequestLimits limits;
        uint8_t status;
        const char* message;
    };
    RequestLimits ro = kLimits;
    ro.read_only = true;
    RequestLimits bare = kLimits;
    bare.flush = bare.discard = bare.write_zeroes = false;
    const std::vector<Case> cases{
        {"partial sector", reqs.make(VIRTIO_BLK_T_IN, 0, {100}), kLimits, VIRTIO_BLK_S_IOERR,
         "multiple of 512"},
        {"past the end", reqs.make(VIRTIO_BLK_T_IN, 999, {1024}), kLimits, VIRTIO_BLK_S_IOERR,
         "past the end"},
        {"sector overflow", reqs.make(VIRTIO_BLK_T_OUT, ~uint64_t{0}, {512}), kLimits,
         VIRTIO_BLK_S_IOERR, "past the end"},
        {"write to read-only", reqs.make(VIRTIO_BLK_T_OUT, 0, {512}), ro, VIRTIO_BLK_S_IOERR,
         "read-only"},
        {"empty read", reqs.make(VIRTIO_BLK_T_IN, 0, {}), kLimits, VIRTIO_BLK_S_OK, ""},
        {"flush not negotiated", reqs.make(VIRTIO_BLK_T_FLUSH, 0, {}), bare, VIRTIO_BLK_S_UNSUPP,
         "not negotiated"},
        {"flush with data", reqs.make(VIRTIO_BLK_T_FLUSH, 0, {512}), kLimits, VIRTIO_BLK_S_IOERR,
         "expected 16 and 1"},
        {"GET_ID without room", reqs.make(VIRTIO_BLK_T_GET_ID, 0, {}), kLimits, VIRTIO_BLK_S_IOERR,
         "without a buffer"},
        {"unknown type", reqs.make(99, 0, {}), kLimits, VIRTIO_BLK_S_UNSUPP, "type 99"},
        {"secure erase", reqs.make(VIRTIO_BLK_T_SECURE_ERASE, 0, {}), kLimits, VIRTIO_BLK_S_UNSUPP,
         "not supported"},
        {"discard with unmap", reqs.make_segment(VIRTIO_BLK_T_DISCARD, 0, 8, 1), kLimits,
         VIRTIO_BLK_S_UNSUPP, "flags"},
        {"discard too big", reqs.make_segment(VIRTIO_BLK_T_DISCARD, 0, 101, 0), kLimits,
         VIRTIO_BLK_S_IOERR, "allows 100"},
        {"discard past the end", reqs.make_segment(VIRTIO_BLK_T_DISCARD, 990, 20, 0), kLimits,
         VIRTIO_BLK_S_IOERR, "past the end"},
        {"discard not negotiated", reqs.make_segment(VIRTIO_BLK_T_DISCARD, 0, 8, 0), bare,
         VIRTIO_BLK_S_UNSUPP, "not negotiated"},
        {"write zeroes on read-only", reqs.make_segment(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), ro,
         VIRTIO_BLK_S_IOERR, "read-only"},
        {"write zeroes reserved flag", reqs.make_segment(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2),
         kLimits, VIRTIO_BLK_S_UNSUPP, "flags"},
        {"two segments", reqs.make(VIRTIO_BLK_T_DISCARD, 0, {32}), kLimits, VIRTIO_BLK_S_IOERR,
         "2 segments"},
        {"ragged segment", reqs.make(VIRTIO_BLK_T_DISCARD, 0, {20}), kLimits, VIRTIO_BLK_S_IOERR,
         "16-byte segments"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        const ParseResult p = parse(c.request.head, c.limits);
        if (c.status == VIRTIO_BLK_S_OK) {
            EXPECT_TRUE(p.request) << p.error.message; // a zero-length read is allowed
            continue;
        }
        ASSERT_FALSE(p.request);
        EXPECT_EQ(p.error.status, c.status);
        ASSERT_TRUE(p.error.status_addr);
        EXPECT_EQ(*p.error.status_addr, c.request.status);
        EXPECT_NE(p.error.message.find(c.message), std::string::npos) << p.error.message;
    }
}

TEST_F(BlockRequestTest, ShortHeaderAndWrongDirectionsAreIoErrors) {
    // An 8-byte header.
    const GuestAddr hdr = q.alloc_data(8);
    const GuestAddr status = q.alloc_data(1);
    q.set_desc(0, {hdr, 8, kNext, 1});
    q.set_desc(1, {status, 1, kWrite, 0});
    ParseResult p = parse(0);
    ASSERT_FALSE(p.request);
    EXPECT_NE(p.error.message.find("header is 8 bytes"), std::string::npos) << p.error.message;

    // A write whose data the guest marked device-writable.
    const BlockRequest r = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    virtio_blk_outhdr out{VIRTIO_BLK_T_OUT, 0, 0};
    reqs.write_bytes(r.header, &out, sizeof out);
    p = parse(r.head);
    ASSERT_FALSE(p.request);
    EXPECT_EQ(p.error.status, VIRTIO_BLK_S_IOERR);
    EXPECT_NE(p.error.message.find("device-writable"), std::string::npos) << p.error.message;
}

TEST_F(BlockRequestTest, GetIdTakesAtMostTwentyBytes) {
    ParseResult p = parse(reqs.make(VIRTIO_BLK_T_GET_ID, 0, {64}).head);
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->data_len, 20U);
    EXPECT_EQ(p.request->written_len(), 21U);
    p = parse(reqs.make(VIRTIO_BLK_T_GET_ID, 0, {8}).head);
    ASSERT_TRUE(p.request);
    EXPECT_EQ(p.request->data_len, 8U);
}

TEST_F(BlockRequestTest, SegmentsGiveRangeAndUnmap) {
    ParseResult p = parse(
        reqs.make_segment(VIRTIO_BLK_T_WRITE_ZEROES, 10, 200, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
            .head);
    ASSERT_TRUE(p.request) << p.error.message;
    EXPECT_EQ(p.request->type, RequestType::kWriteZeroes);
    EXPECT_EQ(p.request->sector, 10U);
    EXPECT_EQ(p.request->num_sectors, 200U);
    EXPECT_TRUE(p.request->unmap);
    p = parse(reqs.make_segment(VIRTIO_BLK_T_DISCARD, 900, 100, 0).head);
    ASSERT_TRUE(p.request) << p.error.message;
    EXPECT_EQ(p.request->type, RequestType::kDiscard);
    EXPECT_FALSE(p.request->unmap);
    EXPECT_EQ(p.request->written_len(), 1U);
}

TEST_F(BlockRequestTest, FlushNeedsNothingElse) {
    const ParseResult p = parse(reqs.make(VIRTIO_BLK_T_FLUSH, 12345, {}).head);
    ASSERT_TRUE(p.request) << p.error.message;
    EXPECT_EQ(p.request->type, RequestType::kFlush);
}

} // namespace
} // namespace ember::virtio::block
