#include "vmm/devices/i8042.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace ember::devices {
namespace {

constexpr uint64_t kData = i8042::kDataOffset;
constexpr uint64_t kCommand = i8042::kCommandOffset;

class CountingIrq final : public IrqLine {
public:
    void trigger() override { ++count; }
    int count = 0;
};

class I8042Test : public ::testing::Test {
protected:
    uint8_t rd(uint64_t offset) {
        std::array<std::byte, 1> b{std::byte{0xee}};
        dev_.read(offset, b);
        return std::to_integer<uint8_t>(b[0]);
    }
    void wr(uint64_t offset, uint8_t value) {
        const std::array<std::byte, 1> b{std::byte{value}};
        dev_.write(offset, b);
    }

    // Reads every byte the guest would take from the output buffer, the way an interrupt
    // handler does: while the status says the buffer is full.
    std::vector<uint8_t> drain() {
        std::vector<uint8_t> out;
        while ((rd(kCommand) & i8042::kStatusOutputFull) != 0 && out.size() < 100)
            out.push_back(rd(kData));
        return out;
    }

    std::vector<GuestExit> exits_;
    CountingIrq irq_;
    I8042 dev_{[this](GuestExit e) { exits_.push_back(std::move(e)); }, irq_};
};

TEST_F(I8042Test, StatusAtResetHasOnlyTheSystemAndUnlockedBits) {
    EXPECT_EQ(rd(kCommand), 0x14);
    EXPECT_TRUE(exits_.empty());
}

TEST_F(I8042Test, PulseResetCommandReportsAReset) {
    wr(kCommand, 0xfe);
    ASSERT_EQ(exits_.size(), 1U);
    EXPECT_EQ(exits_[0].kind, GuestExit::Kind::kReset);
    EXPECT_EQ(exits_[0].status, 0);
    EXPECT_EQ(exits_[0].detail, "guest requested a reset through the i8042 controller");
}

TEST_F(I8042Test, OnlyPulsesOfBitZeroReset) {
    wr(kCommand, 0xff); // pulses nothing
    wr(kCommand, 0xf1); // pulses bits 1..3, not the reset line
    EXPECT_TRUE(exits_.empty());
    wr(kCommand, 0xf0); // pulses all four, reset included
    ASSERT_EQ(exits_.size(), 1U);
    EXPECT_EQ(exits_[0].kind, GuestExit::Kind::kReset);
    EXPECT_EQ(dev_.counters().unknown_commands, 0U);
}

TEST_F(I8042Test, SelfTestAnswers0x55ThroughTheOutputBuffer) {
    wr(kCommand, 0xaa);
    EXPECT_EQ(rd(kCommand), 0x1d); // OBF | SYS | CMD | UNLOCKED
    EXPECT_EQ(rd(kData), 0x55);
    EXPECT_EQ(rd(kCommand), 0x1c); // OBF cleared by the read
}

TEST_F(I8042Test, InterfaceTestsAnswerNoError) {
    wr(kCommand, 0xab);
    EXPECT_EQ(rd(kCommand) & 0x01, 0x01);
    EXPECT_EQ(rd(kData), 0x00);
    wr(kCommand, 0xa9);
    EXPECT_EQ(rd(kCommand) & 0x01, 0x01);
    EXPECT_EQ(rd(kData), 0x00);
    EXPECT_EQ(rd(kCommand) & 0x01, 0x00);
}

TEST_F(I8042Test, CommandByteReadsAndWrites) {
    wr(kCommand, 0x20);
    EXPECT_EQ(rd(kData), 0x65);
    wr(kCommand, 0x60);
    EXPECT_EQ(rd(kCommand), 0x1c); // waiting for the data byte; nothing to read
    wr(kData, 0x47);
    wr(kCommand, 0x20);
    EXPECT_EQ(rd(kData), 0x47);
    wr(kCommand, 0x60);
    wr(kData, 0x00); // clears the system flag
    EXPECT_EQ(rd(kCommand), 0x10);
    EXPECT_EQ(dev_.counters().dropped_data, 0U);
}

TEST_F(I8042Test, EnableAndDisableCommandsEditTheCommandByte) {
    wr(kCommand, 0xad); // keyboard off: bit 4
    wr(kCommand, 0xa8); // AUX on: clear bit 5
    wr(kCommand, 0x20);
    EXPECT_EQ(rd(kData), 0x55); // 0x65 | 0x10 & ~0x20
    wr(kCommand, 0xae);
    wr(kCommand, 0xa7);
    wr(kCommand, 0x20);
    EXPECT_EQ(rd(kData), 0x65);
    EXPECT_EQ(dev_.counters().unknown_commands, 0U);
}

TEST_F(I8042Test, OutputPortWritesKeepingBitZeroDoNotReset) {
    wr(kCommand, 0xd0);
    EXPECT_EQ(rd(kData), 0xcf);
    wr(kCommand, 0xd1);
    wr(kData, 0xdd); // A20 off, as boot code writes it
    EXPECT_TRUE(exits_.empty());
    wr(kCommand, 0xd0);
    EXPECT_EQ(rd(kData), 0xdd);
}

TEST_F(I8042Test, OutputPortWriteClearingBitZeroResets) {
    wr(kCommand, 0xd1);
    wr(kData, 0xfe);
    ASSERT_EQ(exits_.size(), 1U);
    EXPECT_EQ(exits_[0].kind, GuestExit::Kind::kReset);
    EXPECT_EQ(exits_[0].status, 0);
    EXPECT_EQ(exits_[0].detail, "guest requested a reset through the i8042 output port");
}

TEST_F(I8042Test, AuxLoopEchoesTheByteAsAuxData) {
    wr(kCommand, 0xd3);
    wr(kData, 0x5a);
    EXPECT_EQ(rd(kCommand), 0x35); // OBF | SYS | UNLOCKED | AUXDATA, last write was data
    EXPECT_EQ(rd(kData), 0x5a);
    EXPECT_EQ(rd(kCommand), 0x14);
}

TEST_F(I8042Test, KeyboardBufferWriteEchoesTheByte) {
    wr(kCommand, 0xd2);
    wr(kData, 0xab);
    EXPECT_EQ(rd(kCommand), 0x15);
    EXPECT_EQ(rd(kData), 0xab);
}

TEST_F(I8042Test, BytesForTheAbsentKeyboardAreDropped) {
    wr(kData, 0xf2); // "identify", to the keyboard
    EXPECT_EQ(rd(kCommand), 0x14);
    EXPECT_EQ(dev_.counters().dropped_data, 1U);
}

TEST_F(I8042Test, UnknownCommandsAreCountedAndIgnored) {
    wr(kCommand, 0xc0);
    wr(kCommand, 0x00);
    EXPECT_EQ(rd(kCommand), 0x1c);
    EXPECT_EQ(dev_.counters().unknown_commands, 2U);
    EXPECT_TRUE(exits_.empty());
}

TEST_F(I8042Test, ANewCommandAbandonsOneWaitingForData) {
    wr(kCommand, 0x60);
    wr(kCommand, 0xaa);
    wr(kData, 0x00); // no command waits for it any more
    EXPECT_EQ(dev_.counters().dropped_data, 1U);
    EXPECT_EQ(rd(kData), 0x55);
    wr(kCommand, 0x20);
    EXPECT_EQ(rd(kData), 0x65);
}

TEST_F(I8042Test, DataReadWithNothingPendingRepeatsTheLastByte) {
    wr(kCommand, 0xaa);
    EXPECT_EQ(rd(kData), 0x55);
    EXPECT_EQ(rd(kData), 0x55);
    EXPECT_EQ(rd(kCommand) & 0x01, 0x00);
}

TEST_F(I8042Test, BadAccessesAreCountedAndIgnored) {
    std::array<std::byte, 1> one{};
    dev_.read(1, one); // port 0x61
    EXPECT_EQ(one[0], std::byte{0xff});
    std::array<std::byte, 2> wide{};
    dev_.read(kData, wide);
    EXPECT_EQ(wide[0], std::byte{0xff});
    const std::array<std::byte, 2> reset{std::byte{0xfe}, std::byte{0}};
    dev_.write(kCommand, reset);
    EXPECT_TRUE(exits_.empty());
    EXPECT_EQ(dev_.counters().bad_accesses, 3U);
}

TEST_F(I8042Test, CtrlAltDelIsTypedInSet1WhenTheControllerTranslates) {
    wr(kCommand, 0x60); // write CTR: keyboard interrupt on, translation on (Linux's choice)
    wr(kData, i8042::kCtrKbdInterrupt | i8042::kCtrSystem | i8042::kCtrTranslate);
    dev_.send_ctrl_alt_del();
    const std::vector<uint8_t> want(i8042::kCtrlAltDelSet1.begin(), i8042::kCtrlAltDelSet1.end());
    EXPECT_EQ(drain(), want);
    EXPECT_EQ(irq_.count, 8) << "one IRQ 1 edge per byte";
    EXPECT_EQ(dev_.counters().interrupts, 8U);
    EXPECT_TRUE(exits_.empty());
}

TEST_F(I8042Test, CtrlAltDelIsTypedInSet2WithoutTranslation) {
    wr(kCommand, 0x60);
    wr(kData, i8042::kCtrKbdInterrupt | i8042::kCtrSystem);
    dev_.send_ctrl_alt_del();
    const std::vector<uint8_t> want{0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
                                    0x71, 0xf0, 0x11, 0xf0, 0x14};
    EXPECT_EQ(drain(), want);
    EXPECT_EQ(irq_.count, 11);
}

TEST_F(I8042Test, KeysWaitWhileTheKeyboardIsDisabledAndRaiseNoIrqWithoutTheInterruptBit) {
    wr(kCommand, 0xad); // disable the keyboard
    dev_.send_ctrl_alt_del();
    EXPECT_EQ(rd(kCommand) & i8042::kStatusOutputFull, 0);
    wr(kCommand, 0x60); // interrupt off, translation on, keyboard still disabled
    wr(kData, i8042::kCtrSystem | i8042::kCtrTranslate | i8042::kCtrKbdDisabled);
    EXPECT_EQ(rd(kCommand) & i8042::kStatusOutputFull, 0);
    wr(kCommand, 0xae); // enable: the first key arrives, polled (no interrupt)
    EXPECT_EQ(drain().size(), 8U);
    EXPECT_EQ(irq_.count, 0);
}

TEST_F(I8042Test, InjectedKeysAreBoundedAndTheRestCounted) {
    wr(kCommand, 0xad);
    for (int i = 0; i < 10; ++i)
        dev_.send_ctrl_alt_del(); // 80 bytes, 64 fit
    EXPECT_EQ(dev_.counters().dropped_keys, 16U);
    wr(kCommand, 0xae);
    EXPECT_EQ(drain().size(), 64U);
}

TEST(I8042NoReporter, ResetWithoutAReporterIsHarmless) {
    CountingIrq irq;
    I8042 dev{ExitReporter{}, irq};
    const std::array<std::byte, 1> reset{std::byte{0xfe}};
    dev.write(i8042::kCommandOffset, reset);
    SUCCEED();
}

} // namespace
} // namespace ember::devices
