#include "virtio/block/disk.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

Bytes slice(const Bytes& b, size_t offset, size_t len) {
    return {b.begin() + static_cast<ptrdiff_t>(offset),
            b.begin() + static_cast<ptrdiff_t>(offset + len)};
}

std::unique_ptr<SyncDisk> open_disk(const TempFile& f, const DiskOptions& options = {}) {
    auto disk = SyncDisk::open(f.path(), options);
    EXPECT_TRUE(disk.has_value()) << disk.error().describe();
    return std::move(*disk);
}

Bytes read_bytes(DiskBackend& disk, uint64_t sector, size_t len) {
    Bytes out(len, 0xEE);
    const iovec v = iov(out, 0, len);
    auto r = disk.read(sector, {&v, 1});
    EXPECT_TRUE(r.has_value()) << r.error().describe();
    return out;
}

TEST(SyncDisk, ReadsAndWritesThroughScatteredBuffers) {
    const Bytes image = pattern(8 * 512, 1);
    TempFile f(image);
    auto disk = open_disk(f, {false, CacheMode::kWriteback, ""});
    EXPECT_EQ(disk->capacity_sectors(), 8U);
    EXPECT_FALSE(disk->read_only());

    Bytes buf(1024);
    const std::array<iovec, 2> rd{iov(buf, 0, 100), iov(buf, 100, 924)};
    ASSERT_TRUE(disk->read(2, rd).has_value());
    EXPECT_EQ(buf, slice(image, 1024, 1024));

    Bytes data = pattern(1024, 99);
    const std::array<iovec, 3> wr{iov(data, 0, 512), iov(data, 512, 0), iov(data, 512, 512)};
    ASSERT_TRUE(disk->write(5, wr).has_value());
    ASSERT_TRUE(disk->flush().has_value());
    Bytes expected = image;
    std::copy(data.begin(), data.end(), expected.begin() + 5 * 512);
    EXPECT_EQ(f.content(), expected);
    EXPECT_EQ(read_bytes(*disk, 5, 1024), data);
}

TEST(SyncDisk, HandlesMoreBuffersThanIovMax) {
    TempFile f(Bytes(64 * 512, 0));
    auto disk = open_disk(f);
    Bytes data = pattern(64 * 512, 3);
    std::vector<iovec> many;
    for (size_t off = 0; off < data.size(); off += 16)
        many.push_back(iov(data, off, 16));
    ASSERT_EQ(many.size(), 2048U); // IOV_MAX is 1024
    ASSERT_TRUE(disk->write(0, many).has_value());
    EXPECT_EQ(f.content(), data);
    Bytes back(data.size());
    std::vector<iovec> other;
    for (size_t off = 0; off < back.size(); off += 8)
        other.push_back(iov(back, off, 8));
    ASSERT_TRUE(disk->read(0, other).has_value());
    EXPECT_EQ(back, data);
}

TEST(SyncDisk, ReadOnlyDriveRefusesEveryChange) {
    const Bytes image = pattern(4 * 512, 2);
    TempFile f(image);
    auto disk = open_disk(f, {true, CacheMode::kWriteback, ""});
    EXPECT_TRUE(disk->read_only());
    Bytes data(512, 0xAB);
    const iovec v = iov(data, 0, 512);
    auto w = disk->write(0, {&v, 1});
    ASSERT_FALSE(w.has_value());
    EXPECT_EQ(w.error().code(), Errc::kInvalidArgument);
    EXPECT_EQ(w.error().message(), "disk '" + f.path() + "' is read-only: write refused");
    EXPECT_FALSE(disk->discard(0, 1).has_value());
    EXPECT_FALSE(disk->write_zeroes(0, 1, false).has_value());
    EXPECT_TRUE(disk->flush().has_value());
    EXPECT_EQ(read_bytes(*disk, 0, 512), slice(image, 0, 512));
    EXPECT_EQ(f.content(), image);

    // An fd opened read-only cannot back a writable drive.
    auto ro = SyncDisk::from_fd(UniqueFd(::open(f.path().c_str(), O_RDONLY | O_CLOEXEC)), "ro",
                                DiskOptions{});
    ASSERT_FALSE(ro.has_value());
    EXPECT_EQ(ro.error().message(), "disk 'ro' was opened read-only but the drive is writable");
}

