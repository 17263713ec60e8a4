// Serial: a 16550A UART (COM1), enough for Linux's 8250 driver and for polling guests.
//
// Registers follow the 16550A datasheet (below, in `uart`). Transmission is instantaneous: THR
// and the transmitter are always empty (LSR.THRE and LSR.TEMT stay set), every THR write goes
// straight to the output, and a `rep outsb` batch to THR becomes one write(2).
//
// Interrupts: the device raises an edge on its IrqLine whenever an enabled cause becomes pending
// (received data with IER.ERBFI, THR empty with IER.ETBEI — on enabling ETBEI and after each THR
// write —, line status with IER.ELSI, modem status with IER.EDSSI). IIR reports the highest
// priority pending cause: line status 0x6 > received data 0x4 > THR empty 0x2 > modem status
// 0x0; 0x1 means none. Reading IIR while it reports THR empty clears that cause; so does writing
// THR. Linux's handler loops on IIR until it reads 0x1, so one edge per new cause is enough.
//
// Threads: register accesses come from vCPU threads, input from the VMM thread. A mutex guards
// the registers; output write(2), IrqLine::trigger() and the room callback run after it is
// released, so a slow output reader never stalls the VMM thread's enqueue_input().
#pragma once

#include "vmm/core/bus_device.hpp"
#include "vmm/core/irq_line.hpp"
#include "vmm/devices/serial_output.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <utility>

namespace ember::devices {

// The PC's first serial port.
inline constexpr uint16_t kCom1Base = 0x3f8;
inline constexpr uint16_t kSerialPortCount = 8; // 0x3f8..0x3ff
inline constexpr uint32_t kCom1Irq = 4;

// 16550A register map and bits (datasheet, "Register summary"). Offsets from the base;
// DLAB is LCR bit 7.
namespace uart {

enum class Reg : uint8_t {
    kData = 0,   // DLAB=0: RBR (read) / THR (write). DLAB=1: DLL, divisor latch low
    kIer = 1,    // DLAB=0: interrupt enable.         DLAB=1: DLM, divisor latch high
    kIirFcr = 2, // IIR (read) / FCR (write), whatever DLAB
    kLcr = 3,    // line control
    kMcr = 4,    // modem control
    kLsr = 5,    // line status (read only)
    kMsr = 6,    // modem status (read only)
    kScr = 7,    // scratch
};

// IER
inline constexpr uint8_t kIerRxData = 0x01;      // ERBFI: received data available
inline constexpr uint8_t kIerThrEmpty = 0x02;    // ETBEI: THR empty
inline constexpr uint8_t kIerLineStatus = 0x04;  // ELSI: receiver line status
inline constexpr uint8_t kIerModemStatus = 0x08; // EDSSI: modem status
inline constexpr uint8_t kIerMask = 0x0f;        // bits 7:4 read as 0 on a 16550A

// IIR: bits 3:0 identify the pending cause; bits 7:6 are set while the FIFOs are enabled.
inline constexpr uint8_t kIirNone = 0x01;
inline constexpr uint8_t kIirLineStatus = 0x06;
inline constexpr uint8_t kIirRxData = 0x04;
inline constexpr uint8_t kIirThrEmpty = 0x02;
inline constexpr uint8_t kIirModemStatus = 0x00;
inline constexpr uint8_t kIirFifoEnabled = 0xc0;

// FCR (write only)
inline constexpr uint8_t kFcrEnable = 0x01;  // FIFOs on; the other bits count only with it
inline constexpr uint8_t kFcrClearRx = 0x02; // self-clearing
inline constexpr uint8_t kFcrClearTx = 0x04; // self-clearing
inline constexpr uint8_t kFcrDmaMode = 0x08;
inline constexpr uint8_t kFcrTriggerMask = 0xc0; // RX trigger level 1/4/8/14 (see docs/devices.md)

// LCR
inline constexpr uint8_t kLcrDlab = 0x80; // divisor latch access

// MCR
inline constexpr uint8_t kMcrDtr = 0x01;
inline constexpr uint8_t kMcrRts = 0x02;
inline constexpr uint8_t kMcrOut1 = 0x04;
inline constexpr uint8_t kMcrOut2 = 0x08;
inline constexpr uint8_t kMcrLoop = 0x10;
inline constexpr uint8_t kMcrMask = 0x1f; // bits 7:5 read as 0 on a 16550A

// LSR
inline constexpr uint8_t kLsrDataReady = 0x01;
inline constexpr uint8_t kLsrOverrun = 0x02; // cleared by reading LSR
inline constexpr uint8_t kLsrThrEmpty = 0x20;
inline constexpr uint8_t kLsrTxEmpty = 0x40;

// MSR: bits 3:0 are deltas since the last MSR read, bits 7:4 the line states.
inline constexpr uint8_t kMsrDeltaCts = 0x01;
inline constexpr uint8_t kMsrDeltaDsr = 0x02;
inline constexpr uint8_t kMsrTrailingRi = 0x04; // RI went from on to off
inline constexpr uint8_t kMsrDeltaDcd = 0x08;
inline constexpr uint8_t kMsrCts = 0x10;
inline constexpr uint8_t kMsrDsr = 0x20;
inline constexpr uint8_t kMsrRi = 0x40;
inline constexpr uint8_t kMsrDcd = 0x80;

// Reset divisor: 115200 / 12 = 9600 baud (the datasheet leaves it undefined).
inline constexpr uint16_t kDefaultDivisor = 12;

} // namespace uart

struct SerialCounters {
    uint64_t tx_bytes = 0;     // bytes the guest transmitted (THR writes outside loopback)
    uint64_t tx_written = 0;   // of those, bytes that reached the output fd
    uint64_t tx_dropped = 0;   // of those, bytes lost to output errors or a full fd
    uint64_t rx_bytes = 0;     // bytes accepted by enqueue_input()
    uint64_t bad_accesses = 0; // accesses not one byte wide, or outside the 8 registers
    uint64_t interrupts = 0;   // edges raised on the IRQ line
};

class Serial final : public BusDevice {
public:
    // Receive FIFO depth while FIFOs are enabled (FCR bit 0): 64 bytes, like a 16750, rather
    // than the 16550A's 16 — the guest never sees the difference (input is never overrun, the
    // producer is told to wait instead) and the VMM thread wakes up 4x less often. With FIFOs
    // disabled the receiver holds 1 byte, as the datasheet's 16450 mode.
    static constexpr size_t kRxFifoSize = 64;

