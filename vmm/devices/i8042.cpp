#include "vmm/devices/i8042.hpp"

#include <algorithm>
#include <utility>

namespace ember::devices {
namespace {

using i8042::Command;

constexpr bool has(uint8_t bits, uint8_t mask) {
    return (bits & mask) != 0;
}

GuestExit reset_exit(const char* detail) {
    return GuestExit{.kind = GuestExit::Kind::kReset, .status = 0, .detail = detail};
}

// 0xf0..0xff pulse the output port bits 3:0 whose command bit is 0; bit 0 is the reset line.
constexpr bool pulses_reset(uint8_t command) {
    return (command & 0xf0) == 0xf0 && !has(command, 1);
}

} // namespace

I8042::I8042(ExitReporter report_exit, IrqLine& kbd_irq)
    : report_exit_(std::move(report_exit)), kbd_irq_(kbd_irq) {}

void I8042::send_ctrl_alt_del() {
    const std::lock_guard lock(mu_);
    const bool translated = has(ctr_, i8042::kCtrTranslate);
    const std::span<const uint8_t> keys = translated
                                              ? std::span<const uint8_t>(i8042::kCtrlAltDelSet1)
                                              : std::span<const uint8_t>(i8042::kCtrlAltDelSet2);
    for (const uint8_t key : keys) {
        if (pending_keys_.size() >= i8042::kMaxPendingKeys) {
            ++counters_.dropped_keys;
            continue;
        }
        pending_keys_.push_back(key);
    }
    deliver_key();
}

void I8042::deliver_key() {
    if (output_full_ || pending_keys_.empty() || has(ctr_, i8042::kCtrKbdDisabled)) return;
    respond(pending_keys_.front());
    pending_keys_.pop_front();
    if (has(ctr_, i8042::kCtrKbdInterrupt)) {
        ++counters_.interrupts;
        kbd_irq_.trigger();
    }
}

void I8042::read(uint64_t offset, std::span<std::byte> data) {
    const std::lock_guard lock(mu_);
    if (data.size() != 1 || (offset != i8042::kDataOffset && offset != i8042::kCommandOffset)) {
        std::ranges::fill(data, std::byte{0xff});
        ++counters_.bad_accesses;
        return;
    }
    if (offset == i8042::kCommandOffset) {
        data[0] = std::byte{status()};
        return;
    }
    output_full_ = false;
    output_from_aux_ = false;
    data[0] = std::byte{output_};
    deliver_key();
}

void I8042::write(uint64_t offset, std::span<const std::byte> data) {
    std::optional<GuestExit> exit;
    {
        const std::lock_guard lock(mu_);
        if (data.size() != 1 || (offset != i8042::kDataOffset && offset != i8042::kCommandOffset)) {
            ++counters_.bad_accesses;
            return;
        }
        const auto value = std::to_integer<uint8_t>(data[0]);
        last_write_command_ = offset == i8042::kCommandOffset;
        exit = last_write_command_ ? write_command(value) : write_data(value);
    }
    if (exit && report_exit_) report_exit_(std::move(*exit));
}

I8042Counters I8042::counters() const {
    const std::lock_guard lock(mu_);
    return counters_;
}

std::optional<GuestExit> I8042::write_command(uint8_t value) {
    awaiting_data_.reset(); // a new command abandons one still waiting for its data byte
    if (pulses_reset(value))
        return reset_exit("guest requested a reset through the i8042 controller");
    switch (static_cast<Command>(value)) {
    case Command::kReadCtr:
        respond(ctr_);
        break;
    case Command::kDisableAux:
        ctr_ |= i8042::kCtrAuxDisabled;
        break;
    case Command::kEnableAux:
        ctr_ &= static_cast<uint8_t>(~i8042::kCtrAuxDisabled);
        break;
    case Command::kTestAux:
    case Command::kTestKbd:
        respond(i8042::kInterfaceOk);
        break;
    case Command::kSelfTest:
        respond(i8042::kSelfTestPassed);
        break;
    case Command::kDisableKbd:
        ctr_ |= i8042::kCtrKbdDisabled;
        break;
    case Command::kEnableKbd:
        ctr_ &= static_cast<uint8_t>(~i8042::kCtrKbdDisabled);
        deliver_key();
        break;
    case Command::kReadOutputPort:
        respond(output_port_);
        break;
    case Command::kWriteCtr:
    case Command::kWriteOutputPort:
    case Command::kWriteKbdBuffer:
    case Command::kWriteAuxBuffer:
        awaiting_data_ = static_cast<Command>(value);
        break;
    case Command::kPulseReset:
        break; // handled by pulses_reset() above
    default:
        // Odd 0xf0..0xff pulse no reset line: harmless no-ops, not unknown.
        if ((value & 0xf0) != 0xf0) ++counters_.unknown_commands;
        break;
    }
    return std::nullopt;
}

std::optional<GuestExit> I8042::write_data(uint8_t value) {
    if (!awaiting_data_) {
        ++counters_.dropped_data; // a byte for the keyboard, and there is none
        return std::nullopt;
    }
    switch (*std::exchange(awaiting_data_, std::nullopt)) {
    case Command::kWriteCtr:
        ctr_ = value;
        deliver_key(); // the guest may just have enabled the keyboard or its interrupt
        break;
    case Command::kWriteOutputPort:
        output_port_ = value;
        // Real hardware resets when bit 0 (the reset line, active low) is written 0; QEMU too.
        // The A20 values boot code writes (0xdd, 0xdf) keep it at 1.
        if (!has(value, i8042::kOutputPortNotReset))
            return reset_exit("guest requested a reset through the i8042 output port");
        break;
    case Command::kWriteKbdBuffer:
        respond(value);
        break;
    case Command::kWriteAuxBuffer:
        respond(value, /*from_aux=*/true);
        break;
    default:
        break;
    }
    return std::nullopt;
}

void I8042::respond(uint8_t value, bool from_aux) {
    output_ = value;
    output_full_ = true;
    output_from_aux_ = from_aux;
}

uint8_t I8042::status() const {
    uint8_t s = i8042::kStatusUnlocked;
    if (output_full_) s |= i8042::kStatusOutputFull;
    if (has(ctr_, i8042::kCtrSystem)) s |= i8042::kStatusSystem;
    if (last_write_command_) s |= i8042::kStatusCommand;
    if (output_full_ && output_from_aux_) s |= i8042::kStatusAuxData;
    return s;
}

} // namespace ember::devices
