// The vsock connection protocol against a socketpair standing in for the host process: connect
// both ways, credit accounting, SHUTDOWN and RST from either side, the host vanishing.
#include "virtio/vsock/connection.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

namespace ember::virtio::vsock {
namespace {

constexpr uint64_t kGuestCid = 3;
constexpr uint32_t kGuestPort = 1234;
constexpr uint32_t kHostPort = 52;

VsockHeader from_guest(Op op, uint32_t len = 0, uint32_t buf_alloc = 1000, uint32_t fwd = 0) {
    VsockHeader h{};
    h.src_cid = kGuestCid;
    h.dst_cid = kHostCid;
    h.src_port = kGuestPort;
    h.dst_port = kHostPort;
    h.len = len;
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(op);
    h.buf_alloc = buf_alloc;
    h.fwd_cnt = fwd;
    return h;
}

std::vector<std::byte> bytes(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data()); // Safety: bytes of a string
    return {p, p + s.size()};
}

class VsockConnection : public ::testing::Test {
protected:
    // `vmm_end` goes to the connection (non-blocking); the test is the host process.
    void SetUp() override {
        std::array<int, 2> fds{};
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds.data()), 0);
        vmm_end_ = UniqueFd(fds[0]);
        host_ = UniqueFd(fds[1]);
    }
    Connection guest_connected(uint32_t guest_buf = 1000, ConnectionLimits limits = {}) {
        auto c = Connection::guest_initiated(std::move(vmm_end_),
                                             from_guest(Op::kRequest, 0, guest_buf), limits);
        auto h = c.next_rx(buf_);
        EXPECT_TRUE(h && h->op == static_cast<uint16_t>(Op::kResponse));
        return c;
    }
    void host_write(std::string_view s) {
        ASSERT_EQ(::write(host_.get(), s.data(), s.size()), static_cast<ssize_t>(s.size()));
    }
    std::string host_read() {
        std::array<char, 4096> b{};
        const ssize_t n = ::recv(host_.get(), b.data(), b.size(), MSG_DONTWAIT);
        return n > 0 ? std::string(b.data(), static_cast<size_t>(n)) : std::string();
    }
    std::string payload(const VsockHeader& h) const {
        // Safety: bytes the connection wrote into buf_.
        return {reinterpret_cast<const char*>(buf_.data()), h.len};
    }

    UniqueFd vmm_end_;
    UniqueFd host_;
    std::array<std::byte, 4096> buf_{};
};

TEST_F(VsockConnection, GuestConnectsAndDataFlowsBothWays) {
    auto c = Connection::guest_initiated(std::move(vmm_end_), from_guest(Op::kRequest));
    ASSERT_TRUE(c.has_rx());
    auto resp = c.next_rx(buf_);
    ASSERT_TRUE(resp);
    EXPECT_EQ(resp->op, static_cast<uint16_t>(Op::kResponse));
    EXPECT_EQ(resp->src_cid, kHostCid);
    EXPECT_EQ(resp->dst_cid, kGuestCid);
    EXPECT_EQ(resp->src_port, kHostPort);
    EXPECT_EQ(resp->dst_port, kGuestPort);
    EXPECT_EQ(c.state(), ConnState::kEstablished);

    c.on_tx(from_guest(Op::kRw, 5), bytes("hello"));
    EXPECT_EQ(host_read(), "hello");

    host_write("world");
    EXPECT_FALSE(c.has_rx()); // not until the event loop says so
    c.on_host_readable();
    auto rw = c.next_rx(buf_);
    ASSERT_TRUE(rw);
    EXPECT_EQ(rw->op, static_cast<uint16_t>(Op::kRw));
    EXPECT_EQ(payload(*rw), "world");
    EXPECT_EQ(rw->fwd_cnt, 5U);    // the guest's 5 bytes reached the host
    EXPECT_FALSE(c.next_rx(buf_)); // EAGAIN: nothing more
    EXPECT_FALSE(c.has_rx());
}

