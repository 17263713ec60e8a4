#include "virtio/block/io_engine.hpp"

#include "virtio/block/overlay_disk.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <string>
#include <vector>

#include "tests/unit/virtio/temp_file.hpp"

#include <gtest/gtest.h>

namespace ember::virtio::block {
namespace {

using testing::Bytes;
using testing::iov;
using testing::pattern;
using testing::TempFile;

constexpr size_t kSectors = 64;
constexpr size_t kImageSize = kSectors * 512;

Bytes slice(const Bytes& b, size_t offset, size_t len) {
    return {b.begin() + static_cast<ptrdiff_t>(offset),
            b.begin() + static_cast<ptrdiff_t>(offset + len)};
}

// Why io_uring cannot be used here (empty when it can), asked once per test run.
const std::string& io_uring_unavailable() {
    static const std::string reason = [] {
        TempFile f(Bytes(512, 0), "probe");
        auto disk = SyncDisk::open(f.path(), {});
        if (!disk) return disk.error().describe();
        auto engine = make_io_uring_engine(std::move(*disk), 1);
        return engine ? std::string() : engine.error().describe();
    }();
    return reason;
}

// Whether the file system of the test directory can punch holes.
bool can_punch_holes() {
    TempFile f(Bytes(4096, 1), "probe");
    const int fd = ::open(f.path().c_str(), O_RDWR | O_CLOEXEC);
    const bool ok = ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
    ::close(fd);
    return ok;
}

IoRequest read_req(uint64_t sector, std::span<const iovec> buffers, uint64_t cookie) {
    return {IoOp::kRead, sector, buffers, 0, false, cookie};
}
IoRequest write_req(uint64_t sector, std::span<const iovec> buffers, uint64_t cookie) {
    return {IoOp::kWrite, sector, buffers, 0, false, cookie};
}
IoRequest range_req(IoOp op, uint64_t sector, uint64_t count, uint64_t cookie, bool unmap = false) {
    return {op, sector, {}, count, unmap, cookie};
}

// The same battery against each engine.
class IoEngineTest : public ::testing::TestWithParam<EngineKind> {
protected:
    void SetUp() override {
        if (GetParam() == EngineKind::kIoUring && !io_uring_unavailable().empty())
            GTEST_SKIP() << "io_uring unavailable: " << io_uring_unavailable();
    }

    std::unique_ptr<IoEngine> open(const DiskOptions& options = {}, uint32_t depth = 32) {
        auto disk = SyncDisk::open(file_.path(), options);
        EXPECT_TRUE(disk.has_value()) << disk.error().describe();
        if (!disk) return nullptr;
        if (GetParam() == EngineKind::kSync) return make_sync_engine(std::move(*disk));
        auto engine = make_io_uring_engine(std::move(*disk), depth);
        EXPECT_TRUE(engine.has_value()) << engine.error().describe();
        return engine ? std::move(*engine) : nullptr;
    }

    // Submits `request` and waits for its completion; returns its errno.
    static int run(IoEngine& engine, const IoRequest& request) {
        auto r = engine.submit(request);
        EXPECT_TRUE(r.has_value()) << r.error().describe();
        const std::vector<IoCompletion> done = wait_all(engine);
        EXPECT_EQ(done.size(), 1U);
        if (done.size() != 1) return -1;
        EXPECT_EQ(done[0].cookie, request.cookie);
        return done[0].error;
    }

    // Hands everything to the kernel and reaps until nothing is in flight, waiting on
    // completion_fd() (at most 5 s each time) like the VMM's event loop.
    static std::vector<IoCompletion> wait_all(IoEngine& engine) {
        std::vector<IoCompletion> out;
        EXPECT_TRUE(engine.flush_submissions().has_value());
        engine.reap(out);
        while (engine.in_flight() > 0) {
            pollfd p{engine.completion_fd(), POLLIN, 0};
            if (::poll(&p, 1, 5000) != 1) {
                ADD_FAILURE() << "no completion within 5 s, " << engine.in_flight() << " in flight";
                break;
            }
            engine.reap(out);
        }
        return out;
    }

