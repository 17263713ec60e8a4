// NetDevice driven by hand: two rings in test memory and a SOCK_SEQPACKET socket pair in place of
// the tap (one datagram per frame, header first, as a tap with IFF_VNET_HDR).
#include "virtio/net/net_device.hpp"

#include "tests/unit/virtio/split_ring.hpp"
#include "tests/unit/virtio/virtqueue_builder.hpp"

#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

namespace ember::virtio::net {
namespace {

class CountingIrq final : public IrqLine {
public:
    void trigger() override { count.fetch_add(1); }
    std::atomic<int> count{0};
};

using Ring = SplitRing;

std::vector<uint8_t> frame(size_t len, uint8_t seed) {
    std::vector<uint8_t> f(len);
    for (size_t i = 0; i < len; ++i)
        f[i] = static_cast<uint8_t>(seed + i * 7);
    return f;
}

// A header (all zero but num_buffers) and `payload`, as a tap hands them over.
std::vector<uint8_t> with_header(const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> out(kVnetHeaderSize + payload.size(), 0);
    std::copy(payload.begin(), payload.end(), out.begin() + kVnetHeaderSize);
    return out;
}

constexpr uint64_t kRingFeatures = kFeatureVersion1 | feature_bit(VIRTIO_RING_F_EVENT_IDX);

class NetDeviceTest : public ::testing::Test {
protected:
    void SetUp() override {
        int fds[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
        tap_fd_ = fds[0];
        host_ = UniqueFd(fds[1]);
        for (int i = 0; i < 2; ++i) {
            auto e = EventFd::create();
            ASSERT_TRUE(e);
            events_.push_back(std::move(*e));
        }
    }
    void TearDown() override {
        if (device) device->detach();
    }
    void create(NetOptions options = {.name = "test-net", .queue_size = 16}) {
        auto dev = NetDevice::create(Tap::from_fd(UniqueFd(tap_fd_), "fake0"), options, clock);
        ASSERT_TRUE(dev) << dev.error().message();
        device = std::move(*dev);
        ASSERT_TRUE(device->attach(*loop, events_));
    }
    void activate(uint64_t features = kRingFeatures) {
        const std::array<QueueConfig, 2> configs{rx.config(), tx.config()};
        ASSERT_TRUE(device->activate(ActivationContext{.memory = memory,
                                                       .features = features,
                                                       .queues = configs,
                                                       .queue_events = events_,
                                                       .interrupt = interrupt}));
        settle();
    }
    // Runs whatever the event loop has ready (kicks, the tap, timers) until nothing is.
    void settle() {
        for (int i = 0; i < 100; ++i)
            if (loop->run_once(0).value_or(0) == 0) return;
    }
    void host_send(const std::vector<uint8_t>& data) {
        ASSERT_EQ(::send(host_.get(), data.data(), data.size(), 0),
                  static_cast<ssize_t>(data.size()));
    }
    // The next frame the device wrote to the tap; empty if none.
    std::vector<uint8_t> host_recv() {
        std::vector<uint8_t> buf(70000);
        const ssize_t n = ::recv(host_.get(), buf.data(), buf.size(), 0);
        buf.resize(n < 0 ? 0 : static_cast<size_t>(n));
        return buf;
    }
    void tx_kick() {
        events_[NetDevice::kTxQueue].signal();
        settle();
    }
    void rx_kick() {
        events_[NetDevice::kRxQueue].signal();
        settle();
    }

    ManualClock clock{1'000'000'000};
    GuestMemory memory = make_guest_memory(4 * layout::kMiB);
    Ring rx{memory, 0x100000, 16};
    Ring tx{memory, 0x200000, 16};
    std::optional<EventLoop> loop = EventLoop::create().value();
    std::vector<EventFd> events_;
    int tap_fd_ = -1;
    UniqueFd host_;
    CountingIrq irq;
    VirtioInterrupt interrupt{irq};
    std::unique_ptr<NetDevice> device;
};

TEST_F(NetDeviceTest, IdentityFeaturesAndConfigSpace) {
    create({.name = "n", .queue_size = 16, .mac = MacAddress{6, 0, 0xac, 0x10, 0, 2}, .mtu = 1400});
    EXPECT_EQ(device->device_type(), uint32_t{VIRTIO_ID_NET});
    const uint64_t f = device->available_features();
    for (unsigned bit : std::initializer_list<unsigned>{
             VIRTIO_NET_F_MAC, VIRTIO_NET_F_MTU, VIRTIO_NET_F_STATUS, VIRTIO_NET_F_MRG_RXBUF,
             VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_HOST_TSO4,
             VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_HOST_UFO, VIRTIO_RING_F_EVENT_IDX})
        EXPECT_NE(f & feature_bit(bit), 0U) << "bit " << bit;
    EXPECT_EQ(f & feature_bit(VIRTIO_NET_F_CTRL_VQ), 0U);
    std::array<std::byte, 12> cfg{};
    device->read_config(0, cfg);
    EXPECT_EQ(std::to_integer<int>(cfg[0]), 6);
    EXPECT_EQ(std::to_integer<int>(cfg[2]), 0xac);
    EXPECT_EQ(std::to_integer<int>(cfg[5]), 2);
    EXPECT_EQ(std::to_integer<int>(cfg[6]), VIRTIO_NET_S_LINK_UP);                       // status
    EXPECT_EQ(std::to_integer<int>(cfg[10]) | std::to_integer<int>(cfg[11]) << 8, 1400); // mtu
    ASSERT_EQ(device->queue_max_sizes().size(), 2U);
}

TEST_F(NetDeviceTest, WithoutMacOrMtuNeitherIsOffered) {
    create();
    EXPECT_EQ(device->available_features() &
                  (feature_bit(VIRTIO_NET_F_MAC) | feature_bit(VIRTIO_NET_F_MTU)),
              0U);
}

TEST_F(NetDeviceTest, OffloadsTheGuestTakesGoToTheTap) {
    create();
    activate(kRingFeatures | feature_bit(VIRTIO_NET_F_GUEST_CSUM) |
             feature_bit(VIRTIO_NET_F_GUEST_TSO4));
    EXPECT_EQ(device->tap().offload(), unsigned{TUN_F_CSUM | TUN_F_TSO4});
    EXPECT_TRUE(device->reset());
    activate();
    EXPECT_EQ(device->tap().offload(), 0U);
}

TEST_F(NetDeviceTest, TransmitsFramesWithTheirHeader) {
    create();
    activate();
    const auto payload = frame(60, 1);
    // Header and frame in separate buffers, then together, then the header split in two.
    const uint16_t a = tx.add_chain({{12, false}, {60, false}});
    tx.fill(static_cast<uint16_t>(a + 1), payload);
    const uint16_t b = tx.add_chain({{72, false}});
    tx.fill(b, with_header(payload));
    const uint16_t c = tx.add_chain({{5, false}, {7, false}, {60, false}});
    tx.fill(static_cast<uint16_t>(c + 2), payload);
    tx.publish(a);
    tx.publish(b);
    tx.publish(c);
    tx_kick();
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(host_recv(), with_header(payload)) << "frame " << i;
    EXPECT_TRUE(host_recv().empty());
    ASSERT_EQ(tx.used_idx(), 3);
    EXPECT_EQ(tx.used(0).id, a);
    EXPECT_EQ(tx.used(0).len, 0U);
    const NetMetrics m = device->metrics();
    EXPECT_EQ(m.tx_frames, 3U);
    EXPECT_EQ(m.tx_bytes, 180U);
    EXPECT_EQ(m.tx_dropped, 0U);
    EXPECT_GE(irq.count.load(), 1);
}

TEST_F(NetDeviceTest, MalformedTransmitChainsAreDroppedAndCounted) {
    create();
    activate();
    const uint16_t writable = tx.add_chain({{12, false}, {60, true}});
    const uint16_t header_only = tx.add_chain({{12, false}});
    const uint16_t bad_gso = tx.add_chain({{72, false}});
    auto h = with_header(frame(60, 2));
    h[1] = 7; // gso_type
    tx.fill(bad_gso, h);
    const uint16_t csum = tx.add_chain({{72, false}});
    h = with_header(frame(60, 3));
    h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM; // without VIRTIO_NET_F_CSUM negotiated
    tx.fill(csum, h);
    const uint16_t good = tx.add_chain({{72, false}});
    tx.fill(good, with_header(frame(60, 4)));
    for (uint16_t head : {writable, header_only, bad_gso, csum, good})
        tx.publish(head);
    tx_kick();
    EXPECT_EQ(host_recv(), with_header(frame(60, 4))) << "only the good frame reaches the tap";
    EXPECT_TRUE(host_recv().empty());
    EXPECT_EQ(tx.used_idx(), 5) << "every chain is returned";
    const NetMetrics m = device->metrics();
    EXPECT_EQ(m.tx_dropped, 4U);
    EXPECT_EQ(m.tx_frames, 1U);
    EXPECT_FALSE(interrupt.needs_reset());
}

TEST_F(NetDeviceTest, ReceivesAFrameIntoOneChain) {
    create();
    activate();
    const uint16_t a = rx.add_chain({{1526, true}});
    rx.publish(a);
    rx_kick();
    const auto payload = frame(100, 5);
    host_send(with_header(payload));
    settle();
    ASSERT_EQ(rx.used_idx(), 1);
    EXPECT_EQ(rx.used(0).id, a);
    EXPECT_EQ(rx.used(0).len, 112U);
    const auto got = rx.bytes(a);
    EXPECT_EQ(got[10], 1) << "num_buffers is 1 without MRG_RXBUF";
    EXPECT_EQ(std::vector<uint8_t>(got.begin() + 12, got.begin() + 112), payload);
    EXPECT_EQ(device->metrics().rx_frames, 1U);
    EXPECT_EQ(device->metrics().rx_bytes, 100U);
    EXPECT_TRUE(device->watching_tap());
}

TEST_F(NetDeviceTest, WithoutBuffersTheTapIsNotWatchedAndNoFrameIsLost) {
    create();
    activate();
    EXPECT_TRUE(device->watching_tap());
    host_send(with_header(frame(80, 6)));
    host_send(with_header(frame(90, 7)));
    settle();
    EXPECT_FALSE(device->watching_tap()) << "no rx buffers: the tap must not be watched";
    EXPECT_EQ(device->metrics().rx_waits, 1U);
    EXPECT_EQ(device->metrics().rx_frames, 0U);
    EXPECT_EQ(rx.used_idx(), 0);
    // The driver posts one buffer: the held frame goes; the next waits again.
    rx.publish(rx.add_chain({{1526, true}}));
    rx_kick();
    EXPECT_EQ(rx.used_idx(), 1);
    EXPECT_EQ(rx.used(0).len, 92U);
    EXPECT_FALSE(device->watching_tap());
    rx.publish(rx.add_chain({{1526, true}}));
    rx_kick();
    EXPECT_EQ(rx.used_idx(), 2);
    EXPECT_EQ(rx.used(1).len, 102U);
    EXPECT_TRUE(device->watching_tap()) << "the tap is drained: watched again";
    EXPECT_EQ(device->metrics().rx_frames, 2U);
    EXPECT_EQ(device->metrics().rx_dropped, 0U);
}

TEST_F(NetDeviceTest, AFrameHeldAtResetIsDroppedAndCounted) {
    create();
    activate();
    host_send(with_header(frame(80, 6)));
    settle();
    EXPECT_EQ(device->metrics().rx_waits, 1U);
    EXPECT_TRUE(device->reset());
    EXPECT_EQ(device->metrics().rx_dropped, 1U);
    activate();
    rx.publish(rx.add_chain({{1526, true}}));
    rx_kick();
    EXPECT_EQ(rx.used_idx(), 0) << "the old frame must not reach the new driver";
    host_send(with_header(frame(40, 7)));
    settle();
    ASSERT_EQ(rx.used_idx(), 1);
    EXPECT_EQ(rx.used(0).len, 52U);
    EXPECT_EQ(device->metrics().rx_frames, 1U);
}

TEST_F(NetDeviceTest, MergeableBuffersSpreadAFrame) {
    create();
    activate(kRingFeatures | feature_bit(VIRTIO_NET_F_MRG_RXBUF));
    const uint16_t a = rx.add_chain({{512, true}});
    const uint16_t b = rx.add_chain({{512, true}});
    const uint16_t c = rx.add_chain({{512, true}});
    for (uint16_t h : {a, b, c})
        rx.publish(h);
    rx_kick();
    const auto big = frame(1000, 8);
    host_send(with_header(big));
    settle();
    ASSERT_EQ(rx.used_idx(), 2);
    EXPECT_EQ(rx.used(0).id, a);
    EXPECT_EQ(rx.used(0).len, 512U);
    EXPECT_EQ(rx.used(1).id, b);
    EXPECT_EQ(rx.used(1).len, 500U);
    const auto first = rx.bytes(a);
    EXPECT_EQ(first[10] | first[11] << 8, 2) << "num_buffers";
    const auto second = rx.bytes(b);
    EXPECT_EQ(std::vector<uint8_t>(first.begin() + 12, first.end()),
              std::vector<uint8_t>(big.begin(), big.begin() + 500));
    EXPECT_EQ(std::vector<uint8_t>(second.begin(), second.begin() + 500),
              std::vector<uint8_t>(big.begin() + 500, big.end()));
    // The third chain serves the next frame.
    host_send(with_header(frame(20, 9)));
    settle();
    ASSERT_EQ(rx.used_idx(), 3);
    EXPECT_EQ(rx.used(2).id, c);
    EXPECT_EQ(rx.used(2).len, 32U);
    EXPECT_EQ(rx.bytes(c)[10], 1);
}

TEST_F(NetDeviceTest, AFrameTooBigForTheBuffersIsDroppedAndCounted) {
    create();
    activate();
    rx.publish(rx.add_chain({{100, true}}));
    rx_kick();
    host_send(with_header(frame(200, 10)));
    host_send(with_header(frame(50, 11)));
    settle();
    EXPECT_EQ(device->metrics().rx_dropped, 1U);
    ASSERT_EQ(rx.used_idx(), 1) << "the chain is kept for the frame that fits";
    EXPECT_EQ(rx.used(0).len, 62U);
    EXPECT_EQ(device->metrics().rx_frames, 1U);
}

TEST_F(NetDeviceTest, ReadableReceiveBuffersAreReturnedUnused) {
    create();
    activate();
    const uint16_t bad = rx.add_chain({{64, false}, {1500, true}});
    const uint16_t good = rx.add_chain({{1526, true}});
    rx.publish(bad);
    rx.publish(good);
    rx_kick();
    host_send(with_header(frame(40, 12)));
    settle();
    ASSERT_EQ(rx.used_idx(), 2);
    EXPECT_EQ(rx.used(0).id, bad);
    EXPECT_EQ(rx.used(0).len, 0U);
    EXPECT_EQ(rx.used(1).id, good);
    EXPECT_EQ(rx.used(1).len, 52U);
    EXPECT_EQ(device->metrics().rx_bad_buffers, 1U);
}

TEST_F(NetDeviceTest, BadDescriptorBreaksOnlyTheDevice) {
    create();
    activate();
    tx.set_desc(0, {0xffff'ffff'0000ULL, 72, 0, 0});
    tx.publish(0);
    tx_kick();
    EXPECT_TRUE(interrupt.needs_reset());
    EXPECT_EQ(device->metrics().broken, 1U);
    EXPECT_TRUE(host_recv().empty());
    // Receiving stops too, until a reset.
    host_send(with_header(frame(40, 13)));
    rx.publish(rx.add_chain({{1526, true}}));
    rx_kick();
    EXPECT_EQ(rx.used_idx(), 0);
    EXPECT_FALSE(device->watching_tap());
}

// Waits (no timing assertion) for the limiter's real timerfd to fire and the device to resume.
bool wait_until(EventLoop& loop, const std::function<bool()>& done) {
    for (int i = 0; i < 200 && !done(); ++i)
        (void)loop.run_once(50);
    return done();
}

TEST_F(NetDeviceTest, TransmitRateLimiterHoldsFramesUntilItsTimer) {
    create({.name = "limited",
            .queue_size = 16,
            .tx_rate_limiter = {.bandwidth = {},
                                .ops = {.size = 1, .one_time_burst = 0, .refill_time_ms = 5}}});
    activate();
    for (uint8_t i = 0; i < 2; ++i) {
        const uint16_t h = tx.add_chain({{72, false}});
        tx.fill(h, with_header(frame(60, i)));
        tx.publish(h);
    }
    tx_kick();
    EXPECT_EQ(host_recv(), with_header(frame(60, 0)));
    EXPECT_TRUE(host_recv().empty());
    EXPECT_EQ(device->metrics().tx_throttled, 1U);
    EXPECT_EQ(tx.used_idx(), 1);
    clock.advance_ms(5);
    EXPECT_TRUE(wait_until(*loop, [&] { return tx.used_idx() == 2; }));
    EXPECT_EQ(host_recv(), with_header(frame(60, 1)));
}

TEST_F(NetDeviceTest, ReceiveRateLimiterPausesTheTap) {
    create({.name = "limited",
            .queue_size = 16,
            .rx_rate_limiter = {.bandwidth = {},
                                .ops = {.size = 1, .one_time_burst = 0, .refill_time_ms = 5}}});
    activate();
    rx.publish(rx.add_chain({{1526, true}}));
    rx.publish(rx.add_chain({{1526, true}}));
    rx_kick();
    host_send(with_header(frame(30, 1)));
    host_send(with_header(frame(30, 2)));
    settle();
    EXPECT_EQ(rx.used_idx(), 1);
    EXPECT_EQ(device->metrics().rx_throttled, 1U);
    EXPECT_FALSE(device->watching_tap());
    clock.advance_ms(5);
    EXPECT_TRUE(wait_until(*loop, [&] { return rx.used_idx() == 2; }));
    EXPECT_TRUE(device->watching_tap());
}

TEST(NetTap, MissingTapSaysHowToCreateIt) {
    auto tap = Tap::open("ember-nx-tap0");
    ASSERT_FALSE(tap);
    EXPECT_EQ(tap.error().code(), Errc::kNotFound);
    EXPECT_NE(tap.error().message().find("tap 'ember-nx-tap0' does not exist"), std::string::npos)
        << tap.error().message();
    EXPECT_NE(tap.error().message().find("ip tuntap add dev ember-nx-tap0 mode tap"),
              std::string::npos);
    auto long_name = Tap::open("a-name-of-16-byte");
    ASSERT_FALSE(long_name);
    EXPECT_NE(long_name.error().message().find("1 to 15 bytes"), std::string::npos);
}

TEST(NetMac, ParsesAndFormats) {
    EXPECT_EQ(parse_mac("06:00:AC:10:00:02"), (MacAddress{6, 0, 0xac, 0x10, 0, 2}));
    EXPECT_EQ(format_mac(MacAddress{6, 0, 0xac, 0x10, 0, 2}), "06:00:ac:10:00:02");
    EXPECT_FALSE(parse_mac("06:00:ac:10:00").has_value());
    EXPECT_FALSE(parse_mac("06-00-ac-10-00-02").has_value());
    EXPECT_FALSE(parse_mac("06:00:ac:10:00:0g").has_value());
}

} // namespace
} // namespace ember::virtio::net
