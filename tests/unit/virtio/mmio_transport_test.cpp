#include "virtio/mmio/mmio_transport.hpp"

#include "virtio/mmio/mmio_layout.hpp"
#include "virtio/virtio_device.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace ember::virtio {
namespace {

using mmio::Reg;
using ::testing::_;
using ::testing::NiceMock;
using ::testing::Return;

// <linux/virtio_ring.h> does not compile as C++ (void* conversions in its inline helpers).
constexpr uint64_t kIndirectDesc = feature_bit(28); // VIRTIO_RING_F_INDIRECT_DESC
constexpr uint64_t kEventIdx = feature_bit(29);     // VIRTIO_RING_F_EVENT_IDX
constexpr uint64_t kFlush = feature_bit(VIRTIO_BLK_F_FLUSH);
// What the fake device offers: two transport features the transport must hide among them.
constexpr uint64_t kDeviceFeatures =
    kFlush | kIndirectDesc | kEventIdx | kFeatureAccessPlatform | kFeatureRingReset;
constexpr uint64_t kOffered = kFlush | kIndirectDesc | kEventIdx | kFeatureVersion1;

constexpr uint32_t kAck = VIRTIO_CONFIG_S_ACKNOWLEDGE;
constexpr uint32_t kDriver = VIRTIO_CONFIG_S_DRIVER;
constexpr uint32_t kFeaturesOk = VIRTIO_CONFIG_S_FEATURES_OK;
constexpr uint32_t kDriverOk = VIRTIO_CONFIG_S_DRIVER_OK;
constexpr uint32_t kFailed = VIRTIO_CONFIG_S_FAILED;
constexpr uint32_t kNeedsReset = VIRTIO_CONFIG_S_NEEDS_RESET;

class CountingIrq final : public IrqLine {
public:
    void trigger() override { count.fetch_add(1); }
    std::atomic<int> count{0};
};

// A block-like device: two queues, 16 bytes of config space (bytes 0x10, 0x11, ...).
class FakeDevice : public VirtioDevice {
public:
    FakeDevice() {
        for (size_t i = 0; i < config.size(); ++i)
            config[i] = static_cast<std::byte>(0x10 + i);
        ON_CALL(*this, reset()).WillByDefault(Return(true));
    }
    uint32_t device_type() const override { return VIRTIO_ID_BLOCK; }
    uint64_t available_features() const override { return features; }
    std::span<const uint16_t> queue_max_sizes() const override { return max_sizes; }
    void read_config(uint32_t offset, std::span<std::byte> out) const override {
        for (size_t i = 0; i < out.size() && offset + i < config.size(); ++i)
            out[i] = config[offset + i];
    }
    void write_config(uint32_t offset, std::span<const std::byte> in) override {
        ++config_writes;
        for (size_t i = 0; i < in.size() && offset + i < config.size(); ++i)
            config[offset + i] = in[i];
    }
    uint32_t config_generation() const override { return generation; }
    MOCK_METHOD(Result<void>, activate, (ActivationContext ctx), (override));
    MOCK_METHOD(bool, reset, (), (override));