    // `irq` must outlive the device. `output_fd` stays owned by the caller and open as long as
    // the device lives; SerialOutput::kNoOutput discards the output.
    Serial(IrqLine& irq, int output_fd);

    void read(uint64_t offset, std::span<std::byte> data) override;
    void write(uint64_t offset, std::span<const std::byte> data) override;
    // A `rep outsb` batch to THR is transmitted with one write(2); anything else is replayed.
    void write_string(uint64_t offset, std::span<const std::byte> data, size_t width) override;

    // Host input (stdin), from the VMM thread. Takes as many bytes as the receiver has room for
    // and returns that count; the caller keeps the rest. Read at most rx_room() bytes from the
    // source to have no rest at all. In loopback mode the receiver is disconnected from the
    // outside and takes nothing.
    size_t enqueue_input(std::span<const std::byte> bytes);
    [[nodiscard]] size_t rx_room() const;
    [[nodiscard]] bool rx_has_room() const { return rx_room() != 0; }

    // Called (on a vCPU thread, no lock held) when the receiver goes from having no room to
    // having room: the guest drained the FIFO, cleared it or left loopback. The owner stops
    // reading its input while rx_has_room() is false and resumes on this call (typically by
    // signalling an EventFd). Set it before the VM runs.
    void set_rx_room_callback(std::function<void()> callback) {
        room_callback_ = std::move(callback);
    }

    // Called (on a vCPU thread, no lock held) when the guest turns the THR-empty interrupt
    // (IER bit 1) on or off. While it is off, nothing the guest can observe depends on when a
    // THR write is seen, so the owner may let KVM coalesce THR writes (no exit per byte); while
    // it is on, each write must be seen at once to raise the interrupt. Set it before the VM
    // runs.
    void set_thr_interrupt_callback(std::function<void(bool enabled)> callback) {
        thr_interrupt_callback_ = std::move(callback);
    }

    [[nodiscard]] SerialCounters counters() const;

private:
    // Pending, enabled interrupt causes as a bit set, and whether the receiver has room.
    struct Snapshot {
        uint8_t causes = 0;
        bool room = false;
        bool thr_interrupt = false; // IER bit 1
    };
    // What to do once the lock is released.
    struct Effects {
        bool interrupt = false;
        bool room = false;
        bool thr_interrupt_changed = false;
        bool thr_interrupt = false;
    };
    // Fixed-size ring: no allocation on the register path.
    struct RxFifo {
        std::array<std::byte, kRxFifoSize> bytes{};
        size_t head = 0;
        size_t size = 0;
        void push(std::byte b);
        std::byte pop();
        void clear() { head = size = 0; }
    };

    uint8_t read_register(uint8_t reg);
    void write_register(uint8_t reg, uint8_t value);
    uint8_t read_rbr();
    uint8_t read_iir();
    uint8_t read_lsr();
    uint8_t read_msr();
    void write_ier(uint8_t value);
    void write_fcr(uint8_t value);
    void write_mcr(uint8_t value);
    // THR write(s): the bytes go to the output, or to the receiver in loopback mode. False (and
    // nothing done) when DLAB is set: offset 0 is then the divisor latch.
    bool try_transmit(std::span<const std::byte> bytes);
    void loop_back(std::span<const std::byte> bytes);

    [[nodiscard]] bool dlab() const { return (lcr_ & uart::kLcrDlab) != 0; }
    [[nodiscard]] bool loopback() const { return (mcr_ & uart::kMcrLoop) != 0; }
    [[nodiscard]] size_t rx_capacity() const;
    [[nodiscard]] size_t rx_room_locked() const;
    [[nodiscard]] uint8_t modem_lines() const;
    [[nodiscard]] uint8_t pending_causes() const;
    [[nodiscard]] uint8_t interrupt_id() const;
    [[nodiscard]] Snapshot snapshot() const;
    [[nodiscard]] Effects effects_since(Snapshot before);
    void apply(Effects effects);

    IrqLine& irq_;
    SerialOutput output_;
    std::function<void()> room_callback_;
    std::function<void(bool)> thr_interrupt_callback_;

    mutable std::mutex mu_;
    RxFifo rx_;
    uint16_t divisor_ = uart::kDefaultDivisor;
    uint8_t ier_ = 0;
    uint8_t fcr_ = 0; // the FCR bits that persist (enable, DMA mode, trigger level)
    uint8_t lcr_ = 0;
    uint8_t mcr_ = 0;
    uint8_t scr_ = 0;
    uint8_t lsr_errors_ = 0; // LSR error bits latched until LSR is read
    uint8_t msr_deltas_ = 0; // MSR bits 3:0 latched until MSR is read
    bool thr_empty_pending_ = false;
    uint64_t tx_bytes_ = 0;
    uint64_t rx_bytes_ = 0;
    uint64_t bad_accesses_ = 0;
    uint64_t interrupts_ = 0;
};

} // namespace ember::devices
