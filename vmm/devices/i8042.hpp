// I8042: the PC keyboard controller, reduced to what guests use it for in a microVM — resetting
// the machine, and receiving Ctrl-Alt-Del from the host — and to the controller commands Linux's
// i8042 driver issues at boot, answered at once so that the driver never waits out a timeout.
//
// No mouse is attached. The keyboard only ever types what the VMM injects (send_ctrl_alt_del):
// its scan codes queue behind the one-byte output buffer and each one raises IRQ 1 when the
// guest enabled the keyboard interrupt (CTR bit 0) and did not disable the keyboard (CTR bit 4).
// They are scan code set 1 when the controller translates (CTR bit 6, the default: Linux then
// sees an "AT Translated Set 2 keyboard"), set 2 otherwise. Bytes written to the data port for
// the keyboard itself (LED and scan-set commands) are dropped and counted.
// Linux guests should boot with `i8042.noaux i8042.nomux i8042.dumbkbd` (as with Firecracker,
// but without `i8042.nopnp`: the ACPI DSDT describes the controller as PNP0303, and on ember's
// hardware-reduced ACPI platform that is how Linux learns IRQ 1; docs/acpi.md).
//
// Mapped as ONE range of 5 ports, 0x60..0x64: offset 0 is the data port, offset 4 the
// status/command port (BusDevice offsets are relative to one base, so one device cannot be
// told apart on two 1-byte ranges). Offsets 1..3 (0x61 is the PC speaker/NMI port, which KVM's
// PIT emulates with KVM_PIT_SPEAKER_DUMMY) read 0xff and ignore writes, counted as bad.
#pragma once

#include "vmm/core/bus_device.hpp"
#include "vmm/core/guest_exit.hpp"
#include "vmm/core/irq_line.hpp"

#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>