    uint64_t features = kDeviceFeatures;
    std::vector<uint16_t> max_sizes{256, 128};
    std::array<std::byte, 16> config{};
    uint32_t generation = 0;
    int config_writes = 0;
};

// What activate() saw, copied out of the context (its spans are only valid during the call).
struct Activation {
    uint64_t features = 0;
    std::vector<QueueConfig> queues;
    size_t events = 0;
    const GuestMemory* memory = nullptr;
    VirtioInterrupt* interrupt = nullptr;
};

GuestMemory make_memory() {
    const std::array regions{GuestRegion{.start = 0, .size = 0x100000}};
    auto m = GuestMemory::create(regions);
    EXPECT_TRUE(m) << m.error().message();
    return std::move(*m);
}

uint64_t off(Reg reg) {
    return static_cast<uint64_t>(reg);
}

class MmioTransportTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto t = MmioTransport::create(device_, memory_, irq_);
        ASSERT_TRUE(t) << t.error().message();
        transport_ = std::move(*t);
    }

    uint32_t rd(Reg reg) { return rd_at(off(reg)); }
    uint32_t rd_at(uint64_t offset) {
        std::array<std::byte, 4> b{};
        b.fill(std::byte{0xee});
        transport_->read(offset, b);
        return std::to_integer<uint32_t>(b[0]) | std::to_integer<uint32_t>(b[1]) << 8 |
               std::to_integer<uint32_t>(b[2]) << 16 | std::to_integer<uint32_t>(b[3]) << 24;
    }
    void wr(Reg reg, uint32_t value) { wr_at(off(reg), value); }
    void wr_at(uint64_t offset, uint32_t value) {
        std::array<std::byte, 4> b{};
        for (size_t i = 0; i < b.size(); ++i)
            b[i] = static_cast<std::byte>(value >> (8 * i));
        transport_->write(offset, b);
    }
    // Little-endian config read of `size` bytes at config offset `offset`.
    uint64_t config_read(uint64_t offset, size_t size) {
        std::array<std::byte, 8> b{};
        b.fill(std::byte{0xee});
        transport_->read(mmio::kConfigStart + offset, std::span(b).first(size));
        uint64_t value = 0;
        for (size_t i = 0; i < size; ++i)
            value |= std::to_integer<uint64_t>(b[i]) << (8 * i);
        return value;
    }
    void config_write(uint64_t offset, size_t size, uint64_t value) {
        std::array<std::byte, 8> b{};
        for (size_t i = 0; i < size; ++i)
            b[i] = static_cast<std::byte>(value >> (8 * i));
        transport_->write(mmio::kConfigStart + offset, std::span(b).first(size));
    }

    // Linux's add_status(): read-modify-write.
    void add_status(uint32_t bits) { wr(Reg::kStatus, rd(Reg::kStatus) | bits); }
    void write_driver_features(uint64_t features) {
        wr(Reg::kDriverFeaturesSel, 1);
        wr(Reg::kDriverFeatures, static_cast<uint32_t>(features >> 32));
        wr(Reg::kDriverFeaturesSel, 0);
        wr(Reg::kDriverFeatures, static_cast<uint32_t>(features));
    }
    // Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK; returns the Status read back.
    uint32_t negotiate(uint64_t features) {
        wr(Reg::kStatus, 0);
        add_status(kAck);
        add_status(kDriver);
        write_driver_features(features);
        add_status(kFeaturesOk);
        return rd(Reg::kStatus);
    }
    void setup_queue(uint32_t index, uint32_t size, uint64_t base) {
        wr(Reg::kQueueSel, index);
        wr(Reg::kQueueNum, size);
        wr(Reg::kQueueDescLow, static_cast<uint32_t>(base));
        wr(Reg::kQueueDescHigh, static_cast<uint32_t>(base >> 32));
        wr(Reg::kQueueDriverLow, static_cast<uint32_t>(base + 0x1000));
        wr(Reg::kQueueDriverHigh, static_cast<uint32_t>((base + 0x1000) >> 32));
        wr(Reg::kQueueDeviceLow, static_cast<uint32_t>(base + 0x2000));
        wr(Reg::kQueueDeviceHigh, static_cast<uint32_t>((base + 0x2000) >> 32));
        wr(Reg::kQueueReady, 1);
    }
    // Expects one activation and records what it saw.
    void expect_activation(Activation& seen, const Result<void>& result = {}) {
        EXPECT_CALL(device_, activate(_)).WillOnce([&seen, result](ActivationContext ctx) {
            seen.features = ctx.features;
            seen.queues.assign(ctx.queues.begin(), ctx.queues.end());
            seen.events = ctx.queue_events.size();
            seen.memory = &ctx.memory;
            seen.interrupt = &ctx.interrupt;
            return result;
        });
    }
    // A driver that takes every offered feature and sets up both queues, up to DRIVER_OK.
    void bring_up(Activation& seen) {
        expect_activation(seen);
        ASSERT_EQ(negotiate(kOffered), kAck | kDriver | kFeaturesOk);
        setup_queue(0, 256, 0x10000);
        setup_queue(1, 64, 0x20000);
        add_status(kDriverOk);
    }
    MmioCounters counters() const { return transport_->counters(); }

    NiceMock<FakeDevice> device_;
    GuestMemory memory_ = make_memory();
    CountingIrq irq_;
    std::unique_ptr<MmioTransport> transport_;
};

TEST(MmioLayoutTest, TableFollowsTheSpec) {
    EXPECT_EQ(mmio::kRegisters.size(), 28U);
    ASSERT_NE(mmio::find_register(0x070), nullptr);
    EXPECT_EQ(mmio::find_register(0x070)->name, "Status");
    EXPECT_EQ(mmio::find_register(0x070)->access, mmio::Access::kReadWrite);
    EXPECT_EQ(mmio::find_register(0x044)->name, "QueueReady");
    EXPECT_EQ(mmio::find_register(0x050)->access, mmio::Access::kWrite);
    EXPECT_EQ(mmio::find_register(0x0fc)->name, "ConfigGeneration");
    EXPECT_EQ(mmio::find_register(0x028), nullptr); // legacy GuestPageSize
    EXPECT_EQ(mmio::find_register(0x0c0), nullptr); // QueueReset: no VIRTIO_F_RING_RESET
    EXPECT_EQ(mmio::find_register(0x071), nullptr);
    EXPECT_EQ(mmio::find_register(0x100), nullptr);
    EXPECT_EQ(MmioTransport::kQueueNotifyOffset, 0x50U);
}

