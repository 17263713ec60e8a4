#include "vmm/devices/serial.hpp"

#include "vmm/sys/unique_fd.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace ember::devices {
namespace {

using uart::Reg;

class CountingIrq final : public IrqLine {
public:
    void trigger() override { count.fetch_add(1); }
    std::atomic<int> count{0};
};

uint8_t rd(Serial& serial, Reg reg) {
    std::array<std::byte, 1> b{std::byte{0xee}};
    serial.read(static_cast<uint64_t>(reg), b);
    return std::to_integer<uint8_t>(b[0]);
}

void wr(Serial& serial, Reg reg, uint8_t value) {
    const std::array<std::byte, 1> b{std::byte{value}};
    serial.write(static_cast<uint64_t>(reg), b);
}

std::vector<std::byte> bytes_of(std::string_view s) {
    std::vector<std::byte> out;
    for (const char c : s)
        out.push_back(static_cast<std::byte>(c));
    return out;
}

size_t enqueue(Serial& serial, std::string_view s) {
    return serial.enqueue_input(bytes_of(s));
}

void write_batch(Serial& serial, std::string_view s) {
    serial.write_string(static_cast<uint64_t>(Reg::kData), bytes_of(s), 1);
}

struct Pipe {
    UniqueFd read_end;
    UniqueFd write_end;
};

Pipe make_pipe() {
    std::array<int, 2> fds{-1, -1};
    EXPECT_EQ(::pipe2(fds.data(), O_CLOEXEC), 0);
    return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Everything the reader can get right now.
std::string drain(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    EXPECT_EQ(::fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
    std::string out;
    std::array<char, 4096> buf{};
    for (;;) {
        const ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n <= 0) break;
        out.append(buf.data(), static_cast<size_t>(n));
    }
    return out;
}

// Ignores SIGPIPE for one test (as ember's main does), restoring the old disposition after.
class IgnoreSigpipe final {
public:
    IgnoreSigpipe() {
        struct sigaction ignore {};
        ignore.sa_handler = SIG_IGN;
        ::sigaction(SIGPIPE, &ignore, &old_);
    }
    ~IgnoreSigpipe() { ::sigaction(SIGPIPE, &old_, nullptr); }
    IgnoreSigpipe(const IgnoreSigpipe&) = delete;
    IgnoreSigpipe& operator=(const IgnoreSigpipe&) = delete;
    IgnoreSigpipe(IgnoreSigpipe&&) = delete;
    IgnoreSigpipe& operator=(IgnoreSigpipe&&) = delete;

private:
    struct sigaction old_ {};
};

class SerialTest : public ::testing::Test {
protected:
    CountingIrq irq_;
    Serial serial_{irq_, SerialOutput::kNoOutput};
};

// ---- registers ------------------------------------------------------------------------------

TEST_F(SerialTest, ResetValuesMatchTheDatasheet) {
    EXPECT_EQ(rd(serial_, Reg::kIer), 0x00);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x01); // no interrupt, FIFOs off
    EXPECT_EQ(rd(serial_, Reg::kLcr), 0x00);
    EXPECT_EQ(rd(serial_, Reg::kMcr), 0x00);
    EXPECT_EQ(rd(serial_, Reg::kLsr), 0x60); // THRE | TEMT
    EXPECT_EQ(rd(serial_, Reg::kMsr), 0xb0); // DCD | DSR | CTS, no deltas
    EXPECT_EQ(rd(serial_, Reg::kScr), 0x00);
    EXPECT_EQ(irq_.count, 0);
}

TEST_F(SerialTest, ScratchRegisterHoldsAnyByte) {
    wr(serial_, Reg::kScr, 0xa5);
    EXPECT_EQ(rd(serial_, Reg::kScr), 0xa5);
    wr(serial_, Reg::kScr, 0x5a);
    EXPECT_EQ(rd(serial_, Reg::kScr), 0x5a);
}

TEST_F(SerialTest, IerKeepsOnlyItsLowNibble) {
    // Linux's autoconfig writes 0 and 0x0f and expects both back exactly.
    wr(serial_, Reg::kIer, 0x00);
    EXPECT_EQ(rd(serial_, Reg::kIer), 0x00);
    wr(serial_, Reg::kIer, 0x0f);
    EXPECT_EQ(rd(serial_, Reg::kIer), 0x0f);
    wr(serial_, Reg::kIer, 0xff);
    EXPECT_EQ(rd(serial_, Reg::kIer), 0x0f);
}

TEST_F(SerialTest, McrKeepsOnlyItsLowFiveBits) {
    wr(serial_, Reg::kMcr, 0xef);
    EXPECT_EQ(rd(serial_, Reg::kMcr), 0x0f);
}

TEST_F(SerialTest, DlabSwitchesOffsetsZeroAndOneToTheDivisorLatch) {
    wr(serial_, Reg::kLcr, 0x80);
    EXPECT_EQ(rd(serial_, Reg::kData), 12); // reset divisor: 9600 baud
    EXPECT_EQ(rd(serial_, Reg::kIer), 0);
    wr(serial_, Reg::kData, 0x34);
    wr(serial_, Reg::kIer, 0x12);
    EXPECT_EQ(rd(serial_, Reg::kData), 0x34);
    EXPECT_EQ(rd(serial_, Reg::kIer), 0x12);
    EXPECT_EQ(rd(serial_, Reg::kLcr), 0x80);

    wr(serial_, Reg::kLcr, 0x03);
    EXPECT_EQ(rd(serial_, Reg::kIer), 0x00);  // the real IER, untouched by DLM writes
    EXPECT_EQ(rd(serial_, Reg::kData), 0x00); // empty RBR
    EXPECT_EQ(rd(serial_, Reg::kLcr), 0x03);

    wr(serial_, Reg::kLcr, 0x83);
    EXPECT_EQ(rd(serial_, Reg::kData), 0x34); // the divisor is kept
    EXPECT_EQ(rd(serial_, Reg::kIer), 0x12);
    EXPECT_EQ(serial_.counters().tx_bytes, 0U); // DLL writes transmit nothing
    EXPECT_EQ(irq_.count, 0);                   // DLM writes enable nothing
}

TEST_F(SerialTest, DlabDoesNotHideIir) {
    wr(serial_, Reg::kLcr, 0x80);
    wr(serial_, Reg::kIirFcr, 0x01);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0xc1);
}

