// VsockDevice driven by hand: three rings in test memory play the guest's driver, real Unix
// sockets in a temporary folder play the host processes, and the device's event loop runs in
// the test thread (settle()).
#include "virtio/vsock/vsock_device.hpp"

#include "tests/unit/virtio/split_ring.hpp"

#include <gtest/gtest.h>
#include <linux/virtio_ids.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace ember::virtio::vsock {
namespace {

constexpr uint64_t kCid = 3;
constexpr uint32_t kGuestPort = 1000;
constexpr uint64_t kFeatures = kFeatureVersion1 | feature_bit(VIRTIO_RING_F_EVENT_IDX);

class CountingIrq final : public IrqLine {
public:
    void trigger() override { count.fetch_add(1); }
    std::atomic<int> count{0};
};

std::vector<std::byte> bytes(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data()); // Safety: a string's bytes
    return {p, p + s.size()};
}

// What the guest received: a header and its payload.
struct Packet {
    VsockHeader header{};
    std::string payload;
    [[nodiscard]] Op op() const { return static_cast<Op>(header.op); }
    [[nodiscard]] uint32_t src_port() const { return header.src_port; }
    [[nodiscard]] uint32_t dst_port() const { return header.dst_port; }
    [[nodiscard]] uint32_t len() const { return header.len; }
};

UniqueFd unix_connect(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(&addr.sun_path[0], path.c_str(), path.size() + 1);
    // Safety: sockaddr_un is a sockaddr by the socket API's contract.
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
        return UniqueFd();
    return fd;
}

UniqueFd unix_listen(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(&addr.sun_path[0], path.c_str(), path.size() + 1);
    // Safety: as above.
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd.get(), 8), 0);
    return fd;
}

void send_all(int fd, std::string_view s) {
    ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

// Whatever is readable now (non-blocking); "<eof>" when the peer closed.
std::string recv_now(int fd) {
    std::string out;
    std::array<char, 4096> buf{};
    for (;;) {
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n == 0) return out + "<eof>";
        if (n < 0) return out;
        out.append(buf.data(), static_cast<size_t>(n));
    }
}

class VsockDeviceTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/ember-vsock-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        uds_ = dir_ + "/v.sock";
        for (int i = 0; i < 3; ++i) {
            auto e = EventFd::create();
            ASSERT_TRUE(e);
            events_.push_back(std::move(*e));
        }
    }
    void TearDown() override {
        if (device) device->detach();
        device.reset();
        std::filesystem::remove_all(dir_);
    }
    void create(VsockOptions options = {}) {
        options.uds_path = uds_;
        options.guest_cid = kCid;
        options.queue_size = 256;
        auto dev = VsockDevice::create(options, clock);
        ASSERT_TRUE(dev) << dev.error().message();
        device = std::move(*dev);
        ASSERT_TRUE(device->attach(*loop, events_));
    }
    void activate() {
        const std::array<QueueConfig, 3> configs{rx.config(), tx.config(), ev.config()};
        ASSERT_TRUE(device->activate(ActivationContext{.memory = memory,
                                                       .features = kFeatures,
                                                       .queues = configs,
                                                       .queue_events = events_,
                                                       .interrupt = interrupt}));
        settle();
    }
    void settle() {
        for (int i = 0; i < 200; ++i)
            if (loop->run_once(0).value_or(0) == 0) return;
        ADD_FAILURE() << "the event loop did not settle (a busy loop?)";
    }
    // Posts `n` receive buffers as Linux does: a header buffer and a 4 KiB one.
    void post_rx(int n, uint32_t data_len = 4096) {
        for (int i = 0; i < n; ++i) {
            const uint16_t head = rx.add_chain({{44, true}, {data_len, true}});
            rx_heads_.push_back(head);
            rx.publish(head);
        }
        events_[VsockDevice::kRxQueue].signal();
        settle();
    }
    VsockHeader header(Op op, uint32_t dst_port, uint32_t len = 0, uint32_t src_port = kGuestPort) {
        VsockHeader h{};
        h.src_cid = kCid;
        h.dst_cid = kHostCid;
        h.src_port = src_port;
        h.dst_port = dst_port;
        h.len = len;
        h.type = kTypeStream;
        h.op = static_cast<uint16_t>(op);
        h.buf_alloc = guest_buf_alloc;
        h.fwd_cnt = guest_fwd_cnt;
        return h;
    }
    // The guest transmits one packet (header and payload in two buffers, as Linux does).
    void guest_send(const VsockHeader& h, std::string_view payload = {}, bool kick = true) {
        const uint16_t head =
            payload.empty()
                ? tx.add_chain({{44, false}})
                : tx.add_chain({{44, false}, {static_cast<uint32_t>(payload.size()), false}});
        ASSERT_TRUE(memory.write(tx.desc(head).addr, std::as_bytes(std::span(&h, 1))));
        if (!payload.empty()) {
            ASSERT_TRUE(memory.write(tx.desc(static_cast<uint16_t>((head + 1) % 256)).addr,
                                     bytes(payload)));
        }
        tx.publish(head);
        if (kick) {
            events_[VsockDevice::kTxQueue].signal();
            settle();
        }
    }
    // The packets the device put on the receive ring since the last call.
    std::vector<Packet> received() {
        std::vector<Packet> out;
        for (; rx_seen_ != rx.used_idx(); ++rx_seen_) {
            const UsedElement u = rx.used(static_cast<uint16_t>(rx_seen_ % 256));
            const auto head = static_cast<uint16_t>(u.id);
            Packet p;
            std::vector<uint8_t> h = rx.bytes(head);
            std::memcpy(&p.header, h.data(), sizeof(VsockHeader));
            EXPECT_EQ(u.len, 44 + p.len());
            std::vector<uint8_t> data = rx.bytes(static_cast<uint16_t>((head + 1) % 256));
            p.payload.assign(
                data.begin(),
                data.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(p.len(), data.size())));
            out.push_back(p);
        }
        return out;
    }
    // A guest-initiated stream to host port `port` (a listener at uds_<port>): accepted.
    UniqueFd open_guest_stream(uint32_t port, UniqueFd& listener) {
        listener = unix_listen(fmt::format("{}_{}", uds_, port));
        guest_send(header(Op::kRequest, port));
        auto got = received();
        EXPECT_EQ(got.size(), 1U);
        if (got.size() == 1) {
            EXPECT_EQ(got[0].op(), Op::kResponse);
        }
        return UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    }
    // A host-initiated stream to guest port `port`, answered by the guest: the host socket
    // (the OK line read) and the host port the device chose.
    UniqueFd open_host_stream(uint32_t port, uint32_t& host_port) {
        UniqueFd host = unix_connect(uds_);
        EXPECT_TRUE(host.valid());
        send_all(host.get(), fmt::format("CONNECT {}\n", port));
        settle();
        auto got = received();
        EXPECT_EQ(got.size(), 1U);
        if (got.size() != 1) return host;
        EXPECT_EQ(got[0].op(), Op::kRequest);
        EXPECT_EQ(got[0].dst_port(), port);
        host_port = got[0].src_port();
        guest_send(header(Op::kResponse, host_port, 0, port));
        EXPECT_EQ(recv_now(host.get()), fmt::format("OK {}\n", host_port));
        return host;
    }

    std::string dir_;
    std::string uds_;
    ManualClock clock{1'000'000'000};
    GuestMemory memory = make_guest_memory(4 * layout::kMiB);
    SplitRing rx{memory, 0x100000, 256};
    SplitRing tx{memory, 0x200000, 256};
    SplitRing ev{memory, 0x300000, 256};
    std::optional<EventLoop> loop = EventLoop::create().value();
    std::vector<EventFd> events_;
    CountingIrq irq;
    VirtioInterrupt interrupt{irq};
    std::unique_ptr<VsockDevice> device;
    std::vector<uint16_t> rx_heads_;
    uint16_t rx_seen_ = 0;
    uint32_t guest_buf_alloc = 64 * 1024;
    uint32_t guest_fwd_cnt = 0;
};