namespace ember::devices {

inline constexpr uint16_t kI8042Base = 0x60;
inline constexpr uint16_t kI8042PortCount = 5; // 0x60 (data) .. 0x64 (status/command)
inline constexpr uint32_t kI8042KbdIrq = 1;    // the keyboard's ISA interrupt

namespace i8042 {

// Offsets from kI8042Base.
inline constexpr uint64_t kDataOffset = 0;    // port 0x60: output buffer (read) / data (write)
inline constexpr uint64_t kCommandOffset = 4; // port 0x64: status (read) / command (write)

// Status register (read port 0x64).
inline constexpr uint8_t kStatusOutputFull = 0x01; // a byte waits in the output buffer
inline constexpr uint8_t kStatusInputFull = 0x02;  // never set: we consume writes at once
inline constexpr uint8_t kStatusSystem = 0x04;     // mirrors CTR bit 2 (POST passed)
inline constexpr uint8_t kStatusCommand = 0x08;    // last write went to 0x64 (1) or 0x60 (0)
inline constexpr uint8_t kStatusUnlocked = 0x10;   // keyboard not inhibited by a keylock
inline constexpr uint8_t kStatusAuxData = 0x20;    // the output byte comes from the AUX port

// Controller command byte, "CTR" (commands 0x20/0x60).
inline constexpr uint8_t kCtrKbdInterrupt = 0x01;
inline constexpr uint8_t kCtrAuxInterrupt = 0x02;
inline constexpr uint8_t kCtrSystem = 0x04;
inline constexpr uint8_t kCtrKbdDisabled = 0x10;
inline constexpr uint8_t kCtrAuxDisabled = 0x20;
inline constexpr uint8_t kCtrTranslate = 0x40;
// As a BIOS leaves it with no mouse: keyboard on, AUX off, translation on, POST passed.
inline constexpr uint8_t kDefaultCtr =
    kCtrKbdInterrupt | kCtrSystem | kCtrAuxDisabled | kCtrTranslate; // 0x65

// Output port (commands 0xD0/0xD1). Bit 0 drives the CPU reset line, active low.
inline constexpr uint8_t kOutputPortNotReset = 0x01;
inline constexpr uint8_t kOutputPortA20 = 0x02;
inline constexpr uint8_t kDefaultOutputPort = 0xcf; // not in reset, A20 on (as QEMU)

// Commands written to port 0x64.
enum class Command : uint8_t {
    kReadCtr = 0x20,         // -> CTR on the data port
    kWriteCtr = 0x60,        // next data byte -> CTR
    kDisableAux = 0xa7,      // sets CTR bit 5
    kEnableAux = 0xa8,       // clears CTR bit 5
    kTestAux = 0xa9,         // -> 0x00 (interface OK)
    kSelfTest = 0xaa,        // -> 0x55 (passed)
    kTestKbd = 0xab,         // -> 0x00 (interface OK)
    kDisableKbd = 0xad,      // sets CTR bit 4
    kEnableKbd = 0xae,       // clears CTR bit 4
    kReadOutputPort = 0xd0,  // -> output port on the data port
    kWriteOutputPort = 0xd1, // next data byte -> output port; bit 0 clear resets the machine
    kWriteKbdBuffer = 0xd2,  // next data byte comes back as if from the keyboard
    kWriteAuxBuffer = 0xd3,  // next data byte comes back as if from the AUX port (loop test)
    kPulseReset = 0xfe,      // pulse output port bit 0 low: reset (any even 0xf0..0xfe does)
};

inline constexpr uint8_t kSelfTestPassed = 0x55;
inline constexpr uint8_t kInterfaceOk = 0x00;

// Ctrl and Alt pressed, Delete pressed and released, Alt and Ctrl released.
inline constexpr std::array<uint8_t, 8> kCtrlAltDelSet1{0x1d, 0x38, 0xe0, 0x53,
                                                        0xe0, 0xd3, 0xb8, 0x9d};
inline constexpr std::array<uint8_t, 11> kCtrlAltDelSet2{0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
                                                         0x71, 0xf0, 0x11, 0xf0, 0x14};
// Keyboard bytes waiting behind the output buffer; more are dropped (and counted).
inline constexpr size_t kMaxPendingKeys = 64;

} // namespace i8042

struct I8042Counters {
    uint64_t unknown_commands = 0; // commands to 0x64 we do not emulate (ignored)
    uint64_t dropped_data = 0;     // data bytes for the (absent) keyboard
    uint64_t bad_accesses = 0;     // not one byte wide, or at 0x61..0x63
    uint64_t dropped_keys = 0;     // injected scan codes beyond kMaxPendingKeys
    uint64_t interrupts = 0;       // IRQ 1 edges raised
};

class I8042 final : public BusDevice {
public:
    // `report_exit` is called (on the vCPU thread, no lock held) when the guest resets;
    // `kbd_irq` (IRQ 1) must outlive the device.
    I8042(ExitReporter report_exit, IrqLine& kbd_irq);

    // Types Ctrl-Alt-Del (the guest decides what it means: Linux reboots, or signals init).
    // Callable from any thread.
    void send_ctrl_alt_del();

    void read(uint64_t offset, std::span<std::byte> data) override;
    void write(uint64_t offset, std::span<const std::byte> data) override;

    [[nodiscard]] I8042Counters counters() const;

private:
    // Each returns the exit to report when the write reset the machine.
    std::optional<GuestExit> write_command(uint8_t value);
    std::optional<GuestExit> write_data(uint8_t value);
    // Puts a response in the output buffer (replacing an unread one, as the 8042 does).
    void respond(uint8_t value, bool from_aux = false);
    // Moves the next pending key into an empty output buffer and raises IRQ 1 if enabled.
    void deliver_key();
    [[nodiscard]] uint8_t status() const;

    ExitReporter report_exit_;
    IrqLine& kbd_irq_;

    mutable std::mutex mu_;
    uint8_t ctr_ = i8042::kDefaultCtr;
    uint8_t output_port_ = i8042::kDefaultOutputPort;
    uint8_t output_ = 0; // the output buffer; reads return its last value
    bool output_full_ = false;
    bool output_from_aux_ = false;
    bool last_write_command_ = false;
    std::optional<i8042::Command> awaiting_data_; // a command whose data byte comes next
    std::deque<uint8_t> pending_keys_;
    I8042Counters counters_;
};

} // namespace ember::devices