TEST(MmioLayoutTest, KernelCmdlineFragment) {
    EXPECT_EQ(mmio::kernel_cmdline_fragment(0xd000'0000, 5), "virtio_mmio.device=4K@0xd0000000:5");
    EXPECT_EQ(mmio::kernel_cmdline_fragment(0xd000'1000, 12, 0x20'0000),
              "virtio_mmio.device=2M@0xd0001000:12");
    EXPECT_EQ(mmio::kernel_cmdline_fragment(0x1'0000'0000, 7, 0x4000'0000),
              "virtio_mmio.device=1G@0x100000000:7");
    EXPECT_EQ(mmio::kernel_cmdline_fragment(0xd000'0000, 5, 0x1800),
              "virtio_mmio.device=6K@0xd0000000:5");
    EXPECT_EQ(mmio::kernel_cmdline_fragment(0xd000'0000, 5, 100),
              "virtio_mmio.device=100@0xd0000000:5");
}

TEST_F(MmioTransportTest, IdentityRegisters) {
    EXPECT_EQ(rd(Reg::kMagicValue), 0x74726976U);
    EXPECT_EQ(rd(Reg::kVersion), 2U);
    EXPECT_EQ(rd(Reg::kDeviceId), uint32_t{VIRTIO_ID_BLOCK});
    EXPECT_EQ(rd(Reg::kVendorId), 0x4d424d45U);
    EXPECT_EQ(rd(Reg::kStatus), 0U);
    EXPECT_EQ(rd(Reg::kInterruptStatus), 0U);
    EXPECT_EQ(rd(Reg::kConfigGeneration), 0U);
    EXPECT_EQ(counters().bad_registers, 0U);
}

TEST_F(MmioTransportTest, DeviceFeaturesInSelectorWindows) {
    EXPECT_EQ(transport_->offered_features(), kOffered);
    wr(Reg::kDeviceFeaturesSel, 0);
    EXPECT_EQ(rd(Reg::kDeviceFeatures), static_cast<uint32_t>(kOffered));
    wr(Reg::kDeviceFeaturesSel, 1);
    EXPECT_EQ(rd(Reg::kDeviceFeatures), 1U); // VERSION_1 only: ACCESS_PLATFORM, RING_RESET gone
    wr(Reg::kDeviceFeaturesSel, 2);
    EXPECT_EQ(rd(Reg::kDeviceFeatures), 0U);
    wr(Reg::kDeviceFeaturesSel, 0xffff'ffff);
    EXPECT_EQ(rd(Reg::kDeviceFeatures), 0U);
    EXPECT_EQ(transport_->state().device_features_sel, 0xffff'ffffU);
}

TEST_F(MmioTransportTest, LinuxDriverInitSequence) {
    // virtio_mmio_probe
    ASSERT_EQ(rd(Reg::kMagicValue), mmio::kMagic);
    ASSERT_EQ(rd(Reg::kVersion), 2U);
    ASSERT_EQ(rd(Reg::kDeviceId), uint32_t{VIRTIO_ID_BLOCK});
    // register_virtio_device: reset, ACKNOWLEDGE; virtio_dev_probe: DRIVER, features
    EXPECT_CALL(device_, reset()).WillOnce(Return(true));
    wr(Reg::kStatus, 0);
    add_status(kAck);
    add_status(kDriver);
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver);
    wr(Reg::kDeviceFeaturesSel, 1);
    uint64_t features = uint64_t{rd(Reg::kDeviceFeatures)} << 32;
    wr(Reg::kDeviceFeaturesSel, 0);
    features |= rd(Reg::kDeviceFeatures);
    ASSERT_EQ(features, kOffered);
    const uint64_t accepted = kFeatureVersion1 | kEventIdx | kFlush;
    write_driver_features(accepted);
    add_status(kFeaturesOk);
    ASSERT_EQ(rd(Reg::kStatus), kAck | kDriver | kFeaturesOk);
    // vm_setup_vq for each queue
    for (uint32_t i = 0; i < 2; ++i) {
        wr(Reg::kQueueSel, i);
        EXPECT_EQ(rd(Reg::kQueueReady), 0U);
        EXPECT_EQ(rd(Reg::kQueueNumMax), i == 0 ? 256U : 128U);
        setup_queue(i, 128, 0x1'0000'0000ULL * i + 0x40000);
        EXPECT_EQ(rd(Reg::kQueueReady), 1U);
    }
    wr(Reg::kQueueSel, 2);
    EXPECT_EQ(rd(Reg::kQueueNumMax), 0U); // no third queue
    Activation seen;
    expect_activation(seen);
    add_status(kDriverOk);
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver | kFeaturesOk | kDriverOk);
    EXPECT_EQ(seen.features, accepted);
    EXPECT_EQ(seen.events, 2U);
    EXPECT_EQ(seen.memory, &memory_);
    EXPECT_EQ(seen.interrupt, &transport_->interrupt());
    ASSERT_EQ(seen.queues.size(), 2U);
    EXPECT_EQ(seen.queues[0].size, 128U);
    EXPECT_EQ(seen.queues[0].max_size, 256U);
    EXPECT_TRUE(seen.queues[0].ready);
    EXPECT_EQ(seen.queues[0].desc, 0x40000U);
    EXPECT_EQ(seen.queues[0].avail, 0x41000U);
    EXPECT_EQ(seen.queues[0].used, 0x42000U);
    EXPECT_EQ(seen.queues[1].desc, 0x1'0004'0000ULL);
    EXPECT_EQ(seen.queues[1].avail, 0x1'0004'1000ULL);
    EXPECT_EQ(seen.queues[1].used, 0x1'0004'2000ULL);
    const MmioCounters c = counters();
    EXPECT_EQ(c.activations, 1U);
    EXPECT_EQ(c.bad_accesses + c.bad_registers + c.ignored_writes + c.features_rejected, 0U);
}

TEST_F(MmioTransportTest, FeaturesOkRefusedWithoutVersion1) {
    EXPECT_EQ(negotiate(kEventIdx), kAck | kDriver); // the bit reads back clear
    EXPECT_EQ(counters().features_rejected, 1U);
    // The driver may fix its features and try again.
    write_driver_features(kEventIdx | kFeatureVersion1);
    add_status(kFeaturesOk);
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver | kFeaturesOk);
    EXPECT_EQ(transport_->state().driver_features, kEventIdx | kFeatureVersion1);
}

TEST_F(MmioTransportTest, FeaturesOkRefusedForFeaturesNotOffered) {
    EXPECT_EQ(negotiate(kFeatureVersion1 | feature_bit(5)), kAck | kDriver);
    // Offered by the device but hidden by the transport: refused too.
    EXPECT_EQ(negotiate(kFeatureVersion1 | kFeatureRingReset), kAck | kDriver);
    EXPECT_EQ(negotiate(kFeatureVersion1 | kFeatureAccessPlatform), kAck | kDriver);
    EXPECT_EQ(counters().features_rejected, 3U);
    // DRIVER_OK cannot follow a refused FEATURES_OK.
    EXPECT_CALL(device_, activate(_)).Times(0);
    add_status(kDriverOk);
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver);
    // Writing FEATURES_OK | DRIVER_OK at once with bad features sets neither.
    wr(Reg::kStatus, kAck | kDriver | kFeaturesOk | kDriverOk);
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver);
}

TEST_F(MmioTransportTest, DriverFeaturesOnlyBetweenDriverAndFeaturesOk) {
    add_status(kAck);
    write_driver_features(kOffered); // before DRIVER: ignored (2 windows)
    EXPECT_EQ(transport_->state().driver_features, 0U);
    EXPECT_EQ(counters().ignored_writes, 2U);
    add_status(kDriver);
    write_driver_features(kOffered);
    wr(Reg::kDriverFeaturesSel, 2);
    wr(Reg::kDriverFeatures, 0); // no features past bit 63: harmless
    EXPECT_EQ(counters().ignored_writes, 2U);
    wr(Reg::kDriverFeatures, 1); // a feature past bit 63: ignored
    EXPECT_EQ(counters().ignored_writes, 3U);
    wr(Reg::kDriverFeaturesSel, 0);
    add_status(kFeaturesOk);
    wr(Reg::kDriverFeatures, 0); // after FEATURES_OK: frozen
    EXPECT_EQ(counters().ignored_writes, 4U);
    EXPECT_EQ(transport_->state().driver_features, kOffered);
}

TEST_F(MmioTransportTest, StatusBitsSetInOrderAndClearedOnlyByReset) {
    wr(Reg::kStatus, kDriver); // DRIVER without ACKNOWLEDGE
    EXPECT_EQ(rd(Reg::kStatus), 0U);
    add_status(kAck);
    wr(Reg::kStatus, kAck | kFeaturesOk); // FEATURES_OK without DRIVER
    wr(Reg::kStatus, kAck | 0x10);        // a reserved bit
    EXPECT_EQ(rd(Reg::kStatus), kAck);
    EXPECT_EQ(counters().ignored_writes, 3U);
    write_driver_features(kFeatureVersion1); // ignored (before DRIVER): 2 more
    add_status(kDriver);
    write_driver_features(kFeatureVersion1);
    wr(Reg::kStatus, kAck | kDriver | kDriverOk); // DRIVER_OK without FEATURES_OK
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver);
    wr(Reg::kStatus, kDriver); // clears ACKNOWLEDGE
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver);
    EXPECT_EQ(counters().ignored_writes, 7U);
    wr(Reg::kStatus, kAck | kDriver); // the same value again: fine
    EXPECT_EQ(counters().ignored_writes, 7U);
    write_driver_features(kFeatureVersion1);
    add_status(kFeaturesOk);
    wr(Reg::kStatus, kAck | kDriver); // clears FEATURES_OK: bits in order, but still refused
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver | kFeaturesOk);
    EXPECT_EQ(counters().ignored_writes, 8U);
    add_status(kFailed); // the driver gives up: allowed at any time
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver | kFeaturesOk | kFailed);
    wr(Reg::kStatus, 0);
    EXPECT_EQ(rd(Reg::kStatus), 0U);
}

