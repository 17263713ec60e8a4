#include "virtio/queue/queue.hpp"

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>

namespace ember::virtio {
namespace {

// struct virtq_used_elem (2.7.8).
struct UsedElem {
    uint32_t id;  // 0: head of the used chain
    uint32_t len; // 4: bytes written into its device-writable buffers
};
static_assert(sizeof(UsedElem) == 8 && sizeof(UsedElem) == sizeof(vring_used_elem));

// Offsets shared by both rings (2.7.6 and 2.7.8): flags, idx, ring[size], then the event word.
constexpr size_t kFlagsOffset = 0;
constexpr size_t kIdxOffset = 2;
constexpr size_t kRingOffset = 4;
constexpr uint64_t avail_ring_bytes(uint16_t size) {
    return 6 + uint64_t{2} * size;
}
constexpr uint64_t used_ring_bytes(uint16_t size) {
    return 6 + uint64_t{8} * size;
}
constexpr size_t avail_entry(uint16_t slot) {
    return kRingOffset + size_t{2} * slot;
}
constexpr size_t used_entry(uint16_t slot) {
    return kRingOffset + size_t{8} * slot;
}
// used_event sits after the avail ring's entries, avail_event after the used ring's.
constexpr size_t used_event_offset(uint16_t size) {
    return avail_entry(size);
}
constexpr size_t avail_event_offset(uint16_t size) {
    return used_entry(size);
}

// Safety: `ring` is a host view of guest RAM from GuestMemory::span, sized in Queue::create to
// hold every word we address (subspan checks it again under _GLIBCXX_ASSERTIONS) and starting
// 2-byte aligned, and `offset` is even: the pointer is valid and aligned for uint16_t for the
// Queue's lifetime. The guest accesses the same word concurrently from a vCPU, so the device
// side touches it only through atomic_ref.
std::atomic_ref<uint16_t> ring_word(std::span<std::byte> ring, size_t offset) {
    std::byte* word = ring.subspan(offset, sizeof(uint16_t)).data();
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): see Safety above
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(word));
}

bool is_power_of_two(uint16_t v) {
    return std::has_single_bit(v);
}

// The host address is aligned like the guest address (regions are mapped page-aligned); this
// checks what ring_word relies on rather than assuming it.
bool host_aligned(std::span<std::byte> s, size_t align) {
    // Safety: only the pointer's value is inspected; nothing is accessed through it.
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    return reinterpret_cast<std::uintptr_t>(s.data()) % align == 0;
}

Result<void> check_sizes(const QueueConfig& c) {
    if (!c.ready) return make_error(Errc::kInvalidInput, "virtqueue is not ready (QueueReady 0)");
    if (!is_power_of_two(c.max_size) || c.max_size > Queue::kMaxSize)
        return make_error(Errc::kInternal,
                          "virtqueue maximum size {} is not a power of two between 1 and {}",
                          c.max_size, Queue::kMaxSize);
    if (!is_power_of_two(c.size) || c.size > c.max_size)
        return make_error(Errc::kInvalidInput,
                          "virtqueue size {} is not a power of two between 1 and the maximum {}",
                          c.size, c.max_size);
    if (c.desc % VRING_DESC_ALIGN_SIZE != 0 || c.avail % VRING_AVAIL_ALIGN_SIZE != 0 ||
        c.used % VRING_USED_ALIGN_SIZE != 0)
        return make_error(Errc::kInvalidInput,
                          "virtqueue rings are misaligned (descriptor table {:#x} needs 16 bytes, "
                          "available ring {:#x} 2, used ring {:#x} 4)",
                          c.desc, c.avail, c.used);
    return {};
}

Result<std::span<std::byte>> ring_span(const GuestMemory& memory, std::string_view what,
                                       GuestAddr addr, uint64_t len) {
    auto s = memory.span(addr, len);
    if (!s)
        return make_error(Errc::kInvalidInput, "virtqueue {} [{:#x}, +{:#x}) is not in guest RAM",
                          what, addr, len);
    return s;
}

} // namespace

Queue::Queue(const QueueConfig& config, const GuestMemory& memory, uint64_t features,
             std::span<std::byte> avail, std::span<std::byte> used, const QueueState& state)
    : memory_(&memory),
      config_(config), table_{config.desc, config.size,
                              (features & (uint64_t{1} << VIRTIO_RING_F_INDIRECT_DESC)) != 0},
      event_idx_((features & (uint64_t{1} << VIRTIO_RING_F_EVENT_IDX)) != 0), avail_(avail),
      used_(used), state_(state) {}

