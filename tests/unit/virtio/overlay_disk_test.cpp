#include "virtio/block/overlay_disk.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/virtio/temp_file.hpp"

#include <gtest/gtest.h>

namespace ember::virtio::block {
namespace {

using testing::Bytes;
constexpr size_t kCluster = 4096;

using testing::iov;
using testing::pattern;
using testing::TempFile;

// A base of 16 clusters plus a 1 KiB last cluster, an empty overlay, and what the guest should
// see, kept up to date by each test.
class OverlayDiskTest : public ::testing::Test {
protected:
    static constexpr size_t kBaseSize = 16 * kCluster + 1024;

    std::unique_ptr<OverlayDisk> open(const OverlayOptions& options = {}) {
        auto disk = OverlayDisk::open(base_.path(), overlay_.path(), options);
        EXPECT_TRUE(disk.has_value()) << disk.error().describe();
        return disk ? std::move(*disk) : nullptr;
    }
    Error open_error(const std::string& base_path) {
        auto disk = OverlayDisk::open(base_path, overlay_.path(), {});
        EXPECT_FALSE(disk.has_value());
        return disk ? Error(Errc::kInternal, "opened") : disk.error();
    }
    void write(DiskBackend& disk, uint64_t sector, const Bytes& data) {
        Bytes copy = data;
        const iovec v = iov(copy, 0, copy.size());
        auto r = disk.write(sector, {&v, 1});
        ASSERT_TRUE(r.has_value()) << r.error().describe();
        std::copy(data.begin(), data.end(),
                  expected_.begin() + static_cast<ptrdiff_t>(sector * 512));
    }
    void zeroed(uint64_t sector, uint64_t count) {
        std::fill_n(expected_.begin() + static_cast<ptrdiff_t>(sector * 512), count * 512, 0);
    }
    // Reads the whole disk through oddly split buffers, so runs cross buffer edges.
    static Bytes read_all(DiskBackend& disk) {
        Bytes out(disk.capacity_sectors() * 512, 0xEE);
        const std::array<iovec, 3> v{iov(out, 0, 1000), iov(out, 1000, 7000),
                                     iov(out, 8000, out.size() - 8000)};
        auto r = disk.read(0, v);
        EXPECT_TRUE(r.has_value()) << r.error().describe();
        return out;
    }
    [[nodiscard]] OverlayHeader header() const {
        OverlayHeader h{};
        const Bytes bytes = overlay_.content();
        std::memcpy(&h, bytes.data(), sizeof h);
        return h;
    }