TEST(SyncDisk, DiscardAndWriteZeroesLeaveZeroesAndKeepTheSize) {
    const Bytes image = pattern(32 * 512, 4);
    TempFile f(image);
    auto disk = open_disk(f);
    ASSERT_TRUE(disk->discard(8, 8).has_value()); // one whole 4 KiB block: a real hole
    ASSERT_TRUE(disk->write_zeroes(1, 2, false).has_value());
    ASSERT_TRUE(disk->write_zeroes(20, 3, true).has_value());
    ASSERT_TRUE(disk->discard(30, 0).has_value());
    Bytes expected = image;
    std::fill_n(expected.begin() + 8 * 512, 8 * 512, 0);
    std::fill_n(expected.begin() + 1 * 512, 2 * 512, 0);
    std::fill_n(expected.begin() + 20 * 512, 3 * 512, 0);
    EXPECT_EQ(f.content(), expected);
    EXPECT_EQ(read_bytes(*disk, 0, 32 * 512), expected);
}

TEST(SyncDisk, CapacityRoundsDownAndTheTailIsOutOfReach) {
    const Bytes image = pattern(1000, 5);
    TempFile f(image);
    auto disk = open_disk(f);
    EXPECT_EQ(disk->capacity_sectors(), 1U);
    EXPECT_EQ(disk->image_size(), 1000U);
    EXPECT_EQ(read_bytes(*disk, 0, 512), slice(image, 0, 512));
    Bytes buf(512);
    const iovec v = iov(buf, 0, 512);
    auto r = disk->read(1, {&v, 1});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(), "disk '" + f.path() +
                                       "': read of 512 bytes at sector 1 goes past the end of "
                                       "the disk (1 sectors)");
    EXPECT_FALSE(disk->write(1, {&v, 1}).has_value());
    EXPECT_FALSE(disk->write_zeroes(1, 1, false).has_value());
    EXPECT_EQ(f.content(), image);
}

TEST(SyncDisk, RequestsPastTheEndFailWithoutOverflowing) {
    TempFile f(pattern(4 * 512, 6));
    auto disk = open_disk(f);
    Bytes buf(1024);
    const iovec v = iov(buf, 0, 1024);
    EXPECT_FALSE(disk->read(3, {&v, 1}).has_value()); // last sector + one more
    EXPECT_TRUE(disk->read(2, {&v, 1}).has_value());  // ends exactly at the end
    EXPECT_FALSE(disk->read(UINT64_MAX, {&v, 1}).has_value());
    EXPECT_FALSE(disk->read(UINT64_MAX >> 9, {&v, 1}).has_value());
    EXPECT_FALSE(disk->discard(0, UINT64_MAX).has_value());
    EXPECT_FALSE(disk->discard(4, 1).has_value());
    EXPECT_TRUE(disk->discard(4, 0).has_value());
}

TEST(SyncDisk, DiskIdIsTheUsersOrDerivedFromTheFile) {
    TempFile f(pattern(512, 7));
    auto named = open_disk(f, {false, CacheMode::kUnsafe, "vda-root"});
    const DiskId expected_named{'v', 'd', 'a', '-', 'r', 'o', 'o', 't'};
    EXPECT_EQ(named->id(), expected_named);

    auto too_long = SyncDisk::open(f.path(), {false, CacheMode::kUnsafe, std::string(21, 'x')});
    ASSERT_FALSE(too_long.has_value());
    EXPECT_NE(too_long.error().message().find("is 21 bytes; virtio-blk allows at most 20"),
              std::string::npos);

    struct stat st {};
    ASSERT_EQ(::stat(f.path().c_str(), &st), 0);
    const std::string derived = fmt::format("{}{}{}", st.st_dev, st.st_rdev, st.st_ino);
    DiskId expected{};
    std::copy_n(derived.begin(), std::min<size_t>(derived.size(), 20), expected.begin());
    EXPECT_EQ(open_disk(f)->id(), expected);
}

TEST(SyncDisk, MissingImageIsNotFound) {
    auto disk = SyncDisk::open(std::string(EMBER_TEST_TMPDIR) + "/no-such-image", {});
    ASSERT_FALSE(disk.has_value());
    EXPECT_EQ(disk.error().code(), Errc::kNotFound);
    EXPECT_EQ(disk.error().sys_errno(), ENOENT);
    EXPECT_NE(disk.error().message().find("no-such-image' does not exist"), std::string::npos);
}

} // namespace
} // namespace ember::virtio::block