TEST_F(MmioTransportTest, QueueNumMustBePowerOfTwoWithinMax) {
    ASSERT_EQ(negotiate(kFeatureVersion1), kAck | kDriver | kFeaturesOk);
    wr(Reg::kQueueSel, 1); // max 128
    for (const uint32_t bad : {0U, 3U, 100U, 256U, 0x1'0000U, 0xffff'ffffU})
        wr(Reg::kQueueNum, bad);
    EXPECT_EQ(counters().ignored_writes, 6U);
    EXPECT_EQ(transport_->state().queues[1].size, 128U); // the default: QueueNumMax
    wr(Reg::kQueueNum, 1);
    EXPECT_EQ(transport_->state().queues[1].size, 1U);
    EXPECT_EQ(rd(Reg::kQueueNumMax), 128U); // the maximum, not the chosen size
    wr(Reg::kQueueNum, 128);
    EXPECT_EQ(transport_->state().queues[1].size, 128U);
    EXPECT_EQ(counters().ignored_writes, 6U);
}

TEST_F(MmioTransportTest, QueueRegistersOnlyWhileSettingUpAQueueThatIsNotReady) {
    wr(Reg::kQueueSel, 0);
    wr(Reg::kQueueNum, 16); // before FEATURES_OK
    wr(Reg::kQueueDescLow, 0x1000);
    wr(Reg::kQueueReady, 1);
    EXPECT_EQ(counters().ignored_writes, 3U);
    EXPECT_EQ(transport_->state().queues[0].desc, 0U);
    EXPECT_EQ(rd(Reg::kQueueReady), 0U);
    ASSERT_EQ(negotiate(kFeatureVersion1), kAck | kDriver | kFeaturesOk);
    setup_queue(0, 16, 0x3000);
    wr(Reg::kQueueNum, 32); // the queue is ready
    wr(Reg::kQueueDescLow, 0x5000);
    wr(Reg::kQueueDeviceHigh, 1);
    EXPECT_EQ(counters().ignored_writes, 6U);
    wr(Reg::kQueueReady, 0); // un-ready before DRIVER_OK: allowed, and writable again
    wr(Reg::kQueueNum, 32);
    EXPECT_EQ(transport_->state().queues[0].size, 32U);
    wr(Reg::kQueueReady, 1);
    Activation seen;
    expect_activation(seen);
    add_status(kDriverOk);
    wr(Reg::kQueueSel, 1); // not ready, but DRIVER_OK is set
    wr(Reg::kQueueNum, 8);
    wr(Reg::kQueueDriverLow, 0x7000);
    wr(Reg::kQueueReady, 1);
    wr(Reg::kQueueSel, 0);
    wr(Reg::kQueueReady, 0); // no queue reset without VIRTIO_F_RING_RESET
    EXPECT_EQ(counters().ignored_writes, 10U);
    const MmioTransportState state = transport_->state();
    EXPECT_EQ(state.queues[0].size, 32U);
    EXPECT_EQ(state.queues[0].desc, 0x3000U);
    EXPECT_TRUE(state.queues[0].ready);
    EXPECT_EQ(state.queues[1].size, 128U);
    EXPECT_EQ(state.queues[1].avail, 0U);
    EXPECT_FALSE(state.queues[1].ready);
}