TEST_F(VsockConnection, HostConnectsGuestAccepts) {
    auto c = Connection::host_initiated(std::move(vmm_end_), kGuestCid, 1U << 30, kGuestPort);
    EXPECT_EQ(c.state(), ConnState::kLocalInit);
    auto req = c.next_rx(buf_);
    ASSERT_TRUE(req);
    EXPECT_EQ(req->op, static_cast<uint16_t>(Op::kRequest));
    EXPECT_EQ(req->src_port, 1U << 30);
    EXPECT_EQ(req->dst_port, kGuestPort);
    EXPECT_EQ(host_read(), ""); // no OK before the guest answers
    c.on_tx(from_guest(Op::kResponse), {});
    EXPECT_EQ(c.state(), ConnState::kEstablished);
    EXPECT_EQ(host_read(), "OK 1073741824\n");
}

TEST_F(VsockConnection, HostConnectsGuestRefuses) {
    auto c = Connection::host_initiated(std::move(vmm_end_), kGuestCid, 1U << 30, kGuestPort);
    (void)c.next_rx(buf_);
    c.on_tx(from_guest(Op::kRst), {});
    EXPECT_EQ(c.state(), ConnState::kClosed);
    EXPECT_FALSE(c.has_rx());
    std::array<char, 8> b{};
    EXPECT_EQ(::read(host_.get(), b.data(), b.size()), 0); // the host sees EOF, no OK
}

TEST_F(VsockConnection, DataBeforeResponseIsReset) {
    auto c = Connection::host_initiated(std::move(vmm_end_), kGuestCid, 1U << 30, kGuestPort);
    (void)c.next_rx(buf_);
    c.on_tx(from_guest(Op::kRw, 2), bytes("hi"));
    auto rst = c.next_rx(buf_);
    ASSERT_TRUE(rst);
    EXPECT_EQ(rst->op, static_cast<uint16_t>(Op::kRst));
    EXPECT_EQ(c.state(), ConnState::kClosed);
}

TEST_F(VsockConnection, SenderStopsAtThePeersCreditAndResumesOnCreditUpdate) {
    auto c = guest_connected(/*guest_buf=*/100);
    host_write(std::string(300, 'x'));
    c.on_host_readable();
    auto first = c.next_rx(buf_);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->len, 100U);
    EXPECT_EQ(c.peer_credit(), 0U);
    EXPECT_FALSE(c.has_rx());
    EXPECT_FALSE(c.wants_host_read());
    EXPECT_FALSE(c.next_rx(buf_));
    // The guest consumed 60 bytes.
    c.on_tx(from_guest(Op::kCreditUpdate, 0, 100, 60), {});
    EXPECT_EQ(c.peer_credit(), 60U);
    auto second = c.next_rx(buf_);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->len, 60U);
    // A bigger buffer advertised later counts too.
    c.on_tx(from_guest(Op::kCreditUpdate, 0, 500, 160), {});
    EXPECT_EQ(c.peer_credit(), 500U - 0U);
    auto third = c.next_rx(buf_);
    ASSERT_TRUE(third);
    EXPECT_EQ(third->len, 140U);
}

TEST_F(VsockConnection, CreditRequestIsAnswered) {
    auto c = guest_connected();
    c.on_tx(from_guest(Op::kCreditRequest), {});
    auto h = c.next_rx(buf_);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->op, static_cast<uint16_t>(Op::kCreditUpdate));
    EXPECT_EQ(h->buf_alloc, ConnectionLimits{}.buf_alloc);
}

