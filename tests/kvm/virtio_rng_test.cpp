// KVM tier: the virtio-rng device end to end. The virtio_rng guest (resources/guests/virtio_rng.c)
// finds the device among the virtio-mmio windows, asks for random bytes with its polled ring-3
// driver and prints what it got.
#include "tests/kvm/kvm_available.hpp"
#include "tests/kvm/subprocess.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace ember {
namespace {

std::string guest() {
    return std::string(EMBER_GUEST_DIR) + "/virtio_rng.elf";
}

test::ProcessResult run(const std::string& cmdline, const std::vector<std::string>& extra) {
    std::vector<std::string> a{EMBER_BINARY, "--kernel", guest(), "--cmdline", cmdline};
    a.insert(a.end(), extra.begin(), extra.end());
    return test::run_process(a);
}

// The 16 bytes after "rng: first bytes".
std::vector<std::string> first_bytes(const std::string& out) {
    const std::string key = "rng: first bytes";
    const size_t at = out.find(key);
    if (at == std::string::npos) return {};
    std::istringstream line(out.substr(at + key.size(), out.find('\n', at) - at - key.size()));
    std::vector<std::string> bytes;
    for (std::string b; line >> b;)
        bytes.push_back(b);
    return bytes;
}

TEST(VirtioRng, GuestGetsRandomBytes) {
    EMBER_REQUIRE_KVM();
    const auto r = run("console=ttyS0", {"--entropy", "--timings"});
    ASSERT_FALSE(r.timed_out);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("rng: device at 0xd0000000 irq 5"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("rng: lengths 256 128 16"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("rng: 400 bytes"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
    const auto bytes = first_bytes(r.out);
    ASSERT_EQ(bytes.size(), 16U) << r.out;
    EXPECT_GT(std::set<std::string>(bytes.begin(), bytes.end()).size(), 1U) << "all equal";
    // --timings counts the device's work: 3 requests and their 400 bytes.
    EXPECT_NE(r.err.find("virtio-rng: 3 requests, 400 bytes, 0 bad requests"), std::string::npos)
        << r.err;
}

TEST(VirtioRng, TwoRunsGetDifferentBytes) {
    EMBER_REQUIRE_KVM();
    const auto a = run("console=ttyS0", {"--entropy"});
    const auto b = run("console=ttyS0", {"--entropy"});
    ASSERT_EQ(a.status, 0) << a.out;
    ASSERT_EQ(b.status, 0) << b.out;
    EXPECT_NE(first_bytes(a.out), first_bytes(b.out));
}

TEST(VirtioRng, ReadableBufferGetsZeroBytesAndTheDeviceGoesOn) {
    EMBER_REQUIRE_KVM();
    const auto r = run("console=ttyS0 rng=readable", {"--entropy"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("rng: readable chain returned 0 bytes, buffer untouched"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("rng: next request 16 bytes"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("virtio-rng buffers are write-only"), std::string::npos) << r.err;
}

TEST(VirtioRng, RateLimitedDeviceStillServesEveryRequest) {
    EMBER_REQUIRE_KVM();
    // 20 requests of 64 bytes against 640 bytes per 10 ms: the limiter must hold some back.
    const auto r = run("console=ttyS0 rng=many rng_requests=20",
                       {"--entropy", "bw=640/10,ops=10/10", "--timings"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("rng: 20 requests, 1280 bytes"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("virtio-rng: 20 requests, 1280 bytes"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(" 0 throttled"), std::string::npos) << "the limiter never held back\n"
                                                             << r.err;
}

TEST(VirtioRng, NoDeviceWithoutTheFlag) {
    EMBER_REQUIRE_KVM();
    const auto r = run("console=ttyS0", {});
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("rng: no virtio-rng device"), std::string::npos) << r.out;
}

TEST(VirtioRng, ConfigFileEntropyMakesTheDevice) {
    EMBER_REQUIRE_KVM();
    const auto path = std::filesystem::temp_directory_path() /
                      fmt::format("ember-rng-config-{}.json", ::getpid());
    std::ofstream(path) << fmt::format(
        R"({{"boot-source": {{"kernel_image_path": "{}", "boot_args": "console=ttyS0"}},
            "entropy": {{"rate_limiter": {{"ops": {{"size": 100, "refill_time": 1000}}}}}}}})",
        guest());
    const auto r = test::run_process({EMBER_BINARY, "--config-file", path.string(), "--timings"});
    std::filesystem::remove(path);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("rng: 400 bytes"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("virtio-rng: 3 requests"), std::string::npos) << r.err;
}

TEST(VirtioRng, BadLimitIsRefused) {
    const auto r = run("console=ttyS0", {"--entropy", "bw=lots"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("--entropy bw=lots: not a number"), std::string::npos) << r.err;
}

} // namespace
} // namespace ember