TEST_F(MmioTransportTest, QueueSelBeyondTheQueues) {
    ASSERT_EQ(negotiate(kFeatureVersion1), kAck | kDriver | kFeaturesOk);
    wr(Reg::kQueueSel, 2);
    EXPECT_EQ(rd(Reg::kQueueNumMax), 0U);
    EXPECT_EQ(rd(Reg::kQueueReady), 0U);
    EXPECT_EQ(counters().ignored_writes, 0U); // selecting and probing is legal
    wr(Reg::kQueueNum, 16);
    wr(Reg::kQueueDescLow, 0x1000);
    wr(Reg::kQueueReady, 1);
    wr(Reg::kQueueSel, 0xffff'ffff);
    wr(Reg::kQueueDeviceHigh, 0x1);
    EXPECT_EQ(counters().ignored_writes, 4U);
    EXPECT_EQ(transport_->state().queue_sel, 0xffff'ffffU);
}

TEST_F(MmioTransportTest, QueueReadyTakesZeroOrOne) {
    ASSERT_EQ(negotiate(kFeatureVersion1), kAck | kDriver | kFeaturesOk);
    wr(Reg::kQueueReady, 2);
    EXPECT_EQ(rd(Reg::kQueueReady), 0U);
    EXPECT_EQ(counters().ignored_writes, 1U);
    wr(Reg::kQueueReady, 0); // already 0: not counted
    EXPECT_EQ(counters().ignored_writes, 1U);
    // Linux's vm_del_vq writes 0 to each queue after resetting the device: not a fault.
    wr(Reg::kStatus, 0);
    wr(Reg::kQueueSel, 1);
    wr(Reg::kQueueReady, 0);
    EXPECT_EQ(counters().ignored_writes, 1U);
}

TEST_F(MmioTransportTest, ActivatesExactlyOnceOnDriverOk) {
    Activation seen;
    bring_up(seen);
    EXPECT_EQ(seen.features, kOffered);
    ASSERT_EQ(seen.queues.size(), 2U);
    EXPECT_EQ(seen.queues[1].size, 64U);
    add_status(kDriverOk); // again: no second activation (gmock checks WillOnce)
    wr(Reg::kStatus, kAck | kDriver | kFeaturesOk | kDriverOk);
    EXPECT_EQ(counters().activations, 1U);
    EXPECT_TRUE(transport_->state().activated);
}

TEST_F(MmioTransportTest, ActivationFailureSetsNeedsReset) {
    Activation seen;
    expect_activation(seen, make_error(Errc::kInvalidInput, "queue 0: descriptor table outside "
                                                            "guest memory"));
    ASSERT_EQ(negotiate(kFeatureVersion1), kAck | kDriver | kFeaturesOk);
    add_status(kDriverOk);
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver | kFeaturesOk | kDriverOk | kNeedsReset);
    EXPECT_EQ(rd(Reg::kInterruptStatus), kInterruptConfigChange); // 2.1.2: config notification
    EXPECT_EQ(irq_.count.load(), 1);
    EXPECT_EQ(counters().activation_failures, 1U);
    EXPECT_FALSE(transport_->state().activated);
    // The driver echoing NEEDS_RESET in a read-modify-write, plus FAILED, is accepted.
    add_status(kFailed);
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver | kFeaturesOk | kDriverOk | kNeedsReset | kFailed);
    // A reset clears it, and the device can be activated again.
    Activation again;
    expect_activation(again);
    ASSERT_EQ(negotiate(kFeatureVersion1), kAck | kDriver | kFeaturesOk);
    add_status(kDriverOk);
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver | kFeaturesOk | kDriverOk);
    EXPECT_EQ(counters().activations, 1U);
}