TEST_F(SerialTest, FifoEnableIsReflectedInIirBits7And6) {
    wr(serial_, Reg::kIirFcr, 0x01);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0xc1);
    wr(serial_, Reg::kIirFcr, 0xc7); // trigger level 14, clear both FIFOs
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0xc1);
    wr(serial_, Reg::kIirFcr, 0x00);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x01);
    wr(serial_, Reg::kIirFcr, 0x06); // without bit 0 the other bits do nothing
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x01);
}

TEST_F(SerialTest, LsrAndMsrIgnoreWrites) {
    wr(serial_, Reg::kLsr, 0x00);
    wr(serial_, Reg::kMsr, 0x00);
    EXPECT_EQ(rd(serial_, Reg::kLsr), 0x60);
    EXPECT_EQ(rd(serial_, Reg::kMsr), 0xb0);
}

TEST_F(SerialTest, LinuxAutoconfigDetectsA16550A) {
    // The probe of drivers/tty/serial/8250/8250_port.c: autoconfig().
    wr(serial_, Reg::kLcr, 0xbf);
    wr(serial_, Reg::kIirFcr, 0x00); // "EFR" = 0: a plain FCR write on a 16550A
    wr(serial_, Reg::kLcr, 0x00);
    wr(serial_, Reg::kIirFcr, 0x01);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr) >> 6, 3); // 16550A
    wr(serial_, Reg::kLcr, 0x80);
    EXPECT_NE(rd(serial_, Reg::kIirFcr), 0x00); // no EFR: not an ST16C650V1
    wr(serial_, Reg::kLcr, 0x00);
    wr(serial_, Reg::kIer, 0x00);
    EXPECT_EQ(rd(serial_, Reg::kIer) & 0x40, 0); // no UUE bit: not an XScale UART
    EXPECT_NE(rd(serial_, Reg::kLsr), 0xff);     // the start-up "LSR safety check"
}

// ---- receiver -------------------------------------------------------------------------------

TEST_F(SerialTest, LsrDataReadyFollowsTheReceiver) {
    EXPECT_EQ(enqueue(serial_, "a"), 1U);
    EXPECT_EQ(rd(serial_, Reg::kLsr), 0x61);
    EXPECT_EQ(rd(serial_, Reg::kData), 'a');
    EXPECT_EQ(rd(serial_, Reg::kLsr), 0x60);
    EXPECT_EQ(rd(serial_, Reg::kData), 0x00); // empty RBR reads 0
}