    Bytes read_disk(IoEngine& engine, uint64_t sector, size_t len) {
        Bytes out(len, 0xEE);
        const iovec v = iov(out, 0, len);
        EXPECT_EQ(run(engine, read_req(sector, {&v, 1}, 77)), 0);
        return out;
    }

    Bytes image_ = pattern(kImageSize, 1);
    TempFile file_{image_};
};

TEST_P(IoEngineTest, RoundTripsScatteredBuffersAtNonZeroSectors) {
    auto engine = open();
    ASSERT_NE(engine, nullptr);
    EXPECT_EQ(engine->kind(), GetParam());
    EXPECT_EQ(engine->disk().capacity_sectors(), kSectors);

    Bytes data = pattern(2048, 99);
    const std::array<iovec, 4> wr{iov(data, 0, 100), iov(data, 100, 924), iov(data, 1024, 0),
                                  iov(data, 1024, 1024)};
    ASSERT_EQ(run(*engine, write_req(5, wr, 1)), 0);
    Bytes expected = image_;
    std::copy(data.begin(), data.end(), expected.begin() + 5 * 512);
    EXPECT_EQ(file_.content(), expected);

    Bytes back(3 * 512, 0xEE);
    const std::array<iovec, 3> rd{iov(back, 0, 519), iov(back, 519, 1000), iov(back, 1519, 17)};
    ASSERT_EQ(run(*engine, read_req(4, rd, 2)), 0);
    EXPECT_EQ(back, slice(expected, 4 * 512, 3 * 512));
    EXPECT_EQ(engine->in_flight(), 0U);
}

TEST_P(IoEngineTest, RunsAQueueDepthOfWritesAtOnce) {
    auto engine = open({}, 32);
    ASSERT_NE(engine, nullptr);
    const uint32_t depth = engine->queue_depth();
    EXPECT_EQ(depth, GetParam() == EngineKind::kSync ? 1U : 32U);

    std::vector<Bytes> data;
    for (uint8_t i = 0; i < 32; ++i)
        data.push_back(pattern(512, static_cast<uint8_t>(100 + i)));
    std::vector<iovec> vecs;
    for (Bytes& d : data)
        vecs.push_back(iov(d, 0, 512));
    std::vector<IoCompletion> done;
    size_t next = 0;
    uint32_t most_in_flight = 0;
    while (next < data.size()) {
        while (next < data.size() && engine->in_flight() < depth) {
            // Every other sector, backwards, so nothing is sequential by accident.
            const uint64_t sector = 63 - 2 * next;
            ASSERT_TRUE(engine->submit(write_req(sector, {&vecs[next], 1}, 1000 + next)));
            ++next;
        }
        most_in_flight = std::max(most_in_flight, engine->in_flight());
        const auto more = wait_all(*engine);
        done.insert(done.end(), more.begin(), more.end());
    }
    EXPECT_EQ(most_in_flight, depth);
    ASSERT_EQ(done.size(), 32U);
    std::vector<uint64_t> cookies;
    for (const IoCompletion& c : done) {
        EXPECT_EQ(c.error, 0) << "cookie " << c.cookie;
        cookies.push_back(c.cookie);
    }
    std::sort(cookies.begin(), cookies.end());
    for (uint64_t i = 0; i < 32; ++i)
        EXPECT_EQ(cookies[i], 1000 + i);
    Bytes expected = image_;
    for (size_t i = 0; i < 32; ++i)
        std::copy(data[i].begin(), data[i].end(),
                  expected.begin() + static_cast<ptrdiff_t>((63 - 2 * i) * 512));
    EXPECT_EQ(file_.content(), expected);
}

TEST_P(IoEngineTest, FailsRequestsPastTheEndWithoutTouchingTheFile) {
    auto engine = open();
    ASSERT_NE(engine, nullptr);
    Bytes data = pattern(1024, 5);
    const iovec v = iov(data, 0, data.size());
    EXPECT_EQ(run(*engine, write_req(kSectors - 1, {&v, 1}, 1)), EINVAL);
    EXPECT_EQ(run(*engine, write_req(UINT64_MAX / 256, {&v, 1}, 2)), EINVAL);
    EXPECT_EQ(run(*engine, read_req(kSectors, {&v, 1}, 3)), EINVAL);
    EXPECT_EQ(run(*engine, range_req(IoOp::kDiscard, kSectors - 1, 2, 4)), EINVAL);
    EXPECT_EQ(run(*engine, range_req(IoOp::kWriteZeroes, 1, UINT64_MAX, 5)), EINVAL);
    EXPECT_EQ(file_.content(), image_);
    EXPECT_EQ(data, pattern(1024, 5)); // the failed read left the buffer alone
    // The last sector itself is fine.
    EXPECT_EQ(read_disk(*engine, kSectors - 1, 512), slice(image_, kImageSize - 512, 512));
}

TEST_P(IoEngineTest, RefusesWritesToAReadOnlyDriveWithErofs) {
    auto engine = open({true, CacheMode::kWriteback, ""});
    ASSERT_NE(engine, nullptr);
    Bytes data = pattern(512, 9);
    const iovec v = iov(data, 0, data.size());
    EXPECT_EQ(run(*engine, write_req(3, {&v, 1}, 1)), EROFS);
    EXPECT_EQ(run(*engine, range_req(IoOp::kDiscard, 0, 8, 2)), EROFS);
    EXPECT_EQ(run(*engine, range_req(IoOp::kWriteZeroes, 0, 8, 3, true)), EROFS);
    EXPECT_EQ(run(*engine, range_req(IoOp::kWriteZeroes, 0, 8, 4, false)), EROFS);
    EXPECT_EQ(run(*engine, range_req(IoOp::kFlush, 0, 0, 5)), 0);
    EXPECT_EQ(file_.content(), image_);
    EXPECT_EQ(read_disk(*engine, 3, 512), slice(image_, 3 * 512, 512));
}

TEST_P(IoEngineTest, FlushesInEitherCacheMode) {
    for (const CacheMode mode : {CacheMode::kWriteback, CacheMode::kUnsafe}) {
        auto engine = open({false, mode, ""});
        ASSERT_NE(engine, nullptr);
        Bytes data = pattern(512, 3);
        const iovec v = iov(data, 0, data.size());
        ASSERT_TRUE(engine->submit(write_req(2, {&v, 1}, 1)));
        ASSERT_EQ(wait_all(*engine).size(), 1U);
        EXPECT_EQ(run(*engine, range_req(IoOp::kFlush, 0, 0, 2)), 0);
        EXPECT_EQ(slice(file_.content(), 1024, 512), data);
    }
}

TEST_P(IoEngineTest, DiscardReadsBackAsZeroesWhereHolesCanBePunched) {
    auto engine = open();
    ASSERT_NE(engine, nullptr);
    EXPECT_EQ(run(*engine, range_req(IoOp::kDiscard, 8, 16, 1)), 0);
    EXPECT_EQ(run(*engine, range_req(IoOp::kDiscard, 8, 0, 2)), 0); // empty: a no-op
    const Bytes content = file_.content();
    ASSERT_EQ(content.size(), kImageSize);
    EXPECT_EQ(slice(content, 0, 8 * 512), slice(image_, 0, 8 * 512));
    EXPECT_EQ(slice(content, 24 * 512, 40 * 512), slice(image_, 24 * 512, 40 * 512));
    if (!can_punch_holes()) GTEST_SKIP() << "the test directory cannot punch holes";
    EXPECT_EQ(slice(content, 8 * 512, 16 * 512), Bytes(16 * 512, 0));
}

TEST_P(IoEngineTest, WriteZeroesWithAndWithoutUnmap) {
    auto engine = open();
    ASSERT_NE(engine, nullptr);
    EXPECT_EQ(run(*engine, range_req(IoOp::kWriteZeroes, 3, 5, 1, false)), 0);
    EXPECT_EQ(run(*engine, range_req(IoOp::kWriteZeroes, 20, 9, 2, true)), 0);
    Bytes expected = image_;
    std::fill_n(expected.begin() + 3 * 512, 5 * 512, 0);
    std::fill_n(expected.begin() + 20 * 512, 9 * 512, 0);
    EXPECT_EQ(file_.content(), expected);
    EXPECT_EQ(read_disk(*engine, 0, kImageSize), expected);
}

TEST_P(IoEngineTest, SubmitFailsWithEbusyWhenFull) {
    auto engine = open({}, 4);
    ASSERT_NE(engine, nullptr);
    Bytes buf(512);
    const iovec v = iov(buf, 0, buf.size());
    for (uint32_t i = 0; i < engine->queue_depth(); ++i)
        ASSERT_TRUE(engine->submit(read_req(i, {&v, 1}, i)));
    EXPECT_EQ(engine->in_flight(), engine->queue_depth());
    auto full = engine->submit(read_req(0, {&v, 1}, 99));
    ASSERT_FALSE(full.has_value());
    EXPECT_EQ(full.error().code(), Errc::kUnavailable);
    EXPECT_EQ(full.error().sys_errno(), EBUSY);
    // A failed request counts too: it holds its place until reaped.
    EXPECT_EQ(wait_all(*engine).size(), engine->queue_depth());
    ASSERT_TRUE(engine->submit(range_req(IoOp::kDiscard, kSectors, 1, 5)));
    EXPECT_EQ(engine->in_flight(), 1U);
    EXPECT_EQ(wait_all(*engine), (std::vector<IoCompletion>{{5, EINVAL}}));
}

TEST_P(IoEngineTest, DrainWaitsForEverything) {
    auto engine = open({false, CacheMode::kWriteback, ""}, 16);
    ASSERT_NE(engine, nullptr);
    Bytes data = pattern(kImageSize, 42);
    std::vector<iovec> vecs;
    for (size_t i = 0; i < engine->queue_depth(); ++i)
        vecs.push_back(iov(data, i * 4 * 512, 4 * 512));
    for (size_t i = 0; i + 1 < engine->queue_depth(); ++i)
        ASSERT_TRUE(engine->submit(write_req(i * 4, {&vecs[i], 1}, i)));
    ASSERT_TRUE(engine->submit(range_req(IoOp::kFlush, 0, 0, 500)));
    std::vector<IoCompletion> done;
    engine->drain(done); // without flush_submissions: drain hands them over itself
    EXPECT_EQ(engine->in_flight(), 0U);
    ASSERT_EQ(done.size(), engine->queue_depth());
    for (const IoCompletion& c : done)
        EXPECT_EQ(c.error, 0) << "cookie " << c.cookie;
    const size_t written = (engine->queue_depth() - 1) * 4 * 512;
    EXPECT_EQ(slice(file_.content(), 0, written), slice(data, 0, written));
    std::vector<IoCompletion> none;
    EXPECT_EQ(engine->reap(none), 0U);
    engine->drain(none);
    EXPECT_TRUE(none.empty());
}

TEST_P(IoEngineTest, CompletionFdSignalsCompletions) {
    auto engine = open();
    ASSERT_NE(engine, nullptr);
    if (GetParam() == EngineKind::kSync) {
        EXPECT_EQ(engine->completion_fd(), -1);
        return;
    }
    const int fd = engine->completion_fd();
    ASSERT_GE(fd, 0);
    pollfd p{fd, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0); // nothing yet

    Bytes buf(1024);
    const iovec v = iov(buf, 0, buf.size());
    ASSERT_TRUE(engine->submit(read_req(10, {&v, 1}, 1)));
    ASSERT_TRUE(engine->flush_submissions());
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
    EXPECT_TRUE(p.revents & POLLIN);
    std::vector<IoCompletion> out;
    while (out.empty() && ::poll(&p, 1, 5000) == 1)
        engine->reap(out);
    EXPECT_EQ(out, (std::vector<IoCompletion>{{1, 0}}));
    EXPECT_EQ(buf, slice(image_, 10 * 512, 1024));
    EXPECT_EQ(::poll(&p, 1, 0), 0); // reap consumed the count

    // A request failed at submit never reaches the kernel, yet the fd still says "reap".
    ASSERT_TRUE(engine->submit(read_req(kSectors, {&v, 1}, 2)));
    ASSERT_EQ(::poll(&p, 1, 0), 1);
    out.clear();
    EXPECT_EQ(engine->reap(out), 1U);
    EXPECT_EQ(out, (std::vector<IoCompletion>{{2, EINVAL}}));
}

TEST_P(IoEngineTest, ReadPastAShrunkImageIsEio) {
    auto engine = open();
    ASSERT_NE(engine, nullptr);
    ASSERT_EQ(::truncate(file_.path().c_str(), static_cast<off_t>(kImageSize - 512)), 0);
    Bytes buf(1024);
    const iovec v = iov(buf, 0, buf.size());
    // The kernel returns 512 bytes; the rest meets the end of the file.
    EXPECT_EQ(run(*engine, read_req(kSectors - 2, {&v, 1}, 1)), EIO);
}

TEST_P(IoEngineTest, MoreBuffersThanIovMax) {
    auto engine = open();
    ASSERT_NE(engine, nullptr);
    Bytes data = pattern(32 * 512, 8);
    std::vector<iovec> many;
    for (size_t off = 0; off < data.size(); off += 8)
        many.push_back(iov(data, off, 8));
    ASSERT_GT(many.size(), size_t{IOV_MAX});
    ASSERT_EQ(run(*engine, write_req(16, many, 1)), 0);
    EXPECT_EQ(slice(file_.content(), 16 * 512, data.size()), data);
    EXPECT_EQ(read_disk(*engine, 16, data.size()), data);
}

INSTANTIATE_TEST_SUITE_P(Engines, IoEngineTest,
                         ::testing::Values(EngineKind::kSync, EngineKind::kIoUring),
                         [](const ::testing::TestParamInfo<EngineKind>& param) {
                             return param.param == EngineKind::kSync ? "Sync" : "IoUring";
                         });

TEST(IoEngine, ParsesEngineKinds) {
    EXPECT_EQ(parse_engine_kind("auto"), EngineKind::kAuto);
    EXPECT_EQ(parse_engine_kind("sync"), EngineKind::kSync);
    EXPECT_EQ(parse_engine_kind("io_uring"), EngineKind::kIoUring);
    EXPECT_EQ(parse_engine_kind("Sync"), EngineKind::kSync);
    EXPECT_EQ(parse_engine_kind("Async"), EngineKind::kIoUring);
    for (const EngineKind kind : {EngineKind::kAuto, EngineKind::kSync, EngineKind::kIoUring})
        EXPECT_EQ(parse_engine_kind(to_string(kind)), kind);
    for (const char* bad : {"", "uring", "SYNC", "io-uring", "auto "}) {
        auto r = parse_engine_kind(bad);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
        EXPECT_NE(r.error().message().find("auto, sync or io_uring"), std::string::npos)
            << r.error().message();
    }
}

TEST(IoEngine, IoUringDepthMustBeAPowerOfTwoUpTo4096) {
    TempFile f(Bytes(512, 0));
    for (const uint32_t depth : {0U, 3U, 48U, 8192U}) {
        auto disk = SyncDisk::open(f.path(), {});
        ASSERT_TRUE(disk.has_value());
        auto engine = make_io_uring_engine(std::move(*disk), depth);
        ASSERT_FALSE(engine.has_value()) << depth;
        EXPECT_EQ(engine.error().code(), Errc::kInvalidArgument);
        EXPECT_NE(engine.error().message().find("power of two"), std::string::npos);
    }
}

TEST(IoEngine, SyncEngineRunsOverAnOverlayDisk) {
    const Bytes base_bytes = pattern(32 * 512, 4);
    TempFile base(base_bytes, "base");
    TempFile overlay(Bytes{}, "overlay");
    auto disk = OverlayDisk::open(base.path(), overlay.path(), {});
    ASSERT_TRUE(disk.has_value()) << disk.error().describe();
    auto engine = make_sync_engine(std::move(*disk));
    EXPECT_EQ(engine->disk().capacity_sectors(), 32U);

    Bytes data = pattern(3 * 512, 50);
    const std::array<iovec, 2> wr{iov(data, 0, 700), iov(data, 700, 3 * 512 - 700)};
    std::vector<IoCompletion> out;
    ASSERT_TRUE(engine->submit(write_req(9, wr, 1)));
    EXPECT_FALSE(engine->submit(read_req(0, wr, 2)).has_value()); // full until reaped
    EXPECT_EQ(engine->reap(out), 1U);
    ASSERT_TRUE(engine->submit(range_req(IoOp::kWriteZeroes, 1, 2, 2, true)));
    EXPECT_EQ(engine->reap(out), 1U);
    ASSERT_TRUE(engine->submit(range_req(IoOp::kFlush, 0, 0, 3)));
    engine->drain(out);
    EXPECT_EQ(out, (std::vector<IoCompletion>{{1, 0}, {2, 0}, {3, 0}}));
    EXPECT_EQ(base.content(), base_bytes); // copy-on-write: the base never changes

    Bytes all(32 * 512, 0xEE);
    const iovec v = iov(all, 0, all.size());
    ASSERT_TRUE(engine->submit(read_req(0, {&v, 1}, 4)));
    out.clear();
    engine->drain(out);
    EXPECT_EQ(out, (std::vector<IoCompletion>{{4, 0}}));
    Bytes expected = base_bytes;
    std::fill_n(expected.begin() + 512, 2 * 512, 0);
    std::copy(data.begin(), data.end(), expected.begin() + 9 * 512);
    EXPECT_EQ(all, expected);
}

TEST(IoEngine, AdvanceIovecsSkipsTransferredBytes) {
    Bytes b(100);
    const std::array<iovec, 3> v{iov(b, 0, 10), iov(b, 10, 0), iov(b, 10, 90)};
    auto rest = advance_iovecs(v, 0);
    ASSERT_EQ(rest.size(), 3U);
    EXPECT_EQ(rest[0].iov_base, b.data());
    EXPECT_EQ(rest[0].iov_len, 10U);
    rest = advance_iovecs(v, 10);
    ASSERT_EQ(rest.size(), 1U);
    EXPECT_EQ(rest[0].iov_base, b.data() + 10);
    EXPECT_EQ(rest[0].iov_len, 90U);
    rest = advance_iovecs(v, 35);
    ASSERT_EQ(rest.size(), 1U);
    EXPECT_EQ(rest[0].iov_base, b.data() + 35);
    EXPECT_EQ(rest[0].iov_len, 65U);
    rest = advance_iovecs(v, 7);
    ASSERT_EQ(rest.size(), 3U); // the empty one stays; it moves nothing
    EXPECT_EQ(rest[0].iov_base, b.data() + 7);
    EXPECT_EQ(rest[0].iov_len, 3U);
    EXPECT_EQ(rest[2].iov_base, b.data() + 10);
    EXPECT_EQ(rest[2].iov_len, 90U);
    EXPECT_TRUE(advance_iovecs(v, 100).empty());
    EXPECT_TRUE(advance_iovecs(v, 1000).empty());
}

TEST(IoEngine, CompletionErrnoPrefersTheSystemErrno) {
    EXPECT_EQ(completion_errno(Error(Errc::kOsError, "x", ENOSPC)), ENOSPC);
    EXPECT_EQ(completion_errno(Error(Errc::kInvalidArgument, "x")), EINVAL);
    EXPECT_EQ(completion_errno(Error(Errc::kInvalidArgument, "x", EIO)), EIO);
    EXPECT_EQ(completion_errno(Error(Errc::kOsError, "x")), EIO);
    EXPECT_EQ(completion_errno(Error(Errc::kInternal, "x")), EIO);
}

} // namespace
} // namespace ember::virtio::block
