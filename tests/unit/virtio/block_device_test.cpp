// BlockDevice driven by hand: a queue in test memory, the sync engine on a real temporary file.
#include "virtio/block/block_device.hpp"

#include "block_requests.hpp"
#include "temp_file.hpp"

#include <gtest/gtest.h>

#include <linux/virtio_ids.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace ember::virtio::block {
namespace {

using testing::BlockRequest;
using testing::BlockRequests;
using testing::Bytes;
using testing::pattern;
using testing::TempFile;

class CountingIrq final : public IrqLine {
public:
    void trigger() override { count.fetch_add(1); }
    std::atomic<int> count{0};
};

constexpr uint64_t kAllFeatures =
    kFeatureVersion1 | feature_bit(VIRTIO_RING_F_EVENT_IDX) |
    feature_bit(VIRTIO_RING_F_INDIRECT_DESC) | feature_bit(VIRTIO_BLK_F_FLUSH) |
    feature_bit(VIRTIO_BLK_F_DISCARD) | feature_bit(VIRTIO_BLK_F_WRITE_ZEROES);

class BlockDeviceTest : public ::testing::Test {
protected:
    void open(DiskOptions options = {.read_only = false,
                                     .cache_mode = CacheMode::kWriteback,
                                     .id = "test-disk"},
              RateLimiterConfig limits = {}) {
        auto disk = SyncDisk::open(file.path(), options);
        ASSERT_TRUE(disk) << disk.error().message();
        auto dev = BlockDevice::create(
            make_sync_engine(std::move(*disk)),
            BlockOptions{.name = "test", .queue_size = 16, .rate_limiter = limits});
        ASSERT_TRUE(dev) << dev.error().message();
        device = std::move(*dev);
    }
    void activate(uint64_t features = kAllFeatures) {
        const QueueConfig config = q.config();
        ASSERT_TRUE(device->activate(ActivationContext{.memory = q.memory(),
                                                       .features = features & offered(),
                                                       .queues = std::span(&config, 1),
                                                       .queue_events = {},
                                                       .interrupt = interrupt}));
    }
    uint64_t offered() const { return device->available_features() | kFeatureVersion1; }
    // Publishes the requests and lets the device run them.
    void run(std::initializer_list<const BlockRequest*> requests) {
        for (const BlockRequest* r : requests)
            q.publish(r->head);
        device->on_queue_notify();
    }