TEST_F(SerialTest, FifoKeepsOrderAcrossTheRingBoundary) {
    wr(serial_, Reg::kIirFcr, 0x01);
    std::vector<std::byte> in(Serial::kRxFifoSize);
    for (size_t i = 0; i < in.size(); ++i)
        in[i] = static_cast<std::byte>(i);
    ASSERT_EQ(serial_.enqueue_input(in), Serial::kRxFifoSize);
    for (int i = 0; i < 40; ++i)
        ASSERT_EQ(rd(serial_, Reg::kData), i);
    for (size_t i = 0; i < 40; ++i)
        in[i] = static_cast<std::byte>(Serial::kRxFifoSize + i);
    ASSERT_EQ(serial_.enqueue_input(std::span(in).first(40)), 40U);
    for (size_t i = 40; i < Serial::kRxFifoSize + 40; ++i)
        ASSERT_EQ(rd(serial_, Reg::kData), i) << "byte " << i;
    EXPECT_EQ(rd(serial_, Reg::kLsr), 0x60);
    EXPECT_EQ(serial_.counters().rx_bytes, Serial::kRxFifoSize + 40);
}

TEST_F(SerialTest, InputBeyondTheFifoIsRefusedAndRoomIsSignalledOnce) {
    int room_calls = 0;
    serial_.set_rx_room_callback([&] { ++room_calls; });
    wr(serial_, Reg::kIirFcr, 0x01);
    const std::vector<std::byte> in(100, std::byte{'x'});
    EXPECT_EQ(serial_.enqueue_input(in), 64U);
    EXPECT_EQ(serial_.rx_room(), 0U);
    EXPECT_FALSE(serial_.rx_has_room());
    EXPECT_EQ(enqueue(serial_, "y"), 0U);
    EXPECT_EQ(serial_.counters().rx_bytes, 64U);
    EXPECT_EQ(room_calls, 0);

    EXPECT_EQ(rd(serial_, Reg::kData), 'x');
    EXPECT_EQ(room_calls, 1); // full -> room
    EXPECT_EQ(serial_.rx_room(), 1U);
    EXPECT_EQ(rd(serial_, Reg::kData), 'x');
    EXPECT_EQ(room_calls, 1); // not full before: no call
    EXPECT_EQ(enqueue(serial_, "zzz"), 2U);
    EXPECT_EQ(rd(serial_, Reg::kData), 'x');
    EXPECT_EQ(room_calls, 2);
}

TEST_F(SerialTest, WithoutFifoTheReceiverHoldsOneByte) {
    int room_calls = 0;
    serial_.set_rx_room_callback([&] { ++room_calls; });
    EXPECT_EQ(enqueue(serial_, "ab"), 1U);
    EXPECT_FALSE(serial_.rx_has_room());
    EXPECT_EQ(rd(serial_, Reg::kData), 'a');
    EXPECT_EQ(room_calls, 1);
    EXPECT_EQ(serial_.rx_room(), 1U);
}

TEST_F(SerialTest, FcrClearRxEmptiesTheFifoAndSignalsRoom) {
    int room_calls = 0;
    serial_.set_rx_room_callback([&] { ++room_calls; });
    wr(serial_, Reg::kIirFcr, 0x01);
    ASSERT_EQ(serial_.enqueue_input(std::vector<std::byte>(64, std::byte{'q'})), 64U);
    wr(serial_, Reg::kIirFcr, 0x03);
    EXPECT_EQ(rd(serial_, Reg::kLsr), 0x60);
    EXPECT_EQ(room_calls, 1);
    EXPECT_EQ(serial_.rx_room(), 64U);
}

TEST_F(SerialTest, ChangingFifoModeEmptiesTheReceiver) {
    wr(serial_, Reg::kIirFcr, 0x01);
    EXPECT_EQ(enqueue(serial_, "ab"), 2U);
    wr(serial_, Reg::kIirFcr, 0x00);
    EXPECT_EQ(rd(serial_, Reg::kLsr), 0x60);
}

