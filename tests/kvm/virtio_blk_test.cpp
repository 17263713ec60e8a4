// KVM tier: the virtio-blk device end to end. The virtio_blk guest (resources/guests/virtio_blk.c)
// drives ember's virtio-mmio block device with a polled ring-3 driver; these tests check what it
// reports and then the image files byte for byte against the guest's pattern.
#include "tests/kvm/kvm_available.hpp"
#include "tests/kvm/subprocess.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ember {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kSector = 512;
constexpr uint64_t kImageBytes = 4ull << 20; // 8192 sectors: the selftest needs 4096 or more

std::string guest() {
    return std::string(EMBER_GUEST_DIR) + "/virtio_blk.elf";
}

// ---- The guest's data pattern (virtio_blk.c: mix64, pattern_word, layout) --------------------

uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31U);
}

// Sector `sector` as the guest writes it with `seed`: 64 little-endian words.
std::string pattern_sector(uint64_t seed, uint64_t sector) {
    std::string s(kSector, '\0');
    for (unsigned w = 0; w < kSector / 8; ++w) {
        const uint64_t v = mix64((seed << 48U) ^ (sector << 6U) ^ w);
        std::memcpy(s.data() + w * 8, &v, sizeof v); // x86-64: little-endian, as in the guest
    }
    return s;
}

struct Region {
    uint64_t start;
    uint64_t count;
};

// The patterned sectors selftest leaves on a disk of `sectors` (everything else is zero).
std::vector<Region> selftest_layout(uint64_t sectors) {
    return {{0, 1}, {8, 8}, {64, 32}, {128, 16}, {1024, 512}, {2096, 16}, {sectors - 1, 1}};
}

// The whole image selftest leaves behind on a zeroed image of `bytes`.
std::string selftest_image(uint64_t bytes, uint64_t seed) {
    std::string image(bytes, '\0');
    for (const Region& r : selftest_layout(bytes / kSector))
        for (uint64_t s = r.start; s < r.start + r.count; ++s)
            image.replace(s * kSector, kSector, pattern_sector(seed, s));
    return image;
}

// The first `sectors` patterned, the rest zero (blk=durable).
std::string durable_image(uint64_t bytes, uint64_t seed, uint64_t sectors) {
    std::string image(bytes, '\0');
    for (uint64_t s = 0; s < sectors; ++s)
        image.replace(s * kSector, kSector, pattern_sector(seed, s));
    return image;
}

// "" when equal, else where the first difference is, by sector.
std::string first_difference(const std::string& actual, const std::string& expected) {
    if (actual.size() != expected.size())
        return fmt::format("size {} bytes, expected {}", actual.size(), expected.size());
    const auto [a, e] = std::mismatch(actual.begin(), actual.end(), expected.begin());
    if (a == actual.end()) return {};
    const auto offset = static_cast<uint64_t>(a - actual.begin());
    return fmt::format("first difference at byte {} (sector {}, offset {}): 0x{:02x}, expected "
                       "0x{:02x}",
                       offset, offset / kSector, offset % kSector, static_cast<uint8_t>(*a),
                       static_cast<uint8_t>(*e));
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

size_t count(const std::string& haystack, const std::string& needle) {
    size_t n = 0;
    for (size_t pos = haystack.find(needle); pos != std::string::npos;
         pos = haystack.find(needle, pos + 1))
        ++n;
    return n;
}

class VirtioBlk : public ::testing::Test {
protected:
    void SetUp() override {
        EMBER_REQUIRE_KVM();
        static int counter = 0;
        dir_ =
            fs::temp_directory_path() / fmt::format("ember-blk-test-{}-{}", ::getpid(), counter++);
        fs::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ignored;
        if (!dir_.empty()) fs::remove_all(dir_, ignored);
    }

    // A zeroed image (or `content`) in the test's directory.
    std::string image(const std::string& name, const std::string& content = {}) {
        const fs::path path = dir_ / name;
        write_file(path, content.empty() ? std::string(kImageBytes, '\0') : content);
        return path.string();
    }
    std::string path(const std::string& name) const { return (dir_ / name).string(); }

    static std::vector<std::string> args(const std::string& cmdline,
                                         const std::vector<std::string>& drives) {
        std::vector<std::string> a{EMBER_BINARY, "--kernel", guest(), "--cmdline", cmdline};
        for (const auto& d : drives) {
            a.emplace_back("--drive");
            a.push_back(d);
        }
        return a;
    }
    static test::ProcessResult ember(const std::string& cmdline,
                                     const std::vector<std::string>& drives,
                                     int timeout_ms = 60000) {
        return test::run_process(args(cmdline, drives), timeout_ms);
    }

    // Runs selftest on one fresh drive with extra drive options and checks the image after.
    void selftest_fresh(const std::string& options, uint64_t seed) {
        const std::string img = image("disk.img");
        auto r = ember(fmt::format("blk=selftest seed={}", seed),
                       {fmt::format("path={}{}", img, options)});
        if (r.status != 0 && r.err.find("io_uring") != std::string::npos &&
            options.find("io_uring") != std::string::npos)
            GTEST_SKIP() << "io_uring engine unavailable here: " << r.err;
        ASSERT_EQ(r.status, 0) << r.out << r.err;
        EXPECT_NE(r.out.find("blk: dev 0 at 0xd0000000 irq 5: capacity 8192 sectors"),
                  std::string::npos)
            << r.out;
        EXPECT_NE(r.out.find("blk: selftest passed"), std::string::npos) << r.out;
        EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
        EXPECT_EQ(first_difference(read_file(img), selftest_image(kImageBytes, seed)), "");
    }

    fs::path dir_;
};

TEST_F(VirtioBlk, SelftestOnTheSyncEngine) {
    selftest_fresh(",engine=sync", 3);
}

TEST_F(VirtioBlk, SelftestOnTheIoUringEngine) {
    selftest_fresh(",engine=io_uring", 4);
}

TEST_F(VirtioBlk, SelftestWithWritebackCacheFlushes) {
    const std::string img = image("disk.img");
    auto r = ember("blk=selftest seed=5", {fmt::format("path={},cache=writeback", img)});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(count(r.out, "blk: ok flush (OK)"), 2U) << r.out; // FLUSH offered and done twice
    EXPECT_EQ(first_difference(read_file(img), selftest_image(kImageBytes, 5)), "");
}

TEST_F(VirtioBlk, DefaultCacheOffersNoFlush) {
    const std::string img = image("disk.img");
    auto r = ember("blk=selftest seed=6", {fmt::format("path={}", img)});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("blk: skip flush (VIRTIO_BLK_F_FLUSH not offered)"), std::string::npos)
        << r.out;
    EXPECT_EQ(first_difference(read_file(img), selftest_image(kImageBytes, 6)), "");
}