TEST_F(MmioTransportTest, ResetByWritingZeroClearsEverything) {
    Activation seen;
    bring_up(seen);
    seen.interrupt->signal_used_queue();
    wr(Reg::kQueueSel, 1);
    wr(Reg::kDeviceFeaturesSel, 1);
    wr(Reg::kShmSel, 3);
    EXPECT_CALL(device_, reset()).WillOnce(Return(true));
    wr(Reg::kStatus, 0);
    ::testing::Mock::VerifyAndClearExpectations(&device_);
    EXPECT_EQ(rd(Reg::kStatus), 0U);
    EXPECT_EQ(rd(Reg::kInterruptStatus), 0U);
    const MmioTransportState state = transport_->state();
    EXPECT_EQ(state.driver_features, 0U);
    EXPECT_EQ(state.queue_sel, 0U);
    EXPECT_EQ(state.device_features_sel, 0U);
    EXPECT_EQ(state.shm_sel, 0U);
    EXPECT_FALSE(state.activated);
    ASSERT_EQ(state.queues.size(), 2U);
    for (const QueueConfig& q : state.queues) {
        EXPECT_FALSE(q.ready);
        EXPECT_EQ(q.size, q.max_size);
        EXPECT_EQ(q.desc + q.avail + q.used, 0U);
    }
    EXPECT_EQ(state.queues[1].max_size, 128U);
    EXPECT_EQ(counters().resets, 2U); // negotiate() reset once too
    // Initialised again, the device is activated again.
    Activation second;
    bring_up(second);
    EXPECT_EQ(counters().activations, 2U);
}

TEST_F(MmioTransportTest, FailedDeviceResetSetsNeedsReset) {
    EXPECT_CALL(device_, reset()).WillOnce(Return(false)).WillRepeatedly(Return(true));
    wr(Reg::kStatus, 0);
    EXPECT_EQ(rd(Reg::kStatus), kNeedsReset);
    EXPECT_EQ(rd(Reg::kInterruptStatus), 0U); // DRIVER_OK is clear: no notification
    EXPECT_EQ(counters().reset_failures, 1U);
    // Until a reset succeeds, DRIVER_OK activates nothing.
    EXPECT_CALL(device_, activate(_)).Times(0);
    add_status(kAck);
    add_status(kDriver);
    write_driver_features(kFeatureVersion1);
    add_status(kFeaturesOk);
    add_status(kDriverOk);
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver | kFeaturesOk | kDriverOk | kNeedsReset);
    wr(Reg::kStatus, 0);
    EXPECT_EQ(rd(Reg::kStatus), 0U);
}