TEST(SerialThreads, InputFlowControlLosesNothing) {
    // The VMM thread feeds 10000 bytes, waiting on the room callback when the FIFO is full; a
    // vCPU thread polls LSR and reads RBR, as a polling guest does.
    CountingIrq irq;
    Serial serial(irq, SerialOutput::kNoOutput);
    std::atomic<int> room_signals{0};
    serial.set_rx_room_callback([&] { room_signals.fetch_add(1); });
    wr(serial, Reg::kIirFcr, 0x01);
    constexpr size_t kTotal = 10000;
    std::vector<std::byte> in(kTotal);
    for (size_t i = 0; i < kTotal; ++i)
        in[i] = static_cast<std::byte>(i % 251);

    std::vector<std::byte> got;
    std::thread vcpu([&] {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (got.size() < kTotal && std::chrono::steady_clock::now() < deadline) {
            if ((rd(serial, Reg::kLsr) & 0x01) != 0)
                got.push_back(std::byte{rd(serial, Reg::kData)});
        }
    });
    size_t sent = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (sent < kTotal && std::chrono::steady_clock::now() < deadline) {
        const int seen = room_signals.load();
        sent += serial.enqueue_input(std::span(in).subspan(sent));
        // Wait for room the way the owner does: on the callback, re-checking the state.
        while (sent < kTotal && !serial.rx_has_room() && room_signals.load() == seen &&
               std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
    }
    vcpu.join();
    EXPECT_EQ(sent, kTotal);
    EXPECT_EQ(got, in);
    EXPECT_GT(room_signals.load(), 0);
}

// ---- interrupts -----------------------------------------------------------------------------

TEST_F(SerialTest, IirReportsTheHighestPriorityCauseAndClearsThrEmptyOnRead) {
    wr(serial_, Reg::kIirFcr, 0x01);
    wr(serial_, Reg::kIer, 0x03); // ERBFI | ETBEI
    EXPECT_EQ(enqueue(serial_, "x"), 1U);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0xc4); // received data over THR empty
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0xc4); // reading IIR does not clear RX data...
    EXPECT_EQ(rd(serial_, Reg::kData), 'x');    // ...reading RBR does
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0xc2); // THR empty was kept while hidden
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0xc1); // and cleared by the read that reported it
}

TEST_F(SerialTest, ThrWriteClearsAndRaisesThrEmptyAgain) {
    wr(serial_, Reg::kIer, 0x02);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x02);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x01);
    wr(serial_, Reg::kData, 'a');
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x02);
}

TEST_F(SerialTest, DisablingEtbeiHidesThrEmpty) {
    wr(serial_, Reg::kIer, 0x02);
    wr(serial_, Reg::kIer, 0x00);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x01);
}

TEST_F(SerialTest, EnablingEtbeiRaisesAnInterrupt) {
    wr(serial_, Reg::kIer, 0x02);
    EXPECT_EQ(irq_.count, 1);
    wr(serial_, Reg::kIer, 0x02); // already on: no new cause
    EXPECT_EQ(irq_.count, 1);
    wr(serial_, Reg::kIer, 0x00);
    wr(serial_, Reg::kIer, 0x02);
    EXPECT_EQ(irq_.count, 2);
    EXPECT_EQ(serial_.counters().interrupts, 2U);
}

TEST_F(SerialTest, EachThrWriteAndEachBatchRaiseOneInterrupt) {
    wr(serial_, Reg::kIer, 0x02);
    ASSERT_EQ(irq_.count, 1);
    wr(serial_, Reg::kData, 'a');
    wr(serial_, Reg::kData, 'b');
    wr(serial_, Reg::kData, 'c');
    EXPECT_EQ(irq_.count, 4);
    write_batch(serial_, "0123456789");
    EXPECT_EQ(irq_.count, 5);
}

TEST_F(SerialTest, NoInterruptsWhileDisabled) {
    wr(serial_, Reg::kData, 'a');
    write_batch(serial_, "bc");
    EXPECT_EQ(enqueue(serial_, "d"), 1U);
    EXPECT_EQ(irq_.count, 0);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x01);
}

TEST_F(SerialTest, ReceivedDataRaisesAnInterruptWhenItBecomesAvailable) {
    wr(serial_, Reg::kIirFcr, 0x01);
    wr(serial_, Reg::kIer, 0x01);
    EXPECT_EQ(irq_.count, 0); // nothing received yet
    EXPECT_EQ(enqueue(serial_, "a"), 1U);
    EXPECT_EQ(irq_.count, 1);
    EXPECT_EQ(enqueue(serial_, "b"), 1U); // still pending: no new edge
    EXPECT_EQ(irq_.count, 1);
    EXPECT_EQ(rd(serial_, Reg::kData), 'a');
    EXPECT_EQ(rd(serial_, Reg::kData), 'b');
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0xc1);
    EXPECT_EQ(enqueue(serial_, "c"), 1U);
    EXPECT_EQ(irq_.count, 2);
}

