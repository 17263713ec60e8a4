// KVM tier: virtio-net over a real tap. Each test makes a network namespace with a tap in it
// (10.200.0.1/30 on the host side), runs ember inside it (`ip netns exec`) with the virtio_net
// guest (resources/guests/virtio_net.c, 10.200.0.2), and talks to the guest from a thread that
// joined the namespace: ARP (the kernel resolves the guest), ICMP echo, and a UDP echo of many
// datagrams, one at a time. The namespace (and so the tap) is deleted afterwards, also when a
// test fails. Needs root (CAP_NET_ADMIN), /dev/net/tun and iproute2; skips otherwise.
#include "tests/kvm/kvm_available.hpp"
#include "tests/kvm/subprocess.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace ember {
namespace {

namespace fs = std::filesystem;

constexpr const char* kHostIp = "10.200.0.1";
constexpr const char* kGuestIp = "10.200.0.2";
constexpr const char* kGuestMac = "06:00:0a:c8:00:02";

std::string ip_tool() {
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
        if (fs::exists(p)) return p;
    return {};
}

// A network namespace with a tap that is up and addressed; deleted (with the tap) on
// destruction. ok() is false, with why(), when it could not be made.
class NetNamespace {
public:
    NetNamespace()
        : name_(fmt::format("ember-net-{}", ::getpid())),
          tap_(fmt::format("emtap{}", ::getpid() % 1000000)) {
        ip_ = ip_tool();
        if (ip_.empty()) {
            why_ = "iproute2 (ip) is not installed";
            return;
        }
        (void)run({"netns", "del", name_}); // a leftover of a killed run
        for (const auto& args : std::vector<std::vector<std::string>>{
                 {"netns", "add", name_},
                 {"-n", name_, "link", "set", "lo", "up"},
                 {"-n", name_, "tuntap", "add", "dev", tap_, "mode", "tap"},
                 {"-n", name_, "addr", "add", std::string(kHostIp) + "/30", "dev", tap_},
                 {"-n", name_, "link", "set", tap_, "up"}}) {
            const auto r = run(args);
            if (r.status != 0) {
                why_ = fmt::format("ip {} failed: {}", fmt::join(args, " "), r.err);
                return;
            }
        }
        created_ = true;
    }
    ~NetNamespace() {
        if (!ip_.empty()) (void)run({"netns", "del", name_});
    }
    NetNamespace(const NetNamespace&) = delete;
    NetNamespace& operator=(const NetNamespace&) = delete;
    NetNamespace(NetNamespace&&) = delete;
    NetNamespace& operator=(NetNamespace&&) = delete;

    [[nodiscard]] bool ok() const { return created_; }
    [[nodiscard]] const std::string& why() const { return why_; }
    [[nodiscard]] const std::string& name() const { return name_; }
    [[nodiscard]] const std::string& tap() const { return tap_; }
    [[nodiscard]] const std::string& ip() const { return ip_; }

    test::ProcessResult run(const std::vector<std::string>& args) const {
        std::vector<std::string> argv{ip_};
        argv.insert(argv.end(), args.begin(), args.end());
        return test::run_process(argv, 10000);
    }
    // Moves the calling thread into the namespace.
    [[nodiscard]] bool enter() const {
        const int fd = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        const bool ok = ::setns(fd, CLONE_NEWNET) == 0;
        ::close(fd);
        return ok;
    }

private:
    std::string name_;
    std::string tap_;
    std::string ip_;
    std::string why_;
    bool created_ = false;
};

uint16_t icmp_checksum(const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += static_cast<uint32_t>(p[i] << 8U | p[i + 1]);
    if ((n & 1U) != 0) sum += static_cast<uint32_t>(p[n - 1]) << 8U;
    while ((sum >> 16U) != 0)
        sum = (sum & 0xffffU) + (sum >> 16U);
    return static_cast<uint16_t>(~sum);
}

sockaddr_in guest_addr(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, kGuestIp, &a.sin_addr);
    return a;
}

bool readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1;
}