TEST_F(MmioTransportTest, InterruptStatusAndAck) {
    Activation seen;
    bring_up(seen);
    ASSERT_NE(seen.interrupt, nullptr);
    seen.interrupt->signal_used_queue();
    EXPECT_EQ(rd(Reg::kInterruptStatus), kInterruptUsedBuffer);
    EXPECT_EQ(irq_.count.load(), 1);
    seen.interrupt->signal_config_change();
    EXPECT_EQ(rd(Reg::kInterruptStatus), kInterruptUsedBuffer | kInterruptConfigChange);
    EXPECT_EQ(irq_.count.load(), 2);
    wr(Reg::kInterruptAck, kInterruptUsedBuffer);
    EXPECT_EQ(rd(Reg::kInterruptStatus), kInterruptConfigChange);
    wr(Reg::kInterruptAck, 0xffff'fffc); // no such bits: nothing changes
    EXPECT_EQ(rd(Reg::kInterruptStatus), kInterruptConfigChange);
    wr(Reg::kInterruptAck, kInterruptConfigChange);
    EXPECT_EQ(rd(Reg::kInterruptStatus), 0U);
    EXPECT_EQ(seen.interrupt->signals(), 2U);
    EXPECT_EQ(rd(Reg::kStatus) & kNeedsReset, 0U);
}

TEST_F(MmioTransportTest, DeviceReportsItselfBroken) {
    Activation seen;
    bring_up(seen);
    seen.interrupt->report_broken();
    EXPECT_EQ(rd(Reg::kStatus), kAck | kDriver | kFeaturesOk | kDriverOk | kNeedsReset);
    EXPECT_EQ(rd(Reg::kInterruptStatus), kInterruptConfigChange);
    EXPECT_EQ(irq_.count.load(), 1);
    wr(Reg::kStatus, 0);
    EXPECT_EQ(rd(Reg::kStatus), 0U);
}

TEST_F(MmioTransportTest, InterruptsFromAnotherThread) {
    Activation seen;
    bring_up(seen);
    constexpr int kSignals = 10000;
    std::thread vmm([&] {
        for (int i = 0; i < kSignals; ++i)
            seen.interrupt->signal_used_queue();
    });
    // A vCPU thread acknowledging at the same time, as a guest's handler does.
    while (irq_.count.load() < kSignals) {
        if ((rd(Reg::kInterruptStatus) & kInterruptUsedBuffer) != 0)
            wr(Reg::kInterruptAck, kInterruptUsedBuffer);
    }
    vmm.join();
    EXPECT_EQ(irq_.count.load(), kSignals);
    EXPECT_EQ(seen.interrupt->signals(), uint64_t{kSignals});
    EXPECT_EQ(rd(Reg::kInterruptStatus) & ~kInterruptUsedBuffer, 0U);
    seen.interrupt->signal_used_queue(); // the bit is set again after the last ack
    EXPECT_EQ(rd(Reg::kInterruptStatus), kInterruptUsedBuffer);
}

TEST_F(MmioTransportTest, ConfigSpaceReadsAtEveryWidth) {
    EXPECT_EQ(config_read(0, 1), 0x10U);
    EXPECT_EQ(config_read(3, 1), 0x13U);
    EXPECT_EQ(config_read(2, 2), 0x1312U);
    EXPECT_EQ(config_read(4, 4), 0x17161514U);
    EXPECT_EQ(config_read(8, 8), 0x1f1e1d1c1b1a1918ULL);
    EXPECT_EQ(config_read(4, 8), 0x1b1a191817161514ULL); // a 64-bit field at a 4-byte offset
    EXPECT_EQ(config_read(12, 8), 0x1f1e1d1cULL);        // past the device's 16 bytes: zero
    EXPECT_EQ(config_read(0x100, 4), 0U);
    EXPECT_EQ(counters().bad_accesses, 0U);
    // Misaligned or odd-sized: ignored, reads as zero.
    EXPECT_EQ(config_read(1, 2), 0U);
    EXPECT_EQ(config_read(2, 4), 0U);
    EXPECT_EQ(config_read(2, 8), 0U);
    EXPECT_EQ(config_read(0, 3), 0U);
    EXPECT_EQ(config_read(mmio::kConfigSize - 4, 8), 0U); // crosses the end of the window
    EXPECT_EQ(counters().bad_accesses, 5U);
}

TEST_F(MmioTransportTest, ConfigSpaceWritesAtEveryWidth) {
    config_write(0, 1, 0xa0);
    config_write(2, 2, 0xb2b1);
    config_write(4, 4, 0xc4c3c2c1);
    config_write(8, 8, 0xd8d7d6d5d4d3d2d1ULL);
    EXPECT_EQ(device_.config_writes, 4);
    EXPECT_EQ(config_read(0, 8), 0xc4c3c2c1b2b111a0ULL);
    EXPECT_EQ(config_read(8, 8), 0xd8d7d6d5d4d3d2d1ULL);
    config_write(1, 2, 0xffff); // misaligned
    config_write(0, 5, 0xffff); // odd size
    config_write(mmio::kConfigSize - 2, 4, 0xffff);
    EXPECT_EQ(device_.config_writes, 4);
    EXPECT_EQ(counters().bad_accesses, 3U);
    EXPECT_EQ(config_read(0, 4), 0xb2b111a0U);
}

TEST_F(MmioTransportTest, ConfigGenerationFollowsTheDevice) {
    EXPECT_EQ(rd(Reg::kConfigGeneration), 0U);
    device_.generation = 1;
    device_.config[0] = std::byte{0x99};
    EXPECT_EQ(rd(Reg::kConfigGeneration), 1U);
    EXPECT_EQ(config_read(0, 1), 0x99U);
    device_.generation = 0xffff'ffff;
    EXPECT_EQ(rd(Reg::kConfigGeneration), 0xffff'ffffU);
}

TEST_F(MmioTransportTest, QueueNotifySignalsThatQueuesEventFd) {
    const std::span<const EventFd> events = transport_->queue_events();
    ASSERT_EQ(events.size(), 2U);
    wr(Reg::kQueueNotify, 1);
    wr(Reg::kQueueNotify, 1);
    EXPECT_EQ(events[1].consume(), 2U);
    EXPECT_EQ(events[0].consume(), 0U);
    wr(Reg::kQueueNotify, 0);
    EXPECT_EQ(events[0].consume(), 1U);
    EXPECT_EQ(events[1].consume(), 0U);
    wr(Reg::kQueueNotify, 2); // no such queue
    wr(Reg::kQueueNotify, 0x0001'0000);
    EXPECT_EQ(events[0].consume() + events[1].consume(), 0U);
    EXPECT_EQ(counters().notifies, 3U);
    EXPECT_EQ(counters().ignored_writes, 2U);
}

TEST_F(MmioTransportTest, ShmRegistersReportNoRegion) {
    wr(Reg::kShmSel, 0);
    EXPECT_EQ(rd(Reg::kShmLenLow), 0xffff'ffffU);
    EXPECT_EQ(rd(Reg::kShmLenHigh), 0xffff'ffffU);
    EXPECT_EQ(rd(Reg::kShmBaseLow), 0xffff'ffffU);
    EXPECT_EQ(rd(Reg::kShmBaseHigh), 0xffff'ffffU);
    wr(Reg::kShmSel, 7);
    EXPECT_EQ(transport_->state().shm_sel, 7U);
    EXPECT_EQ(counters().bad_registers, 0U);
}

TEST_F(MmioTransportTest, EveryRegisterHonoursItsAccessColumn) {
    uint64_t expected_bad = 0;
    for (const mmio::RegisterInfo& info : mmio::kRegisters) {
        const uint64_t offset = off(info.reg);
        const uint32_t value = rd_at(offset);
        if (!mmio::readable(info.access)) {
            EXPECT_EQ(value, 0U) << info.name;
            ++expected_bad;
        }
        EXPECT_EQ(counters().bad_registers, expected_bad) << info.name;
    }
    // Writes to read-only registers change nothing.
    for (const mmio::RegisterInfo& info : mmio::kRegisters) {
        if (mmio::writable(info.access)) continue;
        wr_at(off(info.reg), 0x5a5a'5a5a);
        ++expected_bad;
        EXPECT_EQ(counters().bad_registers, expected_bad) << info.name;
    }
    EXPECT_EQ(rd(Reg::kMagicValue), mmio::kMagic);
    EXPECT_EQ(rd(Reg::kInterruptStatus), 0U);
    EXPECT_EQ(rd(Reg::kShmLenLow), 0xffff'ffffU);
    EXPECT_EQ(expected_bad, 26U); // 14 write-only registers read, 12 read-only ones written
}

TEST_F(MmioTransportTest, BadRegisterAccessesAreIgnoredAndCounted) {
    add_status(kAck);
    struct Access {
        uint64_t offset;
        size_t size;
    };
    // Wrong widths, misaligned, 64-bit, and past the window (the bus should never send those).
    const std::array bad{Access{0x000, 1}, Access{0x002, 2}, Access{0x001, 4}, Access{0x000, 8},
                         Access{0x070, 2}, Access{0x071, 1}, Access{0x0fe, 2}};
    for (const Access& a : bad) {
        std::array<std::byte, 8> buf{};
        buf.fill(std::byte{0xee});
        transport_->read(a.offset, std::span(buf).first(a.size));
        for (size_t i = 0; i < a.size; ++i)
            EXPECT_EQ(buf[i], std::byte{0}) << a.offset << "/" << a.size;
        buf.fill(std::byte{0});
        transport_->write(a.offset, std::span(buf).first(a.size)); // would reset at 0x70
    }
    EXPECT_EQ(counters().bad_accesses, 2 * bad.size());
    EXPECT_EQ(rd(Reg::kStatus), kAck);
    // Offsets that are no register: legacy ones, QueueReset, gaps.
    for (const uint64_t offset : {0x028U, 0x03cU, 0x040U, 0x0c0U, 0x0f8U, 0x018U}) {
        EXPECT_EQ(rd_at(offset), 0U);
        wr_at(offset, 0);
    }
    EXPECT_EQ(counters().bad_registers, 12U);
    EXPECT_EQ(rd(Reg::kStatus), kAck);
    EXPECT_EQ(counters().ignored_writes, 0U);
}

TEST_F(MmioTransportTest, CreateRejectsBadQueueSizes) {
    for (const uint16_t bad : {uint16_t{0}, uint16_t{100}, uint16_t{0xffff}}) {
        NiceMock<FakeDevice> device;
        device.max_sizes = {256, bad};
        auto t = MmioTransport::create(device, memory_, irq_);
        ASSERT_FALSE(t) << bad;
        EXPECT_EQ(t.error().code(), Errc::kInternal);
        EXPECT_THAT(t.error().message(), ::testing::HasSubstr("queue 1"));
    }
    NiceMock<FakeDevice> device;
    device.max_sizes = {32768, 1};
    EXPECT_TRUE(MmioTransport::create(device, memory_, irq_));
}

TEST_F(MmioTransportTest, StateSurvivesSaveAndRestore) {
    Activation seen;
    bring_up(seen);
    seen.interrupt->signal_used_queue();
    wr(Reg::kQueueSel, 1);
    const MmioTransportState saved = transport_->state();
    EXPECT_EQ(saved.interrupt_status, kInterruptUsedBuffer);
    EXPECT_TRUE(saved.activated);

    NiceMock<FakeDevice> device;
    CountingIrq irq;
    auto restored = MmioTransport::create(device, memory_, irq);
    ASSERT_TRUE(restored);
    EXPECT_CALL(device, activate(_)).Times(0); // restoring activates nothing
    ASSERT_TRUE((*restored)->restore(saved));
    const MmioTransportState now = (*restored)->state();
    EXPECT_EQ(now.status, saved.status);
    EXPECT_EQ(now.driver_features, kOffered);
    EXPECT_EQ(now.queue_sel, 1U);
    EXPECT_EQ(now.interrupt_status, kInterruptUsedBuffer);
    ASSERT_EQ(now.queues.size(), 2U);
    EXPECT_EQ(now.queues[1].size, 64U);
    EXPECT_EQ(now.queues[1].used, 0x22000U);
    EXPECT_EQ(irq.count.load(), 0);

    MmioTransportState bad = saved;
    bad.queues.pop_back();
    EXPECT_FALSE((*restored)->restore(bad));
    bad = saved;
    bad.queues[0].size = 3;
    EXPECT_FALSE((*restored)->restore(bad));
    bad = saved;
    bad.status = kDriverOk;
    EXPECT_FALSE((*restored)->restore(bad));
}

} // namespace
} // namespace ember::virtio