Result<Queue> Queue::create(const QueueConfig& config, const GuestMemory& memory, uint64_t features,
                            const QueueState& state) {
    EMBER_TRY_VOID(check_sizes(config));
    EMBER_TRY_VOID(ring_span(memory, "descriptor table", config.desc,
                             uint64_t{config.size} * sizeof(Descriptor)));
    auto avail = ring_span(memory, "available ring", config.avail, avail_ring_bytes(config.size));
    if (!avail) return tl::unexpected(std::move(avail.error()));
    auto used = ring_span(memory, "used ring", config.used, used_ring_bytes(config.size));
    if (!used) return tl::unexpected(std::move(used.error()));
    if (!host_aligned(*avail, alignof(uint16_t)) || !host_aligned(*used, alignof(uint32_t)))
        return make_error(Errc::kInternal, "virtqueue rings are misaligned in host memory");
    return Queue(config, memory, features, *avail, *used, state);
}

uint16_t Queue::load_avail_idx() const {
    // Pairs with the driver's write barrier before it bumps avail->idx: the ring entries and
    // descriptors it published are visible to the reads that follow.
    return ring_word(avail_, kIdxOffset).load(std::memory_order_acquire);
}

ChainResult<bool> Queue::pop_into(DescriptorChain& out) {
    const uint16_t avail_idx = load_avail_idx();
    const auto pending = static_cast<uint16_t>(avail_idx - state_.last_avail_idx);
    if (pending == 0) return false;
    if (pending > size())
        return tl::unexpected(ChainFault{
            ChainError::kBadAvailIdx,
            fmt::format("virtqueue avail idx {} is {} entries ahead of the device's {}, more than "
                        "the queue size {}",
                        avail_idx, pending, state_.last_avail_idx, size())});
    const auto slot = static_cast<uint16_t>(state_.last_avail_idx & (size() - 1));
    const uint16_t head = ring_word(avail_, avail_entry(slot)).load(std::memory_order_relaxed);
    ++state_.last_avail_idx;
    if (auto r = DescriptorChain::parse_into(*memory_, table_, head, out); !r)
        return tl::unexpected(std::move(r.error()));
    return true;
}

ChainResult<std::optional<DescriptorChain>> Queue::pop() {
    DescriptorChain chain;
    auto r = pop_into(chain);
    if (!r) return tl::unexpected(std::move(r.error()));
    if (!*r) return std::nullopt;
    return chain;
}

Result<void> Queue::add_used(uint16_t head, uint32_t written_len) {
    if (head >= size())
        return make_error(Errc::kInternal, "virtqueue add_used: head {} is not below the size {}",
                          head, size());
    if (state_.next_used_idx == state_.last_avail_idx)
        return make_error(Errc::kInternal,
                          "virtqueue add_used: head {} returned but no chain is outstanding", head);
    const auto slot = static_cast<uint16_t>(state_.next_used_idx & (size() - 1));
    const UsedElem elem{head, written_len};
    // The driver does not read this slot until used->idx covers it (the release below).
    std::memcpy(used_.data() + used_entry(slot), &elem, sizeof elem);
    ++state_.next_used_idx;
    ring_word(used_, kIdxOffset).store(state_.next_used_idx, std::memory_order_release);
    return {};
}

bool Queue::needs_interrupt() {
    // Store-load ordering: our used->idx store must be visible before we read the driver's
    // suppression state, which it writes before re-reading used->idx (virtio_mb on its side).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const uint16_t old = state_.signalled_used_idx;
    const bool valid = state_.signalled_used_valid;
    const uint16_t now = state_.next_used_idx;
    state_.signalled_used_idx = now;
    state_.signalled_used_valid = true;
    if (!event_idx_) {
        if (valid && old == now) return false; // nothing used since the last interrupt
        const uint16_t flags = ring_word(avail_, kFlagsOffset).load(std::memory_order_relaxed);
        return (flags & VRING_AVAIL_F_NO_INTERRUPT) == 0;
    }
    if (!valid) return true;
    const uint16_t used_event =
        ring_word(avail_, used_event_offset(size())).load(std::memory_order_relaxed);
    // Interrupt iff used_event lies in [old, now) with uint16 wraparound.
    return vring_need_event(used_event, now, old) != 0;
}

void Queue::disable_notifications() {
    if (event_idx_) return; // the driver stops kicking once avail->idx passes avail_event
    ring_word(used_, kFlagsOffset).store(VRING_USED_F_NO_NOTIFY, std::memory_order_relaxed);
}

bool Queue::enable_notifications() {
    if (event_idx_)
        set_avail_event(state_.last_avail_idx);
    else
        ring_word(used_, kFlagsOffset).store(0, std::memory_order_relaxed);
    // Store-load ordering with the driver, which bumps avail->idx and then reads our request:
    // either it sees the request and kicks, or we see its new idx here.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return load_avail_idx() != state_.last_avail_idx;
}

void Queue::set_avail_event(uint16_t avail_idx) {
    ring_word(used_, avail_event_offset(size())).store(avail_idx, std::memory_order_relaxed);
}

} // namespace ember::virtio