// One ICMP echo over a raw socket: true when the matching reply came back within timeout_ms.
bool ping(int raw, uint16_t id, uint16_t seq, int timeout_ms) {
    std::array<uint8_t, 40> req{};
    req[0] = ICMP_ECHO;
    req[4] = static_cast<uint8_t>(id >> 8U);
    req[5] = static_cast<uint8_t>(id);
    req[6] = static_cast<uint8_t>(seq >> 8U);
    req[7] = static_cast<uint8_t>(seq);
    for (size_t i = 8; i < req.size(); ++i)
        req[i] = static_cast<uint8_t>(i);
    const uint16_t sum = icmp_checksum(req.data(), req.size());
    req[2] = static_cast<uint8_t>(sum >> 8U);
    req[3] = static_cast<uint8_t>(sum);
    const sockaddr_in to = guest_addr(0);
    // Safety: sockaddr_in is the sockaddr the call expects for AF_INET.
    if (::sendto(raw, req.data(), req.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to) < 0)
        return false;
    std::array<uint8_t, 1500> buf{};
    while (readable(raw, timeout_ms)) {
        const ssize_t n = ::recv(raw, buf.data(), buf.size(), 0);
        if (n < 20) continue;
        const size_t ihl = (buf[0] & 15U) * 4U;
        if (static_cast<size_t>(n) < ihl + req.size()) continue;
        const uint8_t* icmp = buf.data() + ihl;
        if (icmp[0] == ICMP_ECHOREPLY && icmp[4] == req[4] && icmp[5] == req[5] &&
            icmp[6] == req[6] && icmp[7] == req[7] &&
            std::equal(req.begin() + 8, req.end(), icmp + 8) &&
            icmp_checksum(icmp, req.size()) == 0)
            return true;
    }
    return false;
}

struct HostSide {
    bool entered = false;
    int first_ping_attempts = 0; // until the guest answered
    int pings_answered = 0;
    int udp_echoed = 0;
    int udp_mismatched = 0;
    bool bye = false;
    std::string neighbours;
};

// What the host does once ember runs: wait for the guest to answer a ping (which needs ARP),
// then 3 more pings, `datagrams` UDP echoes of varied sizes (one at a time, or in a burst), and
// "quit".
void talk_to_guest(const NetNamespace& ns, int datagrams, bool burst, HostSide& out) {
    out.entered = ns.enter();
    if (!out.entered) return;
    const int raw = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const auto id = static_cast<uint16_t>(::getpid());
    while (out.first_ping_attempts < 150 &&
           !ping(raw, id, static_cast<uint16_t>(out.first_ping_attempts), 200))
        ++out.first_ping_attempts;
    for (uint16_t seq = 1000; seq < 1003; ++seq)
        out.pings_answered += ping(raw, id, seq, 2000) ? 1 : 0;
    // While ember runs: the tap loses its carrier when ember closes it, and the kernel then
    // flushes the neighbour entries.
    out.neighbours = ns.run({"-n", ns.name(), "neigh", "show", "dev", ns.tap()}).out;
    const sockaddr_in to = guest_addr(7);
    auto datagram = [](int i) {
        std::vector<uint8_t> msg(static_cast<size_t>(1 + (i * 37) % 1400));
        for (size_t k = 0; k < msg.size(); ++k)
            msg[k] = static_cast<uint8_t>(static_cast<size_t>(i) + k);
        return msg;
    };
    auto send = [&](const std::vector<uint8_t>& msg) {
        // Safety: sockaddr_in is the sockaddr the call expects for AF_INET.
        (void)::sendto(udp, msg.data(), msg.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                       sizeof to);
    };
    auto receive = [&](const std::vector<uint8_t>& expected) {
        std::vector<uint8_t> buf(2000);
        if (!readable(udp, 3000)) return;
        const ssize_t n = ::recv(udp, buf.data(), buf.size(), 0);
        const bool same = n == static_cast<ssize_t>(expected.size()) &&
                          std::equal(expected.begin(), expected.end(), buf.begin());
        ++(same ? out.udp_echoed : out.udp_mismatched);
    };
    // One at a time (a rate the guest can always take), or all sent before any reply is read
    // (the tap queues them; the echoes come back in order).
    for (int i = 0; i < datagrams; ++i) {
        send(datagram(i));
        if (!burst) receive(datagram(i));
    }
    for (int i = 0; burst && i < datagrams; ++i)
        receive(datagram(i));
    const std::string quit = "quit";
    // Safety: as above.
    (void)::sendto(udp, quit.data(), quit.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                   sizeof to);
    if (readable(udp, 2000)) {
        std::array<char, 16> reply{};
        out.bye = ::recv(udp, reply.data(), reply.size(), 0) == 4 &&
                  std::string(reply.data(), 4) == "bye!";
    }
    ::close(raw);
    ::close(udp);
}

class VirtioNet : public ::testing::Test {
protected:
    void SetUp() override {
        EMBER_REQUIRE_KVM();
        if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a network namespace and tap";
        if (!fs::exists("/dev/net/tun")) GTEST_SKIP() << "/dev/net/tun is missing";
        ns_ = std::make_unique<NetNamespace>();
        if (!ns_->ok()) GTEST_SKIP() << "cannot set up the test network: " << ns_->why();
    }
    void TearDown() override { ns_.reset(); } // deletes the namespace and the tap

