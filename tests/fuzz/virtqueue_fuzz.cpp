// libFuzzer target: a hostile driver's split virtqueue. The input becomes the queue setup and the
// contents of a small guest RAM holding the descriptor table, both rings, indirect tables and
// buffers; the device side pops every chain, checks what a parsed chain promises, and returns it.
// Every chain is also parsed as a virtio-blk request (virtio/block/request.hpp), whose promises
// are checked the same way. Anything but clean Results (a crash, a sanitizer report, a hang) is
// a bug.
#include "virtio/block/request.hpp"
#include "virtio/queue/queue.hpp"
#include "vmm/core/guest_memory.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace {

using ember::GuestAddr;
using ember::virtio::DescriptorChain;
using ember::virtio::Queue;
using ember::virtio::QueueConfig;
using ember::virtio::QueueState;

// 16 KiB of RAM. The input's bytes land from address 0: the avail ring first (so short inputs
// already reach avail->idx and the heads), the descriptor table right after it, then indirect
// tables and buffers; the used ring, which only the device writes, sits at the top. Small, so
// random addresses often land inside.
constexpr uint64_t kRamSize = 0x4000;
constexpr GuestAddr kAvail = 0x0;
constexpr GuestAddr kUsed = 0x3000;
constexpr size_t kHeaderSize = 8;

// What a parsed chain promises: every segment is in RAM, readable ones come first, and the
// byte counts add up. A broken promise is a bug, so crash loudly.
void check_chain(const ember::GuestMemory& memory, const DescriptorChain& chain) {
    uint64_t readable = 0;
    uint64_t writable = 0;
    bool seen_writable = false;
    for (const auto& s : chain.segments()) {
        if (!memory.span(s.addr, s.len)) __builtin_trap();
        if (!s.device_writable && seen_writable) __builtin_trap();
        seen_writable = seen_writable || s.device_writable;
        (s.device_writable ? writable : readable) += s.len;
    }
    if (readable != chain.readable_bytes() || writable != chain.writable_bytes()) __builtin_trap();
    if (chain.readable().size() + chain.writable().size() != chain.segments().size())
        __builtin_trap();
}

// What a parsed block request promises: its data views lie inside guest RAM and add up to
// data_len, and its status byte is the chain's last writable byte.
void check_request(const ember::GuestMemory& memory, const DescriptorChain& chain,
                   const ember::virtio::block::RequestLimits& limits,
                   ember::virtio::block::Request& request,
                   ember::virtio::block::RequestError& error) {
    const auto ram = memory.mappings().front();
    if (!ember::virtio::block::parse_request(chain, memory, limits, request, error)) {
        if (error.status_addr && !memory.span(*error.status_addr, 1)) __builtin_trap();
        return;
    }
    uint64_t total = 0;
    for (const iovec& v : request.data) {
        const auto* p = static_cast<const std::byte*>(v.iov_base);
        if (p < ram.host || p + v.iov_len > ram.host + ram.region.size) __builtin_trap();
        total += v.iov_len;
    }
    if (total != request.data_len) __builtin_trap();
    if (!memory.span(request.status_addr, 1)) __builtin_trap();
    if (request.sector > limits.capacity_sectors ||
        request.num_sectors > limits.capacity_sectors - request.sector) {
        if (request.type != ember::virtio::block::RequestType::kFlush &&
            request.type != ember::virtio::block::RequestType::kGetId)
            __builtin_trap();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static auto memory = ember::GuestMemory::create(ember::GuestMemory::x86_regions(kRamSize));
    if (!memory || size < kHeaderSize) return 0;

    // Header: queue size (log2), feature bits, starting indices (to reach the uint16 wrap).
    const auto log2_size = static_cast<uint16_t>(data[0] % 9); // 1..256 entries
    const uint8_t features = data[1];
    QueueState state;
    std::memcpy(&state.last_avail_idx, data + 2, 2);
    std::memcpy(&state.signalled_used_idx, data + 4, 2);
    state.next_used_idx = state.last_avail_idx;
    state.signalled_used_valid = (data[6] & 1) != 0;

    // The rest of the input is guest RAM, zero-filled past its end.
    const auto ram = std::span(memory->mappings().front().host, kRamSize);
    const size_t body = std::min<size_t>(size - kHeaderSize, kRamSize);
    std::memset(ram.data(), 0, ram.size());
    std::memcpy(ram.data(), data + kHeaderSize, body);

    const auto queue_size = static_cast<uint16_t>(1U << log2_size);
    const GuestAddr desc = (6 + uint64_t{2} * queue_size + 15) & ~uint64_t{15};
    const QueueConfig config{256, queue_size, true, desc, kAvail, kUsed};
    uint64_t negotiated = 0;
    if ((features & 1) != 0) negotiated |= uint64_t{1} << VIRTIO_RING_F_INDIRECT_DESC;
    if ((features & 2) != 0) negotiated |= uint64_t{1} << VIRTIO_RING_F_EVENT_IDX;
    auto queue = Queue::create(config, *memory, negotiated, state);
    if (!queue) __builtin_trap(); // the layout above is always valid

    const ember::virtio::block::RequestLimits limits{.capacity_sectors = data[7],
                                                     .read_only = (features & 8) != 0,
                                                     .flush = (features & 16) != 0,
                                                     .discard = (features & 32) != 0,
                                                     .write_zeroes = (features & 64) != 0,
                                                     .max_discard_sectors = 64,
                                                     .max_write_zeroes_sectors = 128};
    ember::virtio::block::Request request;
    ember::virtio::block::RequestError request_error;
    DescriptorChain chain;
    // At most `size` chains can be pending; the bound guards against a pop() that never ends.
    for (uint32_t i = 0; i <= queue_size; ++i) {
        if ((features & 4) != 0) queue->disable_notifications();
        auto got = queue->pop_into(chain);
        if (!got) {
            if (got.error().error == ember::virtio::ChainError::kBadAvailIdx) break;
            continue; // the head was consumed; a strict device would reset here
        }
        if (!*got) {
            if (!queue->enable_notifications()) break;
            continue;
        }
        check_chain(*memory, chain);
        check_request(*memory, chain, limits, request, request_error);
        const auto written = static_cast<uint32_t>(std::min<uint64_t>(chain.writable_bytes(), ~0U));
        if (!queue->add_used(chain.head(), written)) __builtin_trap();
        (void)queue->needs_interrupt();
    }
    return 0;
}
