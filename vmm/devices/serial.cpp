#include "vmm/devices/serial.hpp"

#include <algorithm>
#include <utility>

namespace ember::devices {
namespace {

using uart::Reg;

// Interrupt causes as bits of Snapshot::causes (any order; IIR priority is in interrupt_id()).
constexpr uint8_t kCauseLineStatus = 0x01;
constexpr uint8_t kCauseRxData = 0x02;
constexpr uint8_t kCauseThrEmpty = 0x04;
constexpr uint8_t kCauseModemStatus = 0x08;

constexpr bool has(uint8_t bits, uint8_t mask) {
    return (bits & mask) != 0;
}

} // namespace

void Serial::RxFifo::push(std::byte b) {
    bytes[(head + size) % bytes.size()] = b;
    ++size;
}

std::byte Serial::RxFifo::pop() {
    const std::byte b = bytes[head];
    head = (head + 1) % bytes.size();
    --size;
    return b;
}

Serial::Serial(IrqLine& irq, int output_fd) : irq_(irq), output_(output_fd) {}

// ---- bus accesses ---------------------------------------------------------------------------

void Serial::read(uint64_t offset, std::span<std::byte> data) {
    if (data.size() != 1 || offset >= kSerialPortCount) {
        std::ranges::fill(data, std::byte{0xff});
        const std::lock_guard lock(mu_);
        ++bad_accesses_;
        return;
    }
    uint8_t value = 0;
    Effects effects;
    {
        const std::lock_guard lock(mu_);
        const Snapshot before = snapshot();
        value = read_register(static_cast<uint8_t>(offset));
        effects = effects_since(before);
    }
    apply(effects);
    data[0] = std::byte{value};
}

void Serial::write(uint64_t offset, std::span<const std::byte> data) {
    if (data.size() != 1 || offset >= kSerialPortCount) {
        const std::lock_guard lock(mu_);
        ++bad_accesses_;
        return;
    }
    if (offset == static_cast<uint8_t>(Reg::kData) && try_transmit(data)) return;
    Effects effects;
    {
        const std::lock_guard lock(mu_);
        const Snapshot before = snapshot();
        write_register(static_cast<uint8_t>(offset), std::to_integer<uint8_t>(data[0]));
        effects = effects_since(before);
    }
    apply(effects);
}

void Serial::write_string(uint64_t offset, std::span<const std::byte> data, size_t width) {
    if (data.empty()) return;
    if (width == 1 && offset == static_cast<uint8_t>(Reg::kData) && try_transmit(data)) return;
    BusDevice::write_string(offset, data, width);
}

// ---- host input -----------------------------------------------------------------------------

size_t Serial::enqueue_input(std::span<const std::byte> bytes) {
    size_t accepted = 0;
    Effects effects;
    {
        const std::lock_guard lock(mu_);
        const Snapshot before = snapshot();
        accepted = std::min(bytes.size(), rx_room_locked());
        for (const std::byte b : bytes.first(accepted))
            rx_.push(b);
        rx_bytes_ += accepted;
        effects = effects_since(before);
    }
    apply(effects);
    return accepted;
}

size_t Serial::rx_room() const {
    const std::lock_guard lock(mu_);
    return rx_room_locked();
}

SerialCounters Serial::counters() const {
    const std::lock_guard lock(mu_);
    return SerialCounters{.tx_bytes = tx_bytes_,
                          .tx_written = output_.written(),
                          .tx_dropped = output_.dropped(),
                          .rx_bytes = rx_bytes_,
                          .bad_accesses = bad_accesses_,
                          .interrupts = interrupts_};
}

// ---- transmitter ----------------------------------------------------------------------------

bool Serial::try_transmit(std::span<const std::byte> bytes) {
    bool to_output = false;
    Effects effects;
    {
        const std::lock_guard lock(mu_);
        if (dlab()) return false;   // offset 0 is the divisor latch
        thr_empty_pending_ = false; // writing THR clears a THR-empty interrupt...
        const Snapshot before = snapshot();
        if (loopback()) {
            loop_back(bytes);
        } else {
            tx_bytes_ += bytes.size();
            to_output = true;
        }
        thr_empty_pending_ = true; // ...and instant transmission empties THR again
        effects = effects_since(before);
    }
    // The bytes are out before the guest hears that THR is empty.
    if (to_output) output_.write(bytes);
    apply(effects);
    return true;
}

void Serial::loop_back(std::span<const std::byte> bytes) {
    for (const std::byte b : bytes) {
        if (rx_.size < rx_capacity())
            rx_.push(b);
        else
            lsr_errors_ |= uart::kLsrOverrun; // the datasheet's overrun: the new byte is lost
    }
}

// ---- registers (mu_ held) -------------------------------------------------------------------

uint8_t Serial::read_register(uint8_t reg) {
    switch (static_cast<Reg>(reg)) {
    case Reg::kData:
        return dlab() ? static_cast<uint8_t>(divisor_ & 0xff) : read_rbr();
    case Reg::kIer:
        return dlab() ? static_cast<uint8_t>(divisor_ >> 8) : ier_;
    case Reg::kIirFcr:
        return read_iir();
    case Reg::kLcr:
        return lcr_;
    case Reg::kMcr:
        return mcr_;
    case Reg::kLsr:
        return read_lsr();
    case Reg::kMsr:
        return read_msr();
    case Reg::kScr:
        return scr_;
    }
    return 0xff;
}

void Serial::write_register(uint8_t reg, uint8_t value) {
    switch (static_cast<Reg>(reg)) {
    case Reg::kData: // THR is handled by try_transmit(): this is DLL
        divisor_ = static_cast<uint16_t>((divisor_ & 0xff00) | value);
        break;
    case Reg::kIer:
        if (dlab())
            divisor_ = static_cast<uint16_t>((divisor_ & 0x00ff) | (value << 8));
        else
            write_ier(value);
        break;
    case Reg::kIirFcr:
        write_fcr(value);
        break;
    case Reg::kLcr:
        lcr_ = value;
        break;
    case Reg::kMcr:
        write_mcr(value);
        break;
    case Reg::kLsr:
    case Reg::kMsr:
        break; // read only (writes are for factory testing)
    case Reg::kScr:
        scr_ = value;
        break;
    }
}

uint8_t Serial::read_rbr() {
    if (rx_.size == 0) return 0;
    return std::to_integer<uint8_t>(rx_.pop());
}

uint8_t Serial::read_iir() {
    const uint8_t id = interrupt_id();
    if (id == uart::kIirThrEmpty) thr_empty_pending_ = false; // reading IIR acknowledges it
    const bool fifo = has(fcr_, uart::kFcrEnable);
    return static_cast<uint8_t>(id | (fifo ? uart::kIirFifoEnabled : 0));
}

uint8_t Serial::read_lsr() {
    uint8_t value = uart::kLsrThrEmpty | uart::kLsrTxEmpty; // we transmit instantly
    if (rx_.size != 0) value |= uart::kLsrDataReady;
    value |= std::exchange(lsr_errors_, uint8_t{0});
    return value;
}

uint8_t Serial::read_msr() {
    return static_cast<uint8_t>(modem_lines() | std::exchange(msr_deltas_, uint8_t{0}));
}

void Serial::write_ier(uint8_t value) {
    const bool thr_was_enabled = has(ier_, uart::kIerThrEmpty);
    ier_ = value & uart::kIerMask;
    // THR is always empty, so enabling its interrupt makes it pending at once (Linux's 8250
    // start-up test reads IIR right after enabling it and expects 0x2).
    if (!thr_was_enabled && has(ier_, uart::kIerThrEmpty)) thr_empty_pending_ = true;
}

void Serial::write_fcr(uint8_t value) {
    const bool enable = has(value, uart::kFcrEnable);
    if (enable != has(fcr_, uart::kFcrEnable)) rx_.clear(); // changing FIFO mode empties them
    if (!enable) {
        fcr_ = 0; // the other bits are only programmed together with bit 0
        return;
    }
    if (has(value, uart::kFcrClearRx)) rx_.clear();
    // kFcrClearTx: nothing to clear, transmission is instantaneous.
    fcr_ = value & (uart::kFcrEnable | uart::kFcrDmaMode | uart::kFcrTriggerMask);
}

void Serial::write_mcr(uint8_t value) {
    const uint8_t before = modem_lines();
    mcr_ = value & uart::kMcrMask;
    const uint8_t after = modem_lines();
    const auto changed = static_cast<uint8_t>(before ^ after);
    if (has(changed, uart::kMsrCts)) msr_deltas_ |= uart::kMsrDeltaCts;
    if (has(changed, uart::kMsrDsr)) msr_deltas_ |= uart::kMsrDeltaDsr;
    if (has(changed, uart::kMsrDcd)) msr_deltas_ |= uart::kMsrDeltaDcd;
    if (has(before, uart::kMsrRi) && !has(after, uart::kMsrRi)) msr_deltas_ |= uart::kMsrTrailingRi;
}

// ---- derived state (mu_ held) ---------------------------------------------------------------

size_t Serial::rx_capacity() const {
    return has(fcr_, uart::kFcrEnable) ? kRxFifoSize : 1;
}

size_t Serial::rx_room_locked() const {
    if (loopback()) return 0; // the receiver listens to the transmitter only
    return rx_capacity() - std::min(rx_.size, rx_capacity());
}

uint8_t Serial::modem_lines() const {
    if (!loopback()) return uart::kMsrDcd | uart::kMsrDsr | uart::kMsrCts; // a null modem cable
    // Loopback wires the modem outputs to the inputs (datasheet: MCR bit 4).
    uint8_t lines = 0;
    if (has(mcr_, uart::kMcrRts)) lines |= uart::kMsrCts;
    if (has(mcr_, uart::kMcrDtr)) lines |= uart::kMsrDsr;
    if (has(mcr_, uart::kMcrOut1)) lines |= uart::kMsrRi;
    if (has(mcr_, uart::kMcrOut2)) lines |= uart::kMsrDcd;
    return lines;
}

uint8_t Serial::pending_causes() const {
    uint8_t causes = 0;
    if (has(ier_, uart::kIerLineStatus) && lsr_errors_ != 0) causes |= kCauseLineStatus;
    if (has(ier_, uart::kIerRxData) && rx_.size != 0) causes |= kCauseRxData;
    if (has(ier_, uart::kIerThrEmpty) && thr_empty_pending_) causes |= kCauseThrEmpty;
    if (has(ier_, uart::kIerModemStatus) && msr_deltas_ != 0) causes |= kCauseModemStatus;
    return causes;
}

uint8_t Serial::interrupt_id() const {
    const uint8_t causes = pending_causes();
    if (has(causes, kCauseLineStatus)) return uart::kIirLineStatus;
    if (has(causes, kCauseRxData)) return uart::kIirRxData;
    if (has(causes, kCauseThrEmpty)) return uart::kIirThrEmpty;
    if (has(causes, kCauseModemStatus)) return uart::kIirModemStatus;
    return uart::kIirNone;
}

Serial::Snapshot Serial::snapshot() const {
    return Snapshot{.causes = pending_causes(),
                    .room = rx_room_locked() != 0,
                    .thr_interrupt = has(ier_, uart::kIerThrEmpty)};
}

Serial::Effects Serial::effects_since(Snapshot before) {
    const Snapshot now = snapshot();
    // An edge for every cause that became pending; Linux's handler drains all of them anyway,
    // and a simple guest that handles one cause per interrupt still hears about the others.
    const Effects effects{.interrupt = (now.causes & ~before.causes) != 0,
                          .room = !before.room && now.room,
                          .thr_interrupt_changed = before.thr_interrupt != now.thr_interrupt,
                          .thr_interrupt = now.thr_interrupt};
    if (effects.interrupt) ++interrupts_;
    return effects;
}

void Serial::apply(Effects effects) {
    if (effects.thr_interrupt_changed && thr_interrupt_callback_)
        thr_interrupt_callback_(effects.thr_interrupt);
    if (effects.interrupt) irq_.trigger();
    if (effects.room && room_callback_) room_callback_();
}

} // namespace ember::devices