    const Bytes base_content_ = pattern(kBaseSize, 11);
    TempFile base_{base_content_};
    TempFile overlay_{{}};
    Bytes expected_ = base_content_;
};

TEST_F(OverlayDiskTest, FormatsAnEmptyOverlayAndShowsTheBase) {
    auto disk = open();
    ASSERT_TRUE(disk);
    EXPECT_EQ(disk->capacity_sectors(), kBaseSize / 512);
    EXPECT_EQ(disk->cluster_size(), 4096U);
    EXPECT_EQ(disk->present_clusters(), 0U);
    EXPECT_EQ(read_all(*disk), base_content_);

    const OverlayHeader h = header();
    EXPECT_EQ(h.magic, kOverlayMagic);
    EXPECT_EQ(h.version, 1U);
    EXPECT_EQ(h.cluster_size, 4096U);
    EXPECT_EQ(h.base_size, kBaseSize);
    EXPECT_EQ(h.bitmap_offset, 4096U);
    EXPECT_EQ(h.bitmap_bytes, 3U); // 17 clusters
    EXPECT_EQ(h.data_offset, 8192U);
    EXPECT_EQ(h.flags, 0U);
    EXPECT_EQ(overlay_.content().size(), 8192 + kBaseSize);
}

TEST_F(OverlayDiskTest, WritesLandInTheOverlayAndNeverInTheBase) {
    auto disk = open();
    write(*disk, 8, pattern(kCluster, 50)); // all of cluster 1
    EXPECT_EQ(read_all(*disk), expected_);
    EXPECT_EQ(base_.content(), base_content_);
    EXPECT_FALSE(disk->cluster_present(0));
    EXPECT_TRUE(disk->cluster_present(1));
    EXPECT_EQ(disk->present_clusters(), 1U);
    const Bytes overlay = overlay_.content();
    EXPECT_TRUE(std::equal(overlay.begin() + 8192 + 4096, overlay.begin() + 8192 + 8192,
                           expected_.begin() + 4096));
}

TEST_F(OverlayDiskTest, PartialClusterWritesCopyTheRestFromTheBase) {
    auto disk = open();
    write(*disk, 3, pattern(512, 60));      // middle of cluster 0
    write(*disk, 7 + 8, pattern(1024, 61)); // straddles clusters 1 and 2
    write(*disk, 128, pattern(512, 62));    // the short last cluster
    EXPECT_EQ(disk->present_clusters(), 4U);
    EXPECT_TRUE(disk->cluster_present(16));
    // Cluster 0 in the overlay file itself holds base data around the write.
    const Bytes overlay = overlay_.content();
    EXPECT_TRUE(
        std::equal(overlay.begin() + 8192, overlay.begin() + 8192 + 4096, expected_.begin()));
    EXPECT_EQ(read_all(*disk), expected_);
    EXPECT_EQ(base_.content(), base_content_);
}

TEST_F(OverlayDiskTest, ReadsMixOverlayAndBaseInOneRequest) {
    auto disk = open();
    write(*disk, 8, pattern(kCluster, 70));
    write(*disk, 24, pattern(2 * kCluster, 71));
    write(*disk, 56, pattern(512, 72));
    Bytes part(5 * kCluster - 512);
    const std::array<iovec, 2> v{iov(part, 0, 3), iov(part, 3, part.size() - 3)};
    ASSERT_TRUE(disk->read(1, v).has_value());
    EXPECT_TRUE(std::equal(part.begin(), part.end(), expected_.begin() + 512));
    EXPECT_EQ(read_all(*disk), expected_);
}

TEST_F(OverlayDiskTest, DiscardAndWriteZeroesHideTheBase) {
    auto disk = open();
    write(*disk, 16, pattern(kCluster, 80));
    ASSERT_TRUE(disk->discard(16, 8).has_value()); // a cluster the guest wrote
    zeroed(16, 8);
    ASSERT_TRUE(disk->discard(40, 16).has_value()); // two clusters only the base had
    zeroed(40, 16);
    ASSERT_TRUE(disk->discard(65, 2).has_value()); // part of cluster 8
    zeroed(65, 2);
    ASSERT_TRUE(disk->write_zeroes(102, 4, false).has_value()); // straddles clusters 12 and 13
    zeroed(102, 4);
    EXPECT_EQ(read_all(*disk), expected_);
    for (const uint64_t c : std::array<uint64_t, 6>{2, 5, 6, 8, 12, 13})
        EXPECT_TRUE(disk->cluster_present(c)) << c;
    EXPECT_EQ(disk->present_clusters(), 6U);
    EXPECT_EQ(base_.content(), base_content_);
}

TEST_F(OverlayDiskTest, ContentSurvivesARestart) {
    {
        auto disk = open({{false, CacheMode::kWriteback, ""}, 4096});
        write(*disk, 3, pattern(512, 90));
        ASSERT_TRUE(disk->discard(40, 8).has_value());
        zeroed(40, 8);
        ASSERT_TRUE(disk->flush().has_value());
        write(*disk, 120, pattern(1024, 91)); // not flushed: the destructor writes the bitmap
    }
    auto disk = open();
    ASSERT_TRUE(disk);
    EXPECT_EQ(disk->present_clusters(), 3U);
    EXPECT_EQ(read_all(*disk), expected_);
    write(*disk, 0, pattern(512, 92)); // and it stays usable
    EXPECT_EQ(read_all(*disk), expected_);
}

TEST_F(OverlayDiskTest, ARestartedOverlayKeepsItsClusterSize) {
    ASSERT_TRUE(open({{}, 64 * 1024}));
    auto disk = open({{}, 4096}); // the option only matters when formatting
    ASSERT_TRUE(disk);
    EXPECT_EQ(disk->cluster_size(), 64U * 1024);
    EXPECT_EQ(header().data_offset, 64U * 1024);
    write(*disk, 1, pattern(512, 93));
    EXPECT_EQ(read_all(*disk), expected_);

    auto bad = OverlayDisk::open(base_.path(), base_.path() + ".new", {{}, 1000});
    ::unlink((base_.path() + ".new").c_str());
    ASSERT_FALSE(bad.has_value());
    EXPECT_NE(bad.error().message().find("cluster size 1000 must be a power of two"),
              std::string::npos);
}

TEST_F(OverlayDiskTest, RefusesABaseOfAnotherSize) {
    ASSERT_TRUE(open());
    TempFile other(pattern(kBaseSize + 512, 12));
    const Error e = open_error(other.path());
    EXPECT_EQ(e.code(), Errc::kInvalidInput);
    EXPECT_EQ(e.message(),
              fmt::format("overlay '{}' on base '{}': the overlay was made for a base "
                          "of {} bytes, but '{}' has {} bytes; use the base it was "
                          "made from, or an empty overlay file",
                          overlay_.path(), other.path(), kBaseSize, other.path(), kBaseSize + 512));
}

TEST_F(OverlayDiskTest, RefusesCorruptHeaders) {
    ASSERT_TRUE(open());
    const Bytes good = overlay_.content();
    auto expect_refused = [&](uint64_t offset, uint64_t value, const char* words) {
        overlay_.patch(0, good.data(), 4096);
        overlay_.patch(offset, &value, sizeof value);
        const Error e = open_error(base_.path());
        EXPECT_EQ(e.code(), Errc::kInvalidInput);
        EXPECT_NE(e.message().find(words), std::string::npos) << e.message();
    };
    expect_refused(0, 0x4c564f52454d4542, "bad magic"); // "BEMEROVL"
    expect_refused(8, 2 | (uint64_t{4096} << 32), "unsupported format version 2");
    expect_refused(8, 1 | (uint64_t{1000} << 32), "corrupt header: cluster size 1000");
    expect_refused(40, 4096, "corrupt header: bitmap at 4096 (3 bytes) and data at 4096");
    expect_refused(48, 1, "flags 0x1");
    overlay_.patch(0, good.data(), 4096);
    const uint8_t stray = 0x80; // cluster 23 of a 17-cluster disk
    overlay_.patch(4096 + 2, &stray, 1);
    EXPECT_NE(open_error(base_.path()).message().find("bits set past the last cluster"),
              std::string::npos);
    overlay_.patch(4096 + 2, &good[4096 + 2], 1);
    ASSERT_EQ(::truncate(overlay_.path().c_str(), 8192 + 4096), 0);
    EXPECT_NE(open_error(base_.path()).message().find("is truncated"), std::string::npos);
    ASSERT_EQ(::truncate(overlay_.path().c_str(), 100), 0);
    EXPECT_NE(open_error(base_.path()).message().find("too small for an ember overlay"),
              std::string::npos);
}

TEST_F(OverlayDiskTest, ReadOnlyOverlayReadsButRefusesChanges) {
    auto empty = OverlayDisk::open(base_.path(), overlay_.path(), {{true, {}, ""}, 4096});
    ASSERT_FALSE(empty.has_value());
    EXPECT_NE(empty.error().message().find("is empty and the drive is read-only"),
              std::string::npos);
    {
        auto disk = open();
        write(*disk, 9, pattern(512, 95));
    }
    auto disk = open({{true, {}, "ro"}, 4096});
    ASSERT_TRUE(disk);
    EXPECT_TRUE(disk->read_only());
    EXPECT_EQ(read_all(*disk), expected_);
    Bytes data(512);
    const iovec v = iov(data, 0, 512);
    EXPECT_FALSE(disk->write(0, {&v, 1}).has_value());
    EXPECT_FALSE(disk->discard(0, 1).has_value());
    EXPECT_TRUE(disk->flush().has_value());
}

TEST_F(OverlayDiskTest, RequestsPastTheEndFail) {
    auto disk = open();
    Bytes data(1024);
    const iovec v = iov(data, 0, 1024);
    EXPECT_FALSE(disk->read(disk->capacity_sectors() - 1, {&v, 1}).has_value());
    EXPECT_FALSE(disk->write(disk->capacity_sectors() - 1, {&v, 1}).has_value());
    EXPECT_FALSE(disk->discard(disk->capacity_sectors(), 1).has_value());
    EXPECT_EQ(disk->present_clusters(), 0U);
}

} // namespace
} // namespace ember::virtio::block
