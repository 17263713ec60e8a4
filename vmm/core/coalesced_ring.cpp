#include "vmm/core/coalesced_ring.hpp"

#include <array>
#include <atomic>
#include <cstring>

namespace ember {
namespace {

// Safety: the ring page is a shared mapping that KVM writes concurrently; the indices are
// 32-bit aligned at offsets 0 and 4, accessed only through atomic_ref.
std::atomic_ref<uint32_t> first_of(std::span<std::byte> page) {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(page.data()));
}
std::atomic_ref<uint32_t> last_of(std::span<std::byte> page) {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(page.data() + 4));
}

} // namespace

bool CoalescedRing::empty() const {
    return first_of(page_).load(std::memory_order_relaxed) ==
           last_of(page_).load(std::memory_order_acquire);
}

size_t CoalescedRing::drain(const Bus& pio, const Bus& mmio) const {
    if (empty()) return 0;
    std::lock_guard lock(mutex_);
    uint32_t first = first_of(page_).load(std::memory_order_relaxed);
    // KVM publishes `last` after writing the entry (smp_wmb); acquire pairs with it.
    const uint32_t last = last_of(page_).load(std::memory_order_acquire);
    if (first >= kCapacity || last >= kCapacity) return 0; // never happens with a sane kernel

    // A run of same-port, same-width writes becomes one write_string (one write(2) for a UART).
    std::array<std::byte, kCapacity * sizeof(uint64_t)> batch{};
    size_t batch_len = 0;
    uint64_t batch_port = 0;
    uint32_t batch_width = 0;
    const auto flush = [&] {
        if (batch_len != 0)
            pio.write_string(batch_port, std::span(batch).first(batch_len), batch_width);
        batch_len = 0;
    };

    size_t consumed = 0;
    while (first != last) {
        CoalescedEntry e{};
        std::memcpy(&e, page_.data() + kHeaderSize + size_t{first} * sizeof(CoalescedEntry),
                    sizeof e);
        const uint32_t len = e.len <= sizeof e.data ? e.len : sizeof e.data;
        const auto bytes = std::as_bytes(std::span(e.data)).first(len);
        if (e.pio != 0) {
            if (batch_len != 0 && (e.phys_addr != batch_port || len != batch_width)) flush();
            batch_port = e.phys_addr;
            batch_width = len;
            std::memcpy(batch.data() + batch_len, bytes.data(), len);
            batch_len += len;
        } else {
            flush();
            (void)mmio.write(e.phys_addr, bytes);
        }
        first = (first + 1) % kCapacity;
        ++consumed;
    }
    flush();
    first_of(page_).store(first, std::memory_order_release);
    return consumed;
}

} // namespace ember
