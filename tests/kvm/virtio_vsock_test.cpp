// KVM tier: virtio-vsock end to end with real Unix sockets. The virtio_vsock guest
// (resources/guests/virtio_vsock.c) runs a small vsock stack with the polled ring-3 driver: an
// echo server on guest port 1234 and a client to a host port. This test plays the host
// processes: it connects to ember's uds_path with `CONNECT 1234\n` (several streams at once) and
// listens on `<uds_path>_5000` for the guest's connection, echoing it.
#include "tests/kvm/api_client.hpp"
#include "tests/kvm/kvm_available.hpp"
#include "tests/kvm/subprocess.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace ember {
namespace {

namespace fs = std::filesystem;

std::string guest() {
    return std::string(EMBER_GUEST_DIR) + "/virtio_vsock.elf";
}

sockaddr_un unix_addr(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(&addr.sun_path[0], path.c_str(), path.size() + 1);
    return addr;
}

int unix_connect(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un addr = unix_addr(path);
    // Safety: sockaddr_un is a sockaddr by the socket API's contract.
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// Reads one line (up to '\n', byte by byte so nothing after it is taken); "" on EOF first.
std::string read_line(int fd) {
    std::string line;
    char c = 0;
    while (::read(fd, &c, 1) == 1) {
        line += c;
        if (c == '\n') break;
    }
    return line;
}

// Sends `data` and reads as many bytes back at the same time (the peer echoes); returns what
// came back (shorter if the peer closed first or nothing moved for 10 s).
std::string echo_through(int fd, const std::string& data) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::string back;
    size_t sent = 0;
    std::vector<char> buf(65536);
    while (back.size() < data.size()) {
        pollfd p{fd, static_cast<short>(POLLIN | (sent < data.size() ? POLLOUT : 0)), 0};
        if (::poll(&p, 1, 10000) <= 0) break;
        if ((p.revents & POLLOUT) != 0) {
            const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
            if (n > 0) sent += static_cast<size_t>(n);
        }
        if ((p.revents & (POLLIN | POLLHUP)) != 0) {
            const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n == 0) break;
            if (n > 0) back.append(buf.data(), static_cast<size_t>(n));
        }
    }
    return back;
}

std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (char& c : s)
        c = static_cast<char>(gen() & 0xff);
    return s;
}

class VirtioVsock : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/ember-vsock-kvm-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        uds_ = (dir_ / "v.sock").string();
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path dir_;
    std::string uds_;
};