TEST_F(SerialTest, EnablingErbfiWithDataWaitingRaisesAnInterrupt) {
    EXPECT_EQ(enqueue(serial_, "a"), 1U);
    EXPECT_EQ(irq_.count, 0);
    wr(serial_, Reg::kIer, 0x01);
    EXPECT_EQ(irq_.count, 1);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x04);
}

TEST_F(SerialTest, ModemStatusChangeRaisesTheLowestPriorityInterrupt) {
    wr(serial_, Reg::kIer, 0x08);
    wr(serial_, Reg::kMcr, 0x10); // loopback: DCD/DSR/CTS drop to MCR's zeros
    EXPECT_EQ(irq_.count, 1);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x00);
    EXPECT_EQ(rd(serial_, Reg::kMsr), 0x0b); // DDCD | DDSR | DCTS
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x01);
}

TEST_F(SerialTest, LoopbackOverrunRaisesALineStatusInterrupt) {
    wr(serial_, Reg::kMcr, 0x10);
    wr(serial_, Reg::kIer, 0x04);
    wr(serial_, Reg::kData, 'a'); // fills the 1-byte receiver (FIFOs off)
    EXPECT_EQ(irq_.count, 0);
    wr(serial_, Reg::kData, 'b'); // overrun: 'b' is lost
    EXPECT_EQ(irq_.count, 1);
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x06);
    EXPECT_EQ(rd(serial_, Reg::kLsr), 0x63); // DR | OE | THRE | TEMT
    EXPECT_EQ(rd(serial_, Reg::kLsr), 0x61); // OE clears on read
    EXPECT_EQ(rd(serial_, Reg::kIirFcr), 0x01);
    EXPECT_EQ(rd(serial_, Reg::kData), 'a');
}

// ---- loopback -------------------------------------------------------------------------------

TEST_F(SerialTest, LoopbackWiresModemControlToModemStatus) {
    wr(serial_, Reg::kMcr, 0x10);
    EXPECT_EQ(rd(serial_, Reg::kMsr), 0x0b); // the three lines dropped
    EXPECT_EQ(rd(serial_, Reg::kMsr), 0x00); // deltas clear on read
    wr(serial_, Reg::kMcr, 0x1f);            // DTR RTS OUT1 OUT2 -> DSR CTS RI DCD
    EXPECT_EQ(rd(serial_, Reg::kMsr), 0xfb); // RI rising is not a delta
    EXPECT_EQ(rd(serial_, Reg::kMsr), 0xf0);
    wr(serial_, Reg::kMcr, 0x1b); // OUT1 off: RI trailing edge
    EXPECT_EQ(rd(serial_, Reg::kMsr), 0xb4);
    wr(serial_, Reg::kMcr, 0x0b); // loopback off: the cable's DCD/DSR/CTS, as before
    EXPECT_EQ(rd(serial_, Reg::kMsr), 0xb0);
}

TEST(SerialLoopback, ThrFeedsRbrAndNothingIsOutput) {
    CountingIrq irq;
    Pipe pipe = make_pipe();
    Serial serial(irq, pipe.write_end.get());
    wr(serial, Reg::kIirFcr, 0x01);
    wr(serial, Reg::kMcr, 0x10);
    wr(serial, Reg::kData, 'z');
    write_batch(serial, "abc");
    EXPECT_EQ(rd(serial, Reg::kLsr), 0x61);
    EXPECT_EQ(rd(serial, Reg::kData), 'z');
    EXPECT_EQ(rd(serial, Reg::kData), 'a');
    EXPECT_EQ(rd(serial, Reg::kData), 'b');
    EXPECT_EQ(rd(serial, Reg::kData), 'c');
    EXPECT_EQ(rd(serial, Reg::kLsr), 0x60);
    EXPECT_EQ(drain(pipe.read_end.get()), "");
    EXPECT_EQ(serial.counters().tx_bytes, 0U);
}