TEST_F(VsockDeviceTest, IdentityFeaturesAndConfigSpace) {
    create();
    EXPECT_EQ(device->device_type(), uint32_t{VIRTIO_ID_VSOCK});
    EXPECT_EQ(device->available_features(),
              feature_bit(VIRTIO_RING_F_EVENT_IDX) | feature_bit(VIRTIO_RING_F_INDIRECT_DESC));
    EXPECT_EQ(device->queue_max_sizes().size(), 3U);
    std::array<std::byte, 8> cid{};
    device->read_config(0, cid);
    uint64_t value = 0;
    std::memcpy(&value, cid.data(), 8);
    EXPECT_EQ(value, kCid);
    std::array<std::byte, 4> high{std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
                                  std::byte{0xff}};
    device->read_config(4, high);
    EXPECT_EQ(high, (std::array<std::byte, 4>{})); // the upper half of 3
    device->write_config(0, cid);                  // read-only: ignored
    device->read_config(0, cid);
    std::memcpy(&value, cid.data(), 8);
    EXPECT_EQ(value, kCid);
}

TEST_F(VsockDeviceTest, ListensAtUdsPathAndRemovesItsOwnSocketOnly) {
    create();
    struct stat st {};
    ASSERT_EQ(::stat(uds_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    device->detach();
    device.reset();
    EXPECT_NE(::stat(uds_.c_str(), &st), 0) << "the socket outlived the device";

    // A path replaced by someone else after the device bound it stays.
    create();
    ASSERT_EQ(::unlink(uds_.c_str()), 0);
    {
        std::FILE* f = std::fopen(uds_.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fclose(f);
    }
    device->detach();
    device.reset();
    EXPECT_EQ(::stat(uds_.c_str(), &st), 0) << "the device removed a file it did not create";
}

TEST_F(VsockDeviceTest, CreateRefusesBadOptionsWithAHint) {
    auto error_of = [&](VsockOptions o) {
        auto d = VsockDevice::create(o, clock);
        return d ? std::string("created") : d.error().message();
    };
    EXPECT_NE(error_of({.guest_cid = 2, .uds_path = uds_}).find("guest_cid 2 is reserved"),
              std::string::npos);
    EXPECT_NE(error_of({.guest_cid = 1ULL << 32, .uds_path = uds_}).find("reserved"),
              std::string::npos);
    EXPECT_NE(error_of({.uds_path = dir_ + "/missing/v.sock"}).find("directory does not exist"),
              std::string::npos);
    EXPECT_NE(error_of({.uds_path = std::string(200, 'a')}).find("1 to 107 bytes"),
              std::string::npos);
    {
        std::FILE* f = std::fopen(uds_.c_str(), "w");
        ASSERT_NE(f, nullptr);
        std::fclose(f);
    }
    EXPECT_NE(error_of({.uds_path = uds_}).find("already exists"), std::string::npos);
    EXPECT_NE(error_of({.queue_size = 100, .uds_path = dir_ + "/b.sock"}).find("power of two"),
              std::string::npos);
}

TEST_F(VsockDeviceTest, GuestConnectsToAHostListenerAndDataFlowsBothWays) {
    create();
    activate();
    post_rx(8);
    UniqueFd listener;
    UniqueFd host = open_guest_stream(52, listener);
    ASSERT_TRUE(host.valid()) << "nothing connected to uds_52";

    guest_send(header(Op::kRw, 52, 5), "hello");
    EXPECT_EQ(recv_now(host.get()), "hello");

    send_all(host.get(), "world");
    settle();
    auto got = received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].op(), Op::kRw);
    EXPECT_EQ(got[0].payload, "world");
    EXPECT_EQ(got[0].src_port(), 52U);
    EXPECT_EQ(got[0].dst_port(), kGuestPort);
    EXPECT_EQ(+got[0].header.src_cid, kHostCid);
    EXPECT_EQ(+got[0].header.dst_cid, kCid);

    // The guest shuts both directions: the host sees EOF, the guest an RST, the stream is gone.
    VsockHeader shut = header(Op::kShutdown, 52);
    shut.flags = kShutdownBoth;
    guest_send(shut);
    EXPECT_EQ(recv_now(host.get()), "<eof>");
    got = received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].op(), Op::kRst);
    const VsockMetrics m = device->metrics();
    EXPECT_EQ(m.guest_connects, 1U);
    EXPECT_EQ(m.connections, 0U);
    EXPECT_EQ(m.tx_bytes, 5U);
    EXPECT_EQ(m.rx_bytes, 5U);
    EXPECT_GT(irq.count.load(), 0);
}