TEST_F(VsockConnection, HeldDataCountsAgainstOurBufferAndCreditUpdateFollowsTheFlush) {
    auto c = guest_connected(1000, ConnectionLimits{.buf_alloc = 1U << 20});
    // Fill the socket until it holds back data.
    const std::vector<std::byte> chunk(kMaxPayload, std::byte{7});
    uint32_t sent = 0;
    while (c.held_bytes() == 0) {
        c.on_tx(from_guest(Op::kRw, kMaxPayload), chunk);
        sent += kMaxPayload;
        ASSERT_LT(sent, 1U << 20) << "the socketpair never filled";
    }
    EXPECT_TRUE(c.wants_host_write());
    // Drain the host end: the held bytes go out, fwd_cnt reaches everything sent.
    std::vector<char> sink(1U << 20);
    while (::recv(host_.get(), sink.data(), sink.size(), MSG_DONTWAIT) > 0) {
        c.on_host_writable();
    }
    c.on_host_writable();
    while (::recv(host_.get(), sink.data(), sink.size(), MSG_DONTWAIT) > 0) {
    }
    EXPECT_EQ(c.held_bytes(), 0U);
    EXPECT_FALSE(c.wants_host_write());
    while (c.next_rx(buf_)) {
    }
    c.on_tx(from_guest(Op::kCreditRequest), {});
    auto h = c.next_rx(buf_);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->op, static_cast<uint16_t>(Op::kCreditUpdate));
    EXPECT_EQ(h->fwd_cnt, sent);
}

TEST_F(VsockConnection, GuestOverrunningOurCreditIsReset) {
    auto c = guest_connected(1000, ConnectionLimits{.buf_alloc = 8});
    c.on_tx(from_guest(Op::kRw, 9), bytes("123456789"));
    EXPECT_EQ(host_read(), ""); // nothing of it reaches the host
    auto h = c.next_rx(buf_);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->op, static_cast<uint16_t>(Op::kRst));
}

TEST_F(VsockConnection, GuestWithinOurCreditIsForwarded) {
    auto c = guest_connected(1000, ConnectionLimits{.buf_alloc = 8});
    c.on_tx(from_guest(Op::kRw, 8), bytes("12345678"));
    EXPECT_EQ(host_read(), "12345678");
    EXPECT_EQ(c.state(), ConnState::kEstablished);
}

TEST_F(VsockConnection, SmallBufferSendsCreditUpdateAsDataIsForwarded) {
    auto c = guest_connected(1000, ConnectionLimits{.buf_alloc = 8});
    c.on_tx(from_guest(Op::kRw, 6), bytes("123456"));
    EXPECT_EQ(host_read(), "123456");
    ASSERT_TRUE(c.has_rx());
    auto h = c.next_rx(buf_);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->op, static_cast<uint16_t>(Op::kCreditUpdate));
    EXPECT_EQ(h->fwd_cnt, 6U);
    EXPECT_FALSE(c.has_rx());
}

TEST_F(VsockConnection, GuestShutdownSendHalfClosesTheHostSocket) {
    auto c = guest_connected();
    c.on_tx(from_guest(Op::kRw, 3), bytes("abc"));
    EXPECT_EQ(host_read(), "abc");
    auto sd = from_guest(Op::kShutdown);
    sd.flags = kShutdownSend;
    c.on_tx(sd, {});
    std::array<char, 8> b{};
    EXPECT_EQ(::read(host_.get(), b.data(), b.size()), 0); // EOF for the host
    EXPECT_EQ(c.state(), ConnState::kEstablished);         // host → guest still open
    host_write("back");
    c.on_host_readable();
    auto rw = c.next_rx(buf_);
    ASSERT_TRUE(rw);
    EXPECT_EQ(payload(*rw), "back");
}

TEST_F(VsockConnection, GuestShutdownRcvStopsReading) {
    auto c = guest_connected();
    auto sd = from_guest(Op::kShutdown);
    sd.flags = kShutdownRcv;
    c.on_tx(sd, {});
    host_write("ignored");
    c.on_host_readable();
    EXPECT_FALSE(c.wants_host_read());
    EXPECT_FALSE(c.has_rx());
}

TEST_F(VsockConnection, GuestShutdownBothEndsWithRst) {
    auto c = guest_connected();
    auto sd = from_guest(Op::kShutdown);
    sd.flags = kShutdownBoth;
    c.on_tx(sd, {});
    auto h = c.next_rx(buf_);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->op, static_cast<uint16_t>(Op::kRst));
    EXPECT_EQ(c.state(), ConnState::kClosed);
    std::array<char, 8> b{};
    EXPECT_EQ(::read(host_.get(), b.data(), b.size()), 0);
}