    std::vector<std::string> ember_argv(const std::string& net_extra,
                                        const std::string& cmdline) const {
        return {ns_->ip(),
                "netns",
                "exec",
                ns_->name(),
                EMBER_BINARY,
                "--kernel",
                std::string(EMBER_GUEST_DIR) + "/virtio_net.elf",
                "--cmdline",
                "console=ttyS0 net_ip=" + std::string(kGuestIp) + cmdline,
                "--net",
                "tap=" + ns_->tap() + ",id=eth0,mac=" + kGuestMac + ",mtu=1500" + net_extra,
                "--timings"};
    }

    // Runs ember and the host side together; returns ember's result.
    test::ProcessResult exchange(const std::vector<std::string>& argv, int datagrams,
                                 HostSide& host, bool burst = false) {
        std::thread talker([&] { talk_to_guest(*ns_, datagrams, burst, host); });
        auto r = test::run_process(argv, 90000);
        talker.join();
        return r;
    }

    std::unique_ptr<NetNamespace> ns_;
};

TEST_F(VirtioNet, GuestAnswersArpPingAndEchoesUdp) {
    HostSide host;
    const auto r = exchange(ember_argv("", ""), 200, host);
    ASSERT_TRUE(host.entered);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("net: device at 0xd0000000 irq 5"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("mac 06:00:0a:c8:00:02, mtu 1500, link up"), std::string::npos) << r.out;
    EXPECT_LT(host.first_ping_attempts, 150) << "the guest never answered a ping\n" << r.out;
    EXPECT_EQ(host.pings_answered, 3);
    EXPECT_EQ(host.udp_echoed, 200) << "lost or corrupted UDP echoes";
    EXPECT_EQ(host.udp_mismatched, 0);
    EXPECT_TRUE(host.bye);
    // ARP: the host kernel learnt the guest's MAC from the guest's reply.
    EXPECT_NE(host.neighbours.find(std::string(kGuestIp) + " lladdr " + kGuestMac),
              std::string::npos)
        << host.neighbours;
    EXPECT_NE(r.out.find("udp 201"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bad 0, multi-buffer 0"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("virtio-net iface 'eth0' (tap '" + ns_->tap() + "'): rx "),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("0 dropped, 0 bad buffers"), std::string::npos) << r.err;
}

TEST_F(VirtioNet, WorksWithoutMergeableBuffersAndWithRateLimits) {
    // A burst of 30 datagrams against 40 frames/s in (4 per 100 ms) and 20 frames/s out: both
    // limiters must hold frames back, and still nothing is lost.
    HostSide host;
    const auto r =
        exchange(ember_argv(",rx-ops=4/100,tx-ops=2/100,rx-bw=1M,tx-bw=1M", " net_mrg=0"), 30, host,
                 /*burst=*/true);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("features 0x120010028"), std::string::npos) << "no MRG_RXBUF\n" << r.out;
    EXPECT_EQ(host.pings_answered, 3);
    EXPECT_EQ(host.udp_echoed, 30);
    EXPECT_EQ(host.udp_mismatched, 0);
    EXPECT_TRUE(host.bye);
    EXPECT_EQ(r.err.find(" 0 throttled"), std::string::npos) << "a limiter never held back\n"
                                                             << r.err;
    EXPECT_NE(r.err.find("0 dropped, 0 bad buffers"), std::string::npos) << r.err;
}

TEST_F(VirtioNet, MissingTapIsAClearError) {
    const std::vector<std::string> argv{ns_->ip(),    "netns", "exec",          ns_->name(),
                                        EMBER_BINARY, "--net", "tap=nosuchtap0"};
    const auto r = test::run_process(argv, 20000);
    EXPECT_EQ(r.status, 66) << r.err;
    EXPECT_NE(r.err.find("tap 'nosuchtap0' does not exist"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ip tuntap add dev nosuchtap0 mode tap"), std::string::npos) << r.err;
}

// Through the config file (the API's model): a missing tap is the same clear error. Needs no
// privileges: ember checks that the interface exists before touching /dev/net/tun.
TEST(VirtioNetConfig, ConfigFileInterfaceWithAMissingTapIsAClearError) {
    EMBER_REQUIRE_KVM();
    const fs::path path =
        fs::temp_directory_path() / fmt::format("ember-net-config-{}.json", ::getpid());
    std::ofstream(path) << R"({"network-interfaces": [{"iface_id": "eth0",
        "host_dev_name": "nosuchtap1", "guest_mac": "06:00:0a:c8:00:02"}]})";
    const auto r = test::run_process({EMBER_BINARY, "--config-file", path.string()});
    fs::remove(path);
    EXPECT_EQ(r.status, 66) << r.err;
    EXPECT_NE(r.err.find("tap 'nosuchtap1' does not exist"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ip tuntap add dev nosuchtap1 mode tap"), std::string::npos) << r.err;
}

} // namespace
} // namespace ember