TEST_F(VsockDeviceTest, AGuestRequestNobodyListensForGetsRst) {
    create();
    activate();
    post_rx(2);
    guest_send(header(Op::kRequest, 9999));
    auto got = received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].op(), Op::kRst);
    EXPECT_EQ(got[0].src_port(), 9999U);
    EXPECT_EQ(got[0].dst_port(), kGuestPort);
    // Data for a stream that does not exist gets RST too; an RST gets nothing.
    guest_send(header(Op::kRw, 9999, 3), "abc");
    guest_send(header(Op::kRst, 9999));
    got = received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].op(), Op::kRst);
    EXPECT_EQ(device->metrics().connect_refused, 1U);
}

TEST_F(VsockDeviceTest, HostConnectsWithConnectLineAndGetsOk) {
    create();
    activate();
    post_rx(8);
    uint32_t host_port = 0;
    UniqueFd host = open_host_stream(5000, host_port);
    EXPECT_GE(host_port, kFirstHostPort);

    send_all(host.get(), "ping");
    settle();
    auto got = received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].payload, "ping");
    guest_send(header(Op::kRw, host_port, 4, 5000), "pong");
    EXPECT_EQ(recv_now(host.get()), "pong");

    // The host closes: the guest gets SHUTDOWN, answers RST, the stream is gone.
    host.reset();
    settle();
    got = received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].op(), Op::kShutdown);
    EXPECT_EQ(+got[0].header.flags, kShutdownBoth);
    guest_send(header(Op::kRst, host_port, 0, 5000));
    EXPECT_EQ(device->metrics().connections, 0U);
    EXPECT_EQ(device->metrics().host_connects, 1U);
    EXPECT_TRUE(received().empty()) << "an RST was answered";
}

TEST_F(VsockDeviceTest, DataRightAfterTheConnectLineReachesTheGuest) {
    create();
    activate();
    post_rx(8);
    UniqueFd host = unix_connect(uds_);
    send_all(host.get(), "CONNECT 7\nearly bytes");
    settle();
    auto got = received();
    ASSERT_EQ(got.size(), 1U);
    ASSERT_EQ(got[0].op(), Op::kRequest);
    const uint32_t host_port = got[0].src_port();
    guest_send(header(Op::kResponse, host_port, 0, 7));
    EXPECT_EQ(recv_now(host.get()), fmt::format("OK {}\n", host_port));
    got = received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].payload, "early bytes");
}

TEST_F(VsockDeviceTest, AConnectLineArrivingInPiecesIsAssembled) {
    create();
    activate();
    post_rx(4);
    UniqueFd host = unix_connect(uds_);
    send_all(host.get(), "CONN");
    settle();
    EXPECT_TRUE(received().empty());
    send_all(host.get(), "ECT 77\n");
    settle();
    auto got = received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].dst_port(), 77U);
}

TEST_F(VsockDeviceTest, AGuestRstToAHostConnectClosesTheHostSocketWithoutOk) {
    create();
    activate();
    post_rx(4);
    UniqueFd host = unix_connect(uds_);
    send_all(host.get(), "CONNECT 8\n");
    settle();
    auto got = received();
    ASSERT_EQ(got.size(), 1U);
    guest_send(header(Op::kRst, got[0].src_port(), 0, 8));
    EXPECT_EQ(recv_now(host.get()), "<eof>");
    EXPECT_EQ(device->metrics().connections, 0U);
}

