// CoalescedRing: drains KVM's coalesced I/O ring onto the buses.
//
// Writes to a port or MMIO range registered as coalesced (Vm::set_coalesced_pio) do not exit
// to user space: KVM appends them to one VM-wide ring page and lets the guest run on. Every
// vCPU drains the ring before it handles its own exit, so a coalesced write is always replayed
// before any later, synchronous access to the same device — register semantics are kept. The
// VMM thread also drains it on a timer, so output from a guest that stops exiting still shows.
//
// The ring is produced by KVM (`last`) and consumed here (`first`); draining is serialised by a
// mutex because any vCPU (and the VMM thread) may drain.
#pragma once

#include "vmm/core/bus.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>

namespace ember {

// The ring page's layout, spelled out because <linux/kvm.h> declares the entries as a flexible
// array whose C++ size is wrong (see kvm_abi.hpp).
struct CoalescedEntry { // struct kvm_coalesced_mmio
    uint64_t phys_addr; // port number for PIO
    uint32_t len;       // access width in bytes
    uint32_t pio;       // 1: a port write
    uint8_t data[8];    // NOLINT(cppcoreguidelines-avoid-c-arrays): the ABI layout
};
static_assert(sizeof(CoalescedEntry) == 24);

class CoalescedRing final {
public:
    static constexpr size_t kHeaderSize = 8; // u32 first, u32 last
    static constexpr size_t kPageSize = 4096;
    static constexpr uint32_t kCapacity = (kPageSize - kHeaderSize) / sizeof(CoalescedEntry);

    // `page` is the ring page of a vCPU mapping (KVM_COALESCED_MMIO_PAGE_OFFSET); it must stay
    // mapped while the ring is used.
    explicit CoalescedRing(std::span<std::byte> page) : page_(page) {}

    // Replays every pending write onto `pio`/`mmio`, batching runs of writes to the same port
    // into one BusDevice::write_string. Returns how many entries it consumed.
    size_t drain(const Bus& pio, const Bus& mmio) const;
    // Cheap check (one acquire load pair) used on the exit path before taking the lock.
    [[nodiscard]] bool empty() const;

private:
    std::span<std::byte> page_;
    mutable std::mutex mutex_;
};

} // namespace ember