TEST_F(VirtioVsock, EchoBothWaysWithConcurrentStreams) {
    EMBER_REQUIRE_KVM();
    // The guest's client connects to host port 5000: an echo server here.
    const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un addr = unix_addr(uds_ + "_5000");
    // Safety: as above.
    ASSERT_EQ(::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(listener, 4), 0);
    size_t guest_bytes = 0;
    std::thread echo([&] {
        pollfd p{listener, POLLIN, 0};
        if (::poll(&p, 1, 20000) <= 0) return;
        const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        std::vector<char> buf(65536);
        for (;;) {
            const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
            if (n <= 0) break;
            guest_bytes += static_cast<size_t>(n);
            if (::send(fd, buf.data(), static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
        }
        ::close(fd);
    });

    test::BackgroundEmber vm({EMBER_BINARY, "--kernel", guest(), "--cmdline",
                              "console=ttyS0 vsock_listen=1234 vsock_expect=3 vsock_host=5000 "
                              "vsock_bytes=300000 vsock_refused=5999",
                              "--vsock", "cid=3,uds=" + uds_, "--timings"},
                             dir_);
    ASSERT_TRUE(vm.wait_for_output("vsock: listening on port 1234")) << vm.out() << vm.err();

    // A CONNECT to a guest port nobody listens on: the socket closes without an OK line.
    {
        const int fd = unix_connect(uds_);
        ASSERT_GE(fd, 0);
        const std::string connect = "CONNECT 77\n";
        ASSERT_EQ(::write(fd, connect.data(), connect.size()),
                  static_cast<ssize_t>(connect.size()));
        EXPECT_EQ(read_line(fd), "");
        ::close(fd);
    }

    // Three host streams at once, 200 000 random bytes each, echoed by the guest.
    std::vector<std::string> ok(3);
    std::vector<std::string> back(3);
    std::vector<std::thread> hosts;
    for (size_t i = 0; i < 3; ++i) {
        hosts.emplace_back([&, i] {
            const int fd = unix_connect(uds_);
            if (fd < 0) return;
            const std::string connect = "CONNECT 1234\n";
            if (::write(fd, connect.data(), connect.size()) != static_cast<ssize_t>(connect.size()))
                return;
            ok[i] = read_line(fd);
            back[i] = echo_through(fd, random_bytes(200000, static_cast<unsigned>(i)));
            ::close(fd);
        });
    }
    for (auto& t : hosts)
        t.join();
    std::set<std::string> ports;
    for (size_t i = 0; i < 3; ++i) {
        ASSERT_TRUE(ok[i].starts_with("OK ")) << "stream " << i << ": '" << ok[i] << "'";
        EXPECT_GE(std::stoul(ok[i].substr(3)), 1UL << 30) << ok[i];
        ports.insert(ok[i]);
        EXPECT_TRUE(back[i] == random_bytes(200000, static_cast<unsigned>(i)))
            << "stream " << i << ": " << back[i].size() << " bytes came back";
    }
    EXPECT_EQ(ports.size(), 3U) << "two streams got the same host port";

    EXPECT_EQ(vm.wait(30000), 0) << vm.out() << vm.err();
    echo.join();
    ::close(listener);
    const std::string out = vm.out();
    EXPECT_NE(out.find("vsock: guest cid 3"), std::string::npos) << out;
    EXPECT_NE(out.find("vsock: connect to host port 5999 refused (RST)"), std::string::npos) << out;
    EXPECT_NE(out.find("vsock: guest->host port 5000: 300000 bytes echoed intact"),
              std::string::npos)
        << out;
    EXPECT_EQ(guest_bytes, 300000U);
    size_t served = 0;
    for (size_t at = 0;
         (at = out.find("200000 bytes echoed, closed by the host", at)) != std::string::npos; ++at)
        ++served;
    EXPECT_EQ(served, 3U) << out;
    EXPECT_NE(out.find("vsock: done: 3 host streams served, client ok"), std::string::npos) << out;
    EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;
    // --timings: the device's own account.
    const std::string err = vm.err();
    EXPECT_NE(err.find("streams: 4 from the host, 1 from the guest, 1 refused"), std::string::npos)
        << err;
    EXPECT_NE(err.find("0 bad; "), std::string::npos) << err;
    // ember removed its listening socket.
    EXPECT_FALSE(fs::exists(uds_));
}

TEST_F(VirtioVsock, ConfigFileVsockReachesTheGuest) {
    EMBER_REQUIRE_KVM();
    const fs::path config = dir_ / "vm.json";
    std::ofstream(config) << fmt::format(
        R"({{"boot-source": {{"kernel_image_path": "{}", "boot_args": "console=ttyS0"}},
            "vsock": {{"guest_cid": 77, "uds_path": "{}"}}}})",
        guest(), uds_);
    const auto r = test::run_process({EMBER_BINARY, "--no-api", "--config-file", config.string()});
    ASSERT_FALSE(r.timed_out);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("vsock: guest cid 77"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("vsock: done: 0 host streams served, client off"), std::string::npos)
        << r.out;
}

TEST_F(VirtioVsock, AnExistingUdsPathIsRefusedAndKept) {
    EMBER_REQUIRE_KVM();
    std::ofstream(uds_) << "not ember's";
    const auto r =
        test::run_process({EMBER_BINARY, "--kernel", guest(), "--vsock", "cid=3,uds=" + uds_});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("remove it or choose another path"), std::string::npos) << r.err;
    std::ifstream in(uds_);
    std::string content;
    std::getline(in, content);
    EXPECT_EQ(content, "not ember's");
}

} // namespace
} // namespace ember