TEST_F(VsockDeviceTest, BadConnectLinesAreClosed) {
    create();
    activate();
    post_rx(4);
    for (const std::string& line :
         {std::string("HELLO 5\n"), std::string("CONNECT x\n"),
          std::string("CONNECT 99999999999\n"), std::string(kMaxConnectLine, 'C')}) {
        UniqueFd host = unix_connect(uds_);
        send_all(host.get(), line);
        settle();
        EXPECT_EQ(recv_now(host.get()), "<eof>") << line;
    }
    // A host that connects and goes away before a line.
    { UniqueFd gone = unix_connect(uds_); }
    settle();
    EXPECT_TRUE(received().empty());
    EXPECT_EQ(device->metrics().bad_connect_lines, 5U);
}

TEST_F(VsockDeviceTest, ConnectBeforeTheDriverIsReadyIsClosed) {
    create();
    UniqueFd host = unix_connect(uds_);
    send_all(host.get(), "CONNECT 5\n");
    settle();
    EXPECT_EQ(recv_now(host.get()), "<eof>");
    EXPECT_EQ(device->metrics().host_rejected, 1U);
}

TEST_F(VsockDeviceTest, DeadlinesCloseSilentHostsAndUnansweredRequests) {
    create({.connect_timeout_ns = 1'000'000'000});
    activate();
    post_rx(4);
    UniqueFd silent = unix_connect(uds_);
    UniqueFd waiting = unix_connect(uds_);
    send_all(waiting.get(), "CONNECT 6\n");
    settle();
    auto got = received();
    ASSERT_EQ(got.size(), 1U); // the REQUEST, which the guest never answers
    clock.advance_ms(500);
    device->on_timer();
    EXPECT_EQ(recv_now(silent.get()), "");
    clock.advance_ms(600);
    device->on_timer();
    settle();
    EXPECT_EQ(recv_now(silent.get()), "<eof>");
    EXPECT_EQ(recv_now(waiting.get()), "<eof>");
    got = received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].op(), Op::kRst);
    EXPECT_EQ(device->metrics().timeouts, 2U);
    EXPECT_EQ(device->metrics().connections, 0U);
}

TEST_F(VsockDeviceTest, WithoutReceiveBuffersHostDataWaitsWithoutABusyLoop) {
    create();
    activate();
    post_rx(1);
    UniqueFd listener;
    UniqueFd host = open_guest_stream(60, listener); // uses the one buffer
    send_all(host.get(), "queued");
    settle(); // fails the test if the readable socket spun the loop
    EXPECT_TRUE(received().empty());
    post_rx(1);
    auto got = received();
    ASSERT_EQ(got.size(), 1U);
    EXPECT_EQ(got[0].payload, "queued");
}

TEST_F(VsockDeviceTest, TheHostNeverSendsMoreThanTheGuestsCredit) {
    guest_buf_alloc = 100;
    create();
    activate();
    post_rx(8);
    UniqueFd listener;
    UniqueFd host = open_guest_stream(61, listener);
    send_all(host.get(), std::string(300, 'x'));
    settle();
    auto got = received();
    size_t total = 0;
    for (const Packet& p : got)
        total += p.payload.size();
    EXPECT_EQ(total, 100U);
    // The guest consumed the 100 bytes: a credit update lets the next 100 through.
    guest_fwd_cnt = 100;
    guest_send(header(Op::kCreditUpdate, 61));
    total = 0;
    for (const Packet& p : received())
        total += p.payload.size();
    EXPECT_EQ(total, 100U);
}

