// BusDevice: a device that answers register accesses on the PIO or MMIO bus.
//
// Accesses come from vCPU threads (synchronously, from a KVM_RUN exit); a device that also runs
// on the VMM thread (a serial port receiving stdin) synchronises itself. Offsets are relative to
// the base the device was inserted at.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ember {

class BusDevice {
public:
    BusDevice() = default;
    virtual ~BusDevice() = default;
    BusDevice(const BusDevice&) = delete;
    BusDevice& operator=(const BusDevice&) = delete;
    BusDevice(BusDevice&&) = delete;
    BusDevice& operator=(BusDevice&&) = delete;

    virtual void read(uint64_t offset, std::span<std::byte> data) = 0;
    virtual void write(uint64_t offset, std::span<const std::byte> data) = 0;

    // A string write (`rep outsb`): `data` holds data.size() / width accesses of `width` bytes
    // to the same offset, delivered in one exit. Devices that can take the batch at once (a
    // UART's transmit register) override this; the default replays it access by access.
    virtual void write_string(uint64_t offset, std::span<const std::byte> data, size_t width) {
        for (size_t i = 0; width != 0 && i + width <= data.size(); i += width)
            write(offset, data.subspan(i, width));
    }
};

} // namespace ember