TEST_F(VirtioBlk, GetIdReturnsTheDriveId) {
    const std::string img = image("disk.img");
    auto r = ember("blk=verify", {fmt::format("path={},id=scratch-0", img)});
    EXPECT_NE(r.out.find("blk: id scratch-0\n"), std::string::npos) << r.out << r.err;
}

TEST_F(VirtioBlk, ReadOnlyDriveRefusesWritesAndKeepsTheImage) {
    const std::string content = selftest_image(kImageBytes, 8);
    const std::string img = image("ro.img", content);
    auto r = ember("blk=selftest seed=8", {fmt::format("path={},ro", img)});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("blk: read-only drive (VIRTIO_BLK_F_RO)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("blk: ok write to a read-only drive gets IOERR (got IOERR)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("blk: selftest passed"), std::string::npos) << r.out;
    EXPECT_EQ(first_difference(read_file(img), content), "");
}

TEST_F(VirtioBlk, OverlayTakesTheWritesAndKeepsTheBase) {
    const std::string base = image("base.img");
    const std::string overlay = path("disk.ovl");
    const std::string drive = fmt::format("path={},overlay={}", base, overlay);
    auto r = ember("blk=selftest seed=9", {drive});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("blk: selftest passed"), std::string::npos) << r.out;
    EXPECT_EQ(first_difference(read_file(base), std::string(kImageBytes, '\0')), "")
        << "the base changed";
    ASSERT_TRUE(fs::exists(overlay));
    EXPECT_NE(read_file(overlay).find(pattern_sector(9, 1024)), std::string::npos)
        << "the overlay does not hold the written data";

    // Reopened with the same overlay, the data is there; the base alone still reads zeroes.
    auto again = ember("blk=verify seed=9", {drive});
    EXPECT_EQ(again.status, 0) << again.out << again.err;
    EXPECT_NE(again.out.find("blk: verify passed"), std::string::npos) << again.out;
    auto bare = ember("blk=verify seed=9", {fmt::format("path={}", base)});
    EXPECT_EQ(bare.status, 1) << bare.out << bare.err;
    EXPECT_NE(bare.out.find("blk: FAIL read back: sector 0 word 0 is 0x0"), std::string::npos)
        << bare.out;
}

TEST_F(VirtioBlk, FlushedDataSurvivesSigkill) {
    const std::string img = image("disk.img");
    const auto r = test::run_process_until(
        args("blk=durable seed=10 sectors=2048", {fmt::format("path={},cache=writeback", img)}),
        "blk: flushed\n", 60000);
    ASSERT_TRUE(r.marker_seen) << r.out << r.err;
    EXPECT_EQ(r.status, 128 + SIGKILL) << r.out << r.err;
    EXPECT_EQ(first_difference(read_file(img), durable_image(kImageBytes, 10, 2048)), "");
}

TEST_F(VirtioBlk, HostileChainsBreakOnlyTheDevice) {
    const std::string img = image("disk.img");
    auto r = ember("blk=hostile", {fmt::format("path={}", img)});
    // ember kept running, the guest finished every case and its status is ember's.
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(count(r.out, "blk: ok hostile "), 13U) << r.out;
    EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("blk: hostile passed (13 checks, 0 failed)"), std::string::npos) << r.out;
}

TEST_F(VirtioBlk, GuestExitStatusIsEmbers) {
    const std::string img = image("disk.img");
    auto r = ember("blk=nonsense", {fmt::format("path={}", img)});
    EXPECT_EQ(r.status, 2) << r.out << r.err;
    EXPECT_NE(r.out.find("blk: unknown mode"), std::string::npos) << r.out;
}

TEST_F(VirtioBlk, TwoDrivesAtOnce) {
    const std::string a = image("a.img");
    const std::string b = image("b.img", std::string(2 * kImageBytes, '\0'));
    auto r = ember("blk=selftest seed=20",
                   {fmt::format("path={},engine=sync", a), fmt::format("path={}", b)});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("blk: dev 0 at 0xd0000000 irq 5: capacity 8192 sectors"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("blk: dev 1 at 0xd0001000 irq 6: capacity 16384 sectors"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("blk: selftest passed"), std::string::npos) << r.out;
    // Drive i gets seed + i.
    EXPECT_EQ(first_difference(read_file(a), selftest_image(kImageBytes, 20)), "");
    EXPECT_EQ(first_difference(read_file(b), selftest_image(2 * kImageBytes, 21)), "");
}

} // namespace
} // namespace ember