TEST_F(VsockConnection, GuestRstClosesAtOnce) {
    auto c = guest_connected();
    c.on_tx(from_guest(Op::kRst), {});
    EXPECT_EQ(c.state(), ConnState::kClosed);
    EXPECT_FALSE(c.has_rx()); // never answer RST with RST
    std::array<char, 8> b{};
    EXPECT_EQ(::read(host_.get(), b.data(), b.size()), 0);
}

TEST_F(VsockConnection, HostClosingMidStreamShutsDownTheGuestThenWaitsForRst) {
    auto c = guest_connected();
    host_write("last");
    host_.reset();
    c.on_host_readable();
    auto rw = c.next_rx(buf_);
    ASSERT_TRUE(rw);
    EXPECT_EQ(payload(*rw), "last");
    auto sd = c.next_rx(buf_);
    ASSERT_TRUE(sd);
    EXPECT_EQ(sd->op, static_cast<uint16_t>(Op::kShutdown));
    EXPECT_EQ(sd->flags, kShutdownBoth);
    EXPECT_EQ(c.state(), ConnState::kLocalClosed);
    c.on_tx(from_guest(Op::kRw, 2), bytes("zz")); // dropped, not an error
    EXPECT_FALSE(c.has_rx());
    c.on_tx(from_guest(Op::kRst), {});
    EXPECT_EQ(c.state(), ConnState::kClosed);
}

TEST_F(VsockConnection, HostGoneWhenGuestWritesIsReset) {
    auto c = guest_connected();
    host_.reset();
    c.on_tx(from_guest(Op::kRw, 3), bytes("abc"));
    auto h = c.next_rx(buf_);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->op, static_cast<uint16_t>(Op::kRst));
    EXPECT_EQ(c.state(), ConnState::kClosed);
}

TEST(VsockHostProtocol, ConnectLine) {
    auto ok = parse_connect_line("CONNECT 52\n");
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, 52U);
    EXPECT_TRUE(parse_connect_line("CONNECT 4294967295\n"));
    for (std::string_view bad : {"CONNECT 52", "CONNECT \n", "CONNECT 4294967296\n", "CONNECT 5x\n",
                                 "connect 52\n", "CONNECT -1\n"})
        EXPECT_FALSE(parse_connect_line(bad)) << bad;
    EXPECT_EQ(ok_line(1073741824), "OK 1073741824\n");
}

TEST(VsockHostProtocol, RstReplySwapsEndsAndNeverAnswersRst) {
    auto r = rst_reply(from_guest(Op::kRequest));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->op, static_cast<uint16_t>(Op::kRst));
    EXPECT_EQ(r->src_cid, kHostCid);
    EXPECT_EQ(r->dst_cid, kGuestCid);
    EXPECT_EQ(r->src_port, kHostPort);
    EXPECT_EQ(r->dst_port, kGuestPort);
    EXPECT_FALSE(rst_reply(from_guest(Op::kRst)));
}

TEST(VsockHostProtocol, ConnectHostPortReachesTheListenerOrSaysNobodyListens) {
    const std::string base =
        std::string(EMBER_TEST_TMPDIR) + "/vsock-" + std::to_string(::getpid());
    ::mkdir(EMBER_TEST_TMPDIR, 0700);
    auto missing = connect_host_port(base, 52);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code(), Errc::kNotFound);
    EXPECT_NE(missing.error().message().find(base + "_52"), std::string::npos);

    UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = base + "_52";
    path.copy(&addr.sun_path[0], sizeof(addr.sun_path) - 1);
    // Safety: sockaddr_un is a sockaddr by the socket API's contract.
    ASSERT_EQ(::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener.get(), 1), 0);
    auto fd = connect_host_port(base, 52);
    ::unlink(path.c_str());
    ASSERT_TRUE(fd) << fd.error().describe();
    UniqueFd accepted(::accept(listener.get(), nullptr, nullptr));
    EXPECT_TRUE(accepted.valid());
}

} // namespace
} // namespace ember::virtio::vsock