TEST_F(VsockDeviceTest, MalformedTransmitPacketsAreDroppedAndCounted) {
    create();
    activate();
    post_rx(4);
    VsockHeader wrong_cid = header(Op::kRequest, 52);
    wrong_cid.src_cid = 99;
    guest_send(wrong_cid);
    VsockHeader past_chain = header(Op::kRw, 52, 1000);
    guest_send(past_chain, "short");
    VsockHeader bad_type = header(Op::kRequest, 52);
    bad_type.type = 2;
    guest_send(bad_type);
    const uint16_t tiny = tx.add_chain({{10, false}});
    tx.publish(tiny);
    events_[VsockDevice::kTxQueue].signal();
    settle();
    EXPECT_EQ(device->metrics().tx_bad_packets, 4U);
    EXPECT_EQ(tx.used_idx(), 4) << "every chain is returned";
    EXPECT_TRUE(received().empty());
    EXPECT_FALSE(interrupt.needs_reset());
}

TEST_F(VsockDeviceTest, TooSmallOrReadableReceiveBuffersAreReturnedEmpty) {
    create();
    activate();
    const uint16_t small = rx.add_chain({{44, true}});
    rx.publish(small);
    const uint16_t readable = rx.add_chain({{44, false}, {4096, true}});
    rx.publish(readable);
    post_rx(1);
    guest_send(header(Op::kRequest, 4242)); // nobody listens: an RST to deliver
    EXPECT_EQ(rx.used_idx(), 3);
    EXPECT_EQ(rx.used(0).len, 0U);
    EXPECT_EQ(rx.used(1).len, 0U);
    EXPECT_EQ(rx.used(2).len, 44U);
    EXPECT_EQ(device->metrics().rx_bad_buffers, 2U);
}

TEST_F(VsockDeviceTest, TransmitStallsWhileTooManyAnswersWaitForBuffers) {
    create({.max_queued_replies = 4});
    activate();
    for (uint32_t i = 0; i < 10; ++i)
        guest_send(header(Op::kRequest, 7000 + i), {}, false);
    events_[VsockDevice::kTxQueue].signal();
    settle();
    EXPECT_EQ(tx.used_idx(), 4) << "took more transmit chains than it can answer";
    post_rx(16);
    EXPECT_EQ(tx.used_idx(), 10);
    EXPECT_EQ(received().size(), 10U);
}

TEST_F(VsockDeviceTest, ResetDropsEveryStreamAndClosesTheHostSockets) {
    create();
    activate();
    post_rx(8);
    UniqueFd listener;
    UniqueFd guest_side = open_guest_stream(62, listener);
    uint32_t host_port = 0;
    UniqueFd host_side = open_host_stream(63, host_port);
    EXPECT_EQ(device->metrics().connections, 2U);
    EXPECT_TRUE(device->reset());
    settle();
    EXPECT_EQ(recv_now(guest_side.get()), "<eof>");
    EXPECT_EQ(recv_now(host_side.get()), "<eof>");
    const VsockMetrics m = device->metrics();
    EXPECT_EQ(m.connections, 0U);
    EXPECT_EQ(m.dropped_at_reset, 2U);
}

TEST_F(VsockDeviceTest, ManyConcurrentStreamsKeepTheirOwnData) {
    create();
    activate();
    post_rx(64);
    UniqueFd listener = unix_listen(uds_ + "_80");
    std::vector<UniqueFd> hosts;
    for (uint32_t i = 0; i < 8; ++i) {
        guest_send(header(Op::kRequest, 80, 0, 2000 + i));
        hosts.emplace_back(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        ASSERT_TRUE(hosts.back().valid());
    }
    EXPECT_EQ(received().size(), 8U); // the RESPONSEs
    for (uint32_t i = 0; i < 8; ++i)
        guest_send(header(Op::kRw, 80, 2, 2000 + i), fmt::format("g{}", i));
    for (uint32_t i = 0; i < 8; ++i) {
        // Streams are keyed by both ports: each host socket got its own guest port's bytes.
        EXPECT_EQ(recv_now(hosts[i].get()), fmt::format("g{}", i));
        send_all(hosts[i].get(), fmt::format("h{}", i));
    }
    settle();
    auto got = received();
    ASSERT_EQ(got.size(), 8U);
    for (const Packet& p : got)
        EXPECT_EQ(p.payload, fmt::format("h{}", p.dst_port() - 2000));
}

} // namespace
} // namespace ember::virtio::vsock