TEST_F(SerialTest, LoopbackDisconnectsHostInputUntilLeft) {
    int room_calls = 0;
    serial_.set_rx_room_callback([&] { ++room_calls; });
    wr(serial_, Reg::kIirFcr, 0x01);
    wr(serial_, Reg::kMcr, 0x10);
    EXPECT_FALSE(serial_.rx_has_room());
    EXPECT_EQ(enqueue(serial_, "a"), 0U);
    EXPECT_EQ(room_calls, 0);
    wr(serial_, Reg::kMcr, 0x00);
    EXPECT_EQ(room_calls, 1);
    EXPECT_EQ(serial_.rx_room(), 64U);
}

// ---- output ---------------------------------------------------------------------------------

TEST(SerialOutputTest, ThrWritesAndBatchesReachThePipe) {
    CountingIrq irq;
    Pipe pipe = make_pipe();
    Serial serial(irq, pipe.write_end.get());
    wr(serial, Reg::kData, 'h');
    wr(serial, Reg::kData, 'i');
    write_batch(serial, " there\n");
    EXPECT_EQ(drain(pipe.read_end.get()), "hi there\n");
    const SerialCounters c = serial.counters();
    EXPECT_EQ(c.tx_bytes, 9U);
    EXPECT_EQ(c.tx_written, 9U);
    EXPECT_EQ(c.tx_dropped, 0U);
}

TEST(SerialOutputTest, ABatchIsOneWriteAndEachThrWriteIsOne) {
    // A SOCK_SEQPACKET socket keeps write(2) boundaries: one message per write.
    std::array<int, 2> fds{-1, -1};
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds.data()), 0);
    const UniqueFd reader(fds[0]);
    const UniqueFd writer(fds[1]);
    CountingIrq irq;
    Serial serial(irq, writer.get());

    const std::string line = "Linux version 6.1 (ember@host) #1 SMP\n";
    write_batch(serial, line);
    wr(serial, Reg::kData, 'a');
    wr(serial, Reg::kData, 'b');

    std::array<char, 256> buf{};
    ssize_t n = ::recv(reader.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    ASSERT_EQ(n, static_cast<ssize_t>(line.size()));
    EXPECT_EQ(std::string_view(buf.data(), line.size()), line);
    n = ::recv(reader.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    ASSERT_EQ(n, 1);
    EXPECT_EQ(buf[0], 'a');
    n = ::recv(reader.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    ASSERT_EQ(n, 1);
    EXPECT_EQ(buf[0], 'b');
    EXPECT_EQ(::recv(reader.get(), buf.data(), buf.size(), MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);
}

TEST(SerialOutputTest, BatchWithDlabSetWritesTheDivisorLatch) {
    CountingIrq irq;
    Pipe pipe = make_pipe();
    Serial serial(irq, pipe.write_end.get());
    wr(serial, Reg::kLcr, 0x80);
    write_batch(serial, "ab");
    EXPECT_EQ(rd(serial, Reg::kData), 'b');
    EXPECT_EQ(drain(pipe.read_end.get()), "");
}

TEST(SerialOutputTest, WordWideStringsToThrAreBadAccesses) {
    CountingIrq irq;
    Pipe pipe = make_pipe();
    Serial serial(irq, pipe.write_end.get());
    serial.write_string(0, bytes_of("abcd"), 2);
    EXPECT_EQ(drain(pipe.read_end.get()), "");
    EXPECT_EQ(serial.counters().bad_accesses, 2U);
}

TEST(SerialOutputTest, ClosedPipeDropsAndCountsWithoutCrashing) {
    const IgnoreSigpipe ignore;
    CountingIrq irq;
    Pipe pipe = make_pipe();
    pipe.read_end.reset();
    Serial serial(irq, pipe.write_end.get());
    wr(serial, Reg::kIer, 0x02);
    wr(serial, Reg::kData, 'a');
    write_batch(serial, "bcd");
    const SerialCounters c = serial.counters();
    EXPECT_EQ(c.tx_bytes, 4U);
    EXPECT_EQ(c.tx_written, 0U);
    EXPECT_EQ(c.tx_dropped, 4U);
    EXPECT_EQ(rd(serial, Reg::kLsr), 0x60); // the guest still sees a working UART
    EXPECT_EQ(irq.count, 3);
}

TEST(SerialOutputTest, FullNonBlockingPipeDropsAfterABoundedWaitThenRecovers) {
    CountingIrq irq;
    Pipe pipe = make_pipe();
    (void)::fcntl(pipe.write_end.get(), F_SETPIPE_SZ, 4096);
    const int capacity = ::fcntl(pipe.write_end.get(), F_GETPIPE_SZ);
    ASSERT_GT(capacity, 0);
    ASSERT_EQ(::fcntl(pipe.write_end.get(), F_SETFL, O_NONBLOCK), 0);
    Serial serial(irq, pipe.write_end.get());

    const std::string big(static_cast<size_t>(capacity) + 1000, 'x');
    auto start = std::chrono::steady_clock::now();
    write_batch(serial, big); // fills the pipe (a short write), waits once, drops the rest
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    SerialCounters c = serial.counters();
    EXPECT_EQ(c.tx_written, static_cast<uint64_t>(capacity));
    EXPECT_EQ(c.tx_dropped, 1000U);

    // Stalled: further writes to the full pipe drop at once instead of waiting each time.
    start = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i)
        write_batch(serial, "0123456789");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 20 * SerialOutput::kStallTimeout / 2);
    c = serial.counters();
    EXPECT_EQ(c.tx_dropped, 1200U);

    // The reader catches up: output flows again.
    EXPECT_EQ(drain(pipe.read_end.get()), big.substr(0, static_cast<size_t>(capacity)));
    write_batch(serial, "ok\n");
    EXPECT_EQ(drain(pipe.read_end.get()), "ok\n");
    c = serial.counters();
    EXPECT_EQ(c.tx_written, static_cast<uint64_t>(capacity) + 3);
    EXPECT_EQ(c.tx_bytes, big.size() + 200 + 3);
}

TEST_F(SerialTest, NoOutputDiscardsWithoutCountingDrops) {
    wr(serial_, Reg::kData, 'a');
    write_batch(serial_, "bc");
    const SerialCounters c = serial_.counters();
    EXPECT_EQ(c.tx_bytes, 3U);
    EXPECT_EQ(c.tx_written, 0U);
    EXPECT_EQ(c.tx_dropped, 0U);
}

// ---- bad accesses ---------------------------------------------------------------------------

TEST_F(SerialTest, WideAndOutOfRangeAccessesAreCountedAndIgnored) {
    std::array<std::byte, 2> wide{std::byte{0}, std::byte{0}};
    serial_.read(0, wide);
    EXPECT_EQ(wide[0], std::byte{0xff});
    EXPECT_EQ(wide[1], std::byte{0xff});
    std::array<std::byte, 1> one{};
    serial_.read(8, one);
    EXPECT_EQ(one[0], std::byte{0xff});
    const std::array<std::byte, 2> value{std::byte{0x12}, std::byte{0x34}};
    serial_.write(static_cast<uint64_t>(Reg::kScr) - 1, value);
    EXPECT_EQ(rd(serial_, Reg::kScr), 0x00);
    EXPECT_EQ(rd(serial_, Reg::kMsr), 0xb0);
    EXPECT_EQ(serial_.counters().bad_accesses, 3U);
}

} // namespace
} // namespace ember::devices

