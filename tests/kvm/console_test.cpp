// KVM tier: console input. Boots the echo guest (resources/guests/echo.c) with the real ember
// binary and feeds its stdin through a pipe: ember's 16550A must hand every byte to the guest, in
// order, pausing stdin while the receiver is full.
#include "tests/kvm/kvm_available.hpp"
#include "tests/kvm/subprocess.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

namespace ember {
namespace {

std::string echo_guest() {
    return std::string(EMBER_GUEST_DIR) + "/echo.elf";
}

test::ProcessResult run_echo(const std::string& input, const std::string& cmdline = "",
                             int timeout_ms = 60000) {
    std::vector<std::string> argv{EMBER_BINARY, "--kernel", echo_guest()};
    if (!cmdline.empty()) {
        argv.emplace_back("--cmdline");
        argv.push_back(cmdline);
    }
    return test::run_process(argv, timeout_ms, &input);
}

// What the echo guest prints for `input` (which holds no 'q'), followed by a 'q'.
std::string expected_echo(const std::string& input) {
    std::string out = "echo: ready\n";
    for (const char c : input)
        out += c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    out += "\necho: bye\n";
    return out;
}

// n bytes cycling through all 256 values except 'q' (NUL, CR, control and high bytes included).
std::string all_bytes_but_q(size_t n) {
    std::string s;
    s.reserve(n);
    for (size_t i = 0; s.size() < n; ++i) {
        const auto c = static_cast<char>(static_cast<unsigned char>(i % 256));
        if (c != 'q') s += c;
    }
    return s;
}

// Where two outputs first differ, for a readable failure on long outputs.
std::string first_difference(const std::string& want, const std::string& got) {
    size_t i = 0;
    while (i < want.size() && i < got.size() && want[i] == got[i])
        ++i;
    return "outputs differ from byte " + std::to_string(i) + " (expected " +
           std::to_string(want.size()) + " bytes, got " + std::to_string(got.size()) + ")";
}

class Console : public ::testing::Test {
protected:
    void SetUp() override { EMBER_REQUIRE_KVM(); }
};

TEST_F(Console, EchoGuestUppercasesInputUntilQ) {
    auto r = run_echo("hello, World 42\nq");
    EXPECT_FALSE(r.timed_out) << r.err;
    EXPECT_EQ(r.out, "echo: ready\nHELLO, WORLD 42\n\necho: bye\n");
    EXPECT_EQ(r.status, 16) << r.err; // bytes before the 'q'
}

TEST_F(Console, InputAfterQIsNotRead) {
    auto r = run_echo("abqcd");
    EXPECT_EQ(r.out, "echo: ready\nAB\necho: bye\n");
    EXPECT_EQ(r.status, 2) << r.err;

    auto only_q = run_echo("q");
    EXPECT_EQ(only_q.out, "echo: ready\n\necho: bye\n");
    EXPECT_EQ(only_q.status, 0) << only_q.err;
}

// 5000 bytes through a one-byte receiver (the guest leaves the FIFOs off): ember must stop
// reading stdin after each byte and resume when the guest takes it.
TEST_F(Console, InputLargerThanTheReceiverArrivesInOrder) {
    const std::string input = all_bytes_but_q(5000);
    auto r = run_echo(input + "q");
    EXPECT_FALSE(r.timed_out) << r.err;
    const std::string want = expected_echo(input);
    EXPECT_TRUE(r.out == want) << first_difference(want, r.out);
    EXPECT_EQ(r.status, 5000 % 256) << r.err;
}

// The same through the 64-byte receive FIFO (echo fifo): ember fills the FIFO, pauses stdin while
// it is full and refills it as the guest drains it.
TEST_F(Console, InputLargerThanTheFifoArrivesInOrder) {
    const std::string input = all_bytes_but_q(5000);
    auto r = run_echo(input + "q", "fifo");
    EXPECT_FALSE(r.timed_out) << r.err;
    const std::string want = expected_echo(input);
    EXPECT_TRUE(r.out == want) << first_difference(want, r.out);
    EXPECT_EQ(r.status, 5000 % 256) << r.err;
}

// A regular file cannot be watched with epoll: ember reads it whenever the guest has room.
TEST_F(Console, InputFromARegularFileArrives) {
    const std::string input = all_bytes_but_q(3000);
    const std::string path = ::testing::TempDir() + "ember-console-input.bin";
    {
        std::ofstream file(path, std::ios::binary);
        file << input << 'q';
    }
    auto r = test::run_process(
        {"/bin/sh", "-c",
         std::string("exec ") + EMBER_BINARY + " --kernel " + echo_guest() + " < " + path},
        60000);
    EXPECT_FALSE(r.timed_out) << r.err;
    const std::string want = expected_echo(input);
    EXPECT_TRUE(r.out == want) << first_difference(want, r.out);
    EXPECT_EQ(r.status, 3000 % 256) << r.err;
}

} // namespace
} // namespace ember
