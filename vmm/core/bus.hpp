// Bus: maps address ranges (PIO ports or MMIO addresses) onto BusDevices.
//
// Ranges never overlap; insert() refuses an overlapping one with a message naming both.
// Devices are inserted while the VM is built, before any vCPU runs; after that the bus is only
// read, from any number of vCPU threads, without locks.
#pragma once

#include "vmm/core/bus_device.hpp"
#include "vmm/sys/result.hpp"

#include <memory>
#include <string>
#include <vector>

namespace ember {

class Bus final {
public:
    explicit Bus(std::string name) : name_(std::move(name)) {}

    Result<void> insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t len,
                        std::string device_name);

    // Dispatch an access; false when no device covers [addr, addr + size). A read that no device
    // answers leaves `data` untouched, so callers fill it with 0xff first (an empty ISA bus).
    bool read(uint64_t addr, std::span<std::byte> data) const;
    bool write(uint64_t addr, std::span<const std::byte> data) const;
    bool write_string(uint64_t addr, std::span<const std::byte> data, size_t width) const;

    [[nodiscard]] size_t size() const { return entries_.size(); }

private:
    struct Entry {
        uint64_t base;
        uint64_t len;
        std::shared_ptr<BusDevice> device;
        std::string name;
    };
    // The entry covering [addr, addr + size), or nullptr.
    [[nodiscard]] const Entry* find(uint64_t addr, uint64_t size) const;

    std::string name_;
    std::vector<Entry> entries_; // sorted by base
};

} // namespace ember