    TempFile file{pattern(64 * 512, 1)};
    VirtqueueBuilder q{16};
    BlockRequests reqs{q};
    CountingIrq irq;
    VirtioInterrupt interrupt{irq};
    std::unique_ptr<BlockDevice> device;
};

TEST_F(BlockDeviceTest, IdentityFeaturesAndConfigSpace) {
    open();
    EXPECT_EQ(device->device_type(), uint32_t{VIRTIO_ID_BLOCK});
    const uint64_t f = device->available_features();
    EXPECT_NE(f & feature_bit(VIRTIO_RING_F_EVENT_IDX), 0U);
    EXPECT_NE(f & feature_bit(VIRTIO_RING_F_INDIRECT_DESC), 0U);
    EXPECT_NE(f & feature_bit(VIRTIO_BLK_F_FLUSH), 0U); // writeback
    EXPECT_NE(f & feature_bit(VIRTIO_BLK_F_DISCARD), 0U);
    EXPECT_EQ(f & feature_bit(VIRTIO_BLK_F_RO), 0U);
    std::array<std::byte, 8> capacity{};
    device->read_config(0, capacity);
    uint64_t sectors = 0;
    std::memcpy(&sectors, capacity.data(), 8);
    EXPECT_EQ(sectors, 64U);
    std::array<std::byte, 4> seg_max{};
    device->read_config(offsetof(virtio_blk_config, seg_max), seg_max);
    EXPECT_EQ(std::to_integer<int>(seg_max[0]), 14); // queue size 16 - header - status
    // Reads past the config space leave the buffer as the transport zero-filled it.
    std::array<std::byte, 4> past{};
    device->read_config(sizeof(virtio_blk_config), past);
    EXPECT_EQ(std::to_integer<int>(past[0]), 0);
}

TEST_F(BlockDeviceTest, UnsafeCacheOffersNoFlushAndReadOnlyOffersRo) {
    open({.read_only = true, .cache_mode = CacheMode::kUnsafe, .id = ""});
    const uint64_t f = device->available_features();
    EXPECT_EQ(f & feature_bit(VIRTIO_BLK_F_FLUSH), 0U);
    EXPECT_NE(f & feature_bit(VIRTIO_BLK_F_RO), 0U);
    EXPECT_EQ(f & feature_bit(VIRTIO_BLK_F_DISCARD), 0U);
    EXPECT_EQ(f & feature_bit(VIRTIO_BLK_F_WRITE_ZEROES), 0U);
}

TEST_F(BlockDeviceTest, WriteFlushReadRoundTripThroughTheFile) {
    open();
    activate();
    const Bytes data = pattern(1024, 9);
    const BlockRequest w = reqs.make(VIRTIO_BLK_T_OUT, 5, {512, 512});
    reqs.write_bytes(w.data[0], data.data(), 512);
    reqs.write_bytes(w.data[1], data.data() + 512, 512);
    const BlockRequest f = reqs.make(VIRTIO_BLK_T_FLUSH, 0, {});
    const BlockRequest r = reqs.make(VIRTIO_BLK_T_IN, 5, {1024}, /*indirect=*/true);
    run({&w, &f, &r});

    EXPECT_EQ(reqs.status(w), VIRTIO_BLK_S_OK);
    EXPECT_EQ(reqs.status(f), VIRTIO_BLK_S_OK);
    EXPECT_EQ(reqs.status(r), VIRTIO_BLK_S_OK);
    EXPECT_EQ(reqs.read_bytes(r.data[0], 1024), data);
    const Bytes disk = file.content();
    EXPECT_TRUE(std::equal(data.begin(), data.end(), disk.begin() + 5 * 512));
    ASSERT_EQ(q.used_idx(), 3);
    EXPECT_EQ(q.used_elem(0).id, w.head);
    EXPECT_EQ(q.used_elem(0).len, 1U);
    EXPECT_EQ(q.used_elem(2).len, 1025U);
    const BlockMetrics m = device->metrics();
    EXPECT_EQ(m.reads, 1U);
    EXPECT_EQ(m.writes, 1U);
    EXPECT_EQ(m.flushes, 1U);
    EXPECT_EQ(m.write_bytes, 1024U);
}

TEST_F(BlockDeviceTest, GetIdDiscardAndWriteZeroes) {
    open();
    activate();
    const BlockRequest id = reqs.make(VIRTIO_BLK_T_GET_ID, 0, {20});
    const BlockRequest d = reqs.make_segment(VIRTIO_BLK_T_DISCARD, 8, 8, 0);
    const BlockRequest z =
        reqs.make_segment(VIRTIO_BLK_T_WRITE_ZEROES, 20, 4, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
    run({&id, &d, &z});
    const auto id_bytes = reqs.read_bytes(id.data[0], 20);
    EXPECT_EQ(std::string(id_bytes.begin(), id_bytes.begin() + 9), "test-disk");
    EXPECT_EQ(id_bytes[9], 0);
    EXPECT_EQ(q.used_elem(0).len, 21U);
    EXPECT_EQ(reqs.status(d), VIRTIO_BLK_S_OK);
    EXPECT_EQ(reqs.status(z), VIRTIO_BLK_S_OK);
    const Bytes disk = file.content();
    for (size_t i = 20 * 512; i < 24 * 512; ++i)
        ASSERT_EQ(disk[i], 0) << "byte " << i;
    EXPECT_NE(disk[24 * 512], 0); // untouched past the range (the pattern has no zero here)
}

TEST_F(BlockDeviceTest, GuestMistakesGetIoErrAndTheDeviceGoesOn) {
    open({.read_only = true, .cache_mode = CacheMode::kUnsafe, .id = ""});
    activate();
    const BlockRequest past = reqs.make(VIRTIO_BLK_T_IN, 63, {1024});
    const BlockRequest ro = reqs.make(VIRTIO_BLK_T_OUT, 0, {512});
    const BlockRequest flush = reqs.make(VIRTIO_BLK_T_FLUSH, 0, {});
    const BlockRequest good = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    run({&past, &ro, &flush, &good});
    EXPECT_EQ(reqs.status(past), VIRTIO_BLK_S_IOERR);
    EXPECT_EQ(reqs.status(ro), VIRTIO_BLK_S_IOERR);
    EXPECT_EQ(reqs.status(flush), VIRTIO_BLK_S_UNSUPP); // no FLUSH in Unsafe mode
    EXPECT_EQ(reqs.status(good), VIRTIO_BLK_S_OK);
    const Bytes original = pattern(64 * 512, 1);
    EXPECT_EQ(reqs.read_bytes(good.data[0], 512), Bytes(original.begin(), original.begin() + 512));
    EXPECT_EQ(q.used_idx(), 4);
    EXPECT_FALSE(interrupt.needs_reset());
    EXPECT_EQ(device->metrics().io_errors, 2U);
    EXPECT_EQ(device->metrics().unsupported, 1U);
    EXPECT_EQ(file.content(), original); // nothing written
}

TEST_F(BlockDeviceTest, BrokenChainSetsNeedsResetUntilReset) {
    open();
    activate();
    // A descriptor loop: 0 -> 1 -> 0.
    const GuestAddr buf = q.alloc_data(16);
    q.set_desc(0, {buf, 16, kNext, 1});
    q.set_desc(1, {buf, 16, kNext, 0});
    q.publish(0);
    device->on_queue_notify();
    EXPECT_TRUE(interrupt.needs_reset());
    EXPECT_EQ(device->metrics().broken, 1U);
    EXPECT_EQ(q.used_idx(), 0);
    // Ignored until the driver resets the device.
    q.publish(0);
    device->on_queue_notify();
    EXPECT_EQ(q.used_idx(), 0);

    ASSERT_TRUE(device->reset());
    interrupt.clear();
    VirtqueueBuilder fresh{16};
    BlockRequests fresh_reqs{fresh};
    const QueueConfig config = fresh.config();
    ASSERT_TRUE(device->activate(ActivationContext{.memory = fresh.memory(),
                                                   .features = kAllFeatures & offered(),
                                                   .queues = std::span(&config, 1),
                                                   .queue_events = {},
                                                   .interrupt = interrupt}));
    const BlockRequest r = fresh_reqs.make(VIRTIO_BLK_T_IN, 1, {512});
    fresh.publish(r.head);
    device->on_queue_notify();
    EXPECT_EQ(fresh_reqs.status(r), VIRTIO_BLK_S_OK);
    EXPECT_FALSE(interrupt.needs_reset());
}

TEST_F(BlockDeviceTest, ChainWithoutStatusByteBreaksTheDevice) {
    open();
    activate();
    const GuestAddr hdr = q.alloc_data(16);
    q.set_desc(0, {hdr, 16, 0, 0});
    q.publish(0);
    device->on_queue_notify();
    EXPECT_TRUE(interrupt.needs_reset());
}

TEST_F(BlockDeviceTest, EventIdxSuppressesInterruptsTheDriverDidNotAskFor) {
    open();
    activate();
    // A fresh queue interrupts on its first completion (the device has not seen used_event
    // yet, as in QEMU and vhost).
    const BlockRequest a = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    run({&a});
    EXPECT_EQ(irq.count.load(), 1);
    // Then only when used->idx passes used_event: here, after the third completion.
    q.set_used_event(2);
    const BlockRequest b = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    run({&b});
    EXPECT_EQ(irq.count.load(), 1);
    const BlockRequest c = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    run({&c});
    EXPECT_EQ(irq.count.load(), 2);
    EXPECT_EQ(device->metrics().interrupts, 2U);
}

TEST_F(BlockDeviceTest, NoInterruptFlagWithoutEventIdx) {
    open();
    activate(kAllFeatures & ~feature_bit(VIRTIO_RING_F_EVENT_IDX));
    q.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
    const BlockRequest a = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    run({&a});
    EXPECT_EQ(irq.count.load(), 0);
    q.set_avail_flags(0);
    const BlockRequest b = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    run({&b});
    EXPECT_EQ(irq.count.load(), 1);
}

TEST_F(BlockDeviceTest, RateLimiterHoldsRequestsBackUntilItsTimer) {
    // One operation per 50 ms.
    open({.read_only = false, .cache_mode = CacheMode::kWriteback, .id = ""},
         RateLimiterConfig{.bandwidth = {},
                           .ops = {.size = 1, .one_time_burst = 0, .refill_time_ms = 50}});
    activate();
    const BlockRequest a = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    const BlockRequest b = reqs.make(VIRTIO_BLK_T_IN, 1, {512});
    run({&a, &b});
    EXPECT_EQ(reqs.status(a), VIRTIO_BLK_S_OK);
    EXPECT_EQ(reqs.status(b), BlockRequests::kUntouched);
    EXPECT_EQ(device->metrics().throttled, 1U);
    // A kick while throttled changes nothing.
    device->on_queue_notify();
    EXPECT_EQ(reqs.status(b), BlockRequests::kUntouched);
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    device->on_rate_limiter_timer();
    EXPECT_EQ(reqs.status(b), VIRTIO_BLK_S_OK);
    EXPECT_EQ(q.used_idx(), 2);
}

TEST_F(BlockDeviceTest, RequestsBeforeActivationAreLeftAlone) {
    open();
    const BlockRequest a = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    q.publish(a.head);
    device->on_queue_notify(); // not active: nothing happens
    EXPECT_EQ(reqs.status(a), BlockRequests::kUntouched);
    activate();
    device->on_queue_notify();
    EXPECT_EQ(reqs.status(a), VIRTIO_BLK_S_OK);
}

TEST_F(BlockDeviceTest, BadQueueSizeIsRefused) {
    auto disk = SyncDisk::open(file.path(), {});
    ASSERT_TRUE(disk);
    auto dev = BlockDevice::create(make_sync_engine(std::move(*disk)),
                                   BlockOptions{.name = "x", .queue_size = 12, .rate_limiter = {}});
    ASSERT_FALSE(dev);
    EXPECT_NE(dev.error().message().find("power of two"), std::string::npos);
}

// PATCH /drives path_on_host: replace_engine() swaps the disk under a device.
class BlockDeviceSwapTest : public BlockDeviceTest {
protected:
    // A function, not a constexpr: DiskOptions holds a std::string (clang 14 has no constexpr
    // std::string).
    static DiskOptions writable() {
        return DiskOptions{
            .read_only = false, .cache_mode = CacheMode::kWriteback, .id = "test-disk"};
    }

    std::unique_ptr<IoEngine> engine_for(const TempFile& f, DiskOptions options = writable()) {
        auto disk = SyncDisk::open(f.path(), options);
        EXPECT_TRUE(disk) << disk.error().message();
        return disk ? make_sync_engine(std::move(*disk)) : nullptr;
    }
    uint64_t capacity() const {
        std::array<std::byte, 8> bytes{};
        device->read_config(0, bytes);
        uint64_t sectors = 0;
        std::memcpy(&sectors, bytes.data(), 8);
        return sectors;
    }

    EventLoop loop = EventLoop::create().value();
    TempFile other{pattern(128 * 512, 2), "swap"};
};

TEST_F(BlockDeviceSwapTest, AnActiveDeviceServesTheNewDiskAndTellsTheDriver) {
    open();
    activate();
    const BlockRequest before = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    run({&before});
    ASSERT_EQ(reqs.status(before), VIRTIO_BLK_S_OK);
    const int irqs = irq.count.load();
    interrupt.acknowledge(kInterruptUsedBuffer);
    const uint32_t generation = device->config_generation();
    EXPECT_EQ(capacity(), 64U);

    ASSERT_TRUE(device->replace_engine(loop, engine_for(other)));
    EXPECT_EQ(capacity(), 128U);
    EXPECT_NE(device->config_generation(), generation);
    EXPECT_NE(interrupt.status() & kInterruptConfigChange, 0U);
    EXPECT_EQ(irq.count.load(), irqs + 1);
    EXPECT_FALSE(interrupt.needs_reset());

    // Reads come from the new file, past the old disk's end too; writes go to it alone.
    const Bytes original = pattern(64 * 512, 1);
    const Bytes replacement = pattern(128 * 512, 2);
    const BlockRequest low = reqs.make(VIRTIO_BLK_T_IN, 0, {512});
    const BlockRequest high = reqs.make(VIRTIO_BLK_T_IN, 100, {512});
    const Bytes data = pattern(512, 77);
    const BlockRequest w = reqs.make(VIRTIO_BLK_T_OUT, 3, {512});
    reqs.write_bytes(w.data[0], data.data(), 512);
    run({&low, &high, &w});
    EXPECT_EQ(reqs.status(low), VIRTIO_BLK_S_OK);
    EXPECT_EQ(reqs.status(high), VIRTIO_BLK_S_OK);
    EXPECT_EQ(reqs.status(w), VIRTIO_BLK_S_OK);
    EXPECT_EQ(reqs.read_bytes(low.data[0], 512),
              Bytes(replacement.begin(), replacement.begin() + 512));
    EXPECT_EQ(reqs.read_bytes(high.data[0], 512),
              Bytes(replacement.begin() + 100 * 512, replacement.begin() + 101 * 512));
    const Bytes now = other.content();
    EXPECT_TRUE(std::equal(data.begin(), data.end(), now.begin() + 3 * 512));
    EXPECT_EQ(file.content(), original);
    EXPECT_EQ(device->engine().disk().capacity_sectors(), 128U);
}

TEST_F(BlockDeviceSwapTest, AnInactiveDeviceSwapsWithoutAnInterrupt) {
    open();
    const uint32_t generation = device->config_generation();
    ASSERT_TRUE(device->replace_engine(loop, engine_for(other)));
    EXPECT_EQ(capacity(), 128U);
    EXPECT_NE(device->config_generation(), generation);
    EXPECT_EQ(irq.count.load(), 0);
    EXPECT_EQ(interrupt.status(), 0U);
    // The driver that comes later sees the new disk.
    activate();
    const BlockRequest r = reqs.make(VIRTIO_BLK_T_IN, 127, {512});
    run({&r});
    EXPECT_EQ(reqs.status(r), VIRTIO_BLK_S_OK);
    const Bytes replacement = pattern(128 * 512, 2);
    EXPECT_EQ(reqs.read_bytes(r.data[0], 512),
              Bytes(replacement.begin() + 127 * 512, replacement.end()));
}

TEST_F(BlockDeviceSwapTest, ADiskWithAnotherReadOnlyFlagOrCacheModeIsRefused) {
    open();
    activate();
    const uint32_t generation = device->config_generation();
    const uint64_t features = device->available_features();
    for (const DiskOptions& options :
         {DiskOptions{.read_only = true, .cache_mode = CacheMode::kWriteback, .id = "x"},
          DiskOptions{.read_only = false, .cache_mode = CacheMode::kUnsafe, .id = "x"}}) {
        SCOPED_TRACE(options.read_only ? "read-only" : "unsafe cache");
        const auto refused = device->replace_engine(loop, engine_for(other, options));
        ASSERT_FALSE(refused);
        EXPECT_EQ(refused.error().code(), Errc::kInvalidArgument);
        EXPECT_EQ(refused.error().message(),
                  "test: the new disk must keep the drive's read-only flag and cache mode");
    }
    // Nothing changed: same capacity, generation, features, no interrupt, the old file serves.
    EXPECT_EQ(capacity(), 64U);
    EXPECT_EQ(device->config_generation(), generation);
    EXPECT_EQ(device->available_features(), features);
    EXPECT_EQ(irq.count.load(), 0);
    EXPECT_EQ(device->engine().disk().capacity_sectors(), 64U);
    const BlockRequest w = reqs.make(VIRTIO_BLK_T_OUT, 1, {512});
    const Bytes data = pattern(512, 99);
    reqs.write_bytes(w.data[0], data.data(), 512);
    run({&w});
    EXPECT_EQ(reqs.status(w), VIRTIO_BLK_S_OK);
    const Bytes old_now = file.content();
    EXPECT_TRUE(std::equal(data.begin(), data.end(), old_now.begin() + 512));
    EXPECT_EQ(other.content(), pattern(128 * 512, 2));
}

TEST_F(BlockDeviceSwapTest, ARefusedDiskOfAReadOnlyDriveLeavesItReadOnly) {
    open({.read_only = true, .cache_mode = CacheMode::kUnsafe, .id = ""});
    activate();
    const auto refused = device->replace_engine(
        loop, engine_for(other, {.read_only = false, .cache_mode = CacheMode::kUnsafe, .id = ""}));
    ASSERT_FALSE(refused);
    EXPECT_TRUE(device->engine().disk().read_only());
    // The same flags are fine.
    ASSERT_TRUE(device->replace_engine(
        loop, engine_for(other, {.read_only = true, .cache_mode = CacheMode::kUnsafe, .id = ""})));
    EXPECT_EQ(capacity(), 128U);
    const BlockRequest w = reqs.make(VIRTIO_BLK_T_OUT, 0, {512});
    run({&w});
    EXPECT_EQ(reqs.status(w), VIRTIO_BLK_S_IOERR);
    EXPECT_EQ(other.content(), pattern(128 * 512, 2));
}

} // namespace
} // namespace ember::virtio::block