namespace ember::devices {
namespace {

using uart::Reg;

// ---- THR-empty interrupt enable: the owner coalesces THR writes only while it is off -------

TEST_F(SerialTest, ThrInterruptCallbackFiresOnEachChangeOfIerBit1Only) {
    std::vector<bool> calls;
    serial_.set_thr_interrupt_callback([&](bool on) { calls.push_back(on); });
    wr(serial_, Reg::kIer, 0x01); // receive interrupt only: no change of bit 1
    wr(serial_, Reg::kIer, 0x03); // on
    wr(serial_, Reg::kIer, 0x07); // still on
    wr(serial_, Reg::kIer, 0x01); // off
    wr(serial_, Reg::kIer, 0x00);
    EXPECT_EQ(calls, (std::vector<bool>{true, false}));
}

TEST_F(SerialTest, ThrInterruptCallbackIgnoresDivisorLatchWrites) {
    std::vector<bool> calls;
    serial_.set_thr_interrupt_callback([&](bool on) { calls.push_back(on); });
    wr(serial_, Reg::kLcr, 0x80); // DLAB: offset 1 is DLM, not IER
    wr(serial_, Reg::kIer, 0x02);
    wr(serial_, Reg::kLcr, 0x03);
    EXPECT_TRUE(calls.empty());
    EXPECT_EQ(rd(serial_, Reg::kIer), 0x00);
}

} // namespace
} // namespace ember::devices