namespace ember::virtio::block {
namespace {

// A driver that keeps the ring full must not keep the VMM thread to itself: one handler run
// takes a bounded batch, then kicks the device's own eventfd and returns to the event loop.
TEST(BlockDeviceFairness, YieldsToTheEventLoopAfterABatch) {
    TempFile file{pattern(64 * 512, 3)};
    VirtqueueBuilder q{1024};
    BlockRequests reqs{q};
    CountingIrq irq;
    VirtioInterrupt interrupt{irq};
    auto disk = SyncDisk::open(file.path(), {});
    ASSERT_TRUE(disk);
    auto dev = BlockDevice::create(
        make_sync_engine(std::move(*disk)),
        BlockOptions{.name = "fair", .queue_size = 1024, .rate_limiter = {}, .poll_max_ns = 0});
    ASSERT_TRUE(dev) << dev.error().message();
    auto loop = EventLoop::create();
    ASSERT_TRUE(loop);
    auto kick = EventFd::create();
    ASSERT_TRUE(kick);
    ASSERT_TRUE((*dev)->attach(*loop, std::span(&*kick, 1)));
    const QueueConfig config = q.config();
    ASSERT_TRUE((*dev)->activate(ActivationContext{.memory = q.memory(),
                                                   .features = kAllFeatures,
                                                   .queues = std::span(&config, 1),
                                                   .queue_events = std::span(&*kick, 1),
                                                   .interrupt = interrupt}));
    (void)kick->consume(); // activate() looks at the ring once by kicking itself
    for (int i = 0; i < 300; ++i)
        q.publish(reqs.make(VIRTIO_BLK_T_IN, static_cast<uint64_t>(i % 64), {512}).head);
    (*dev)->on_queue_notify();
    EXPECT_EQ(q.used_idx(), 256);
    EXPECT_NE(kick->consume(), 0U) << "the device did not kick itself to finish the batch";
    (*dev)->on_queue_notify();
    EXPECT_EQ(q.used_idx(), 300);
    (*dev)->detach(*loop);
}

} // namespace
} // namespace ember::virtio::block
