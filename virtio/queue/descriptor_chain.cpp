#include "virtio/queue/descriptor_chain.hpp"

#include <bit>
#include <utility>

namespace ember::virtio {
namespace {

static_assert(std::endian::native == std::endian::little,
              "virtio 1.x rings are little-endian; a big-endian host would need byte swaps");

// 2.7.4.2: a driver must not add a chain longer than 2^32 bytes in total, which also keeps the
// used ring's 32-bit length meaningful.
constexpr uint64_t kMaxChainBytes = uint64_t{1} << 32;

constexpr bool has(uint16_t flags, uint16_t flag) {
    return (flags & flag) != 0;
}

} // namespace

std::string_view to_string(ChainError error) {
    switch (error) {
    case ChainError::kIndexOutOfRange:
        return "index out of range";
    case ChainError::kLoop:
        return "descriptor loop";
    case ChainError::kTooLong:
        return "chain too long";
    case ChainError::kTooLarge:
        return "chain too large";
    case ChainError::kOutOfRange:
        return "buffer outside guest RAM";
    case ChainError::kBadIndirect:
        return "bad indirect table";
    case ChainError::kWrongOrder:
        return "readable after writable";
    case ChainError::kBadAvailIdx:
        return "bad available index";
    }
    return "unknown";
}

// One walk over a chain. It switches from the queue's table to an indirect table at most once;
// each table bounds the walk by its own entry count.
class DescriptorChain::Walker {
public:
    Walker(const GuestMemory& memory, const DescriptorTable& table, DescriptorChain& out)
        : memory_(memory), table_(table), out_(out), table_addr_(table.addr), entries_(table.size),
          index_(out.head_) {}

    ChainResult<void> run() {
        if (index_ >= entries_)
            return fail(ChainError::kIndexOutOfRange, "head index is not below the queue size {}",
                        entries_);
        if (!memory_.contains(table_addr_, uint64_t{entries_} * sizeof(Descriptor)))
            return fail(ChainError::kOutOfRange, "descriptor table at {:#x} is not in guest RAM",
                        table_addr_);
        for (;;) {
            // Pigeonhole: a walk longer than the table must have revisited a descriptor.
            if (visited_ == entries_)
                return fail(ChainError::kLoop,
                            "the chain visits more than the {} descriptors of its table (a loop)",
                            entries_);
            ++visited_;
            auto desc = memory_.read_obj<Descriptor>(table_addr_ + index_ * sizeof(Descriptor));
            if (!desc)
                return fail(ChainError::kOutOfRange, "cannot read it: {}", desc.error().message());
            if (has(desc->flags, VRING_DESC_F_INDIRECT)) {
                if (auto r = enter_indirect(*desc); !r) return r;
                continue;
            }
            if (auto r = accept(*desc); !r) return r;
            if (!has(desc->flags, VRING_DESC_F_NEXT)) return {};
            if (desc->next >= entries_)
                return fail(ChainError::kIndexOutOfRange, "next index {} is not below {}",
                            desc->next, entries_);
            index_ = desc->next;
        }
    }

private:
    ChainResult<void> enter_indirect(const Descriptor& desc) {
        if (indirect_)
            return fail(ChainError::kBadIndirect,
                        "an indirect table must not contain an INDIRECT descriptor");
        if (!table_.indirect_desc)
            return fail(ChainError::kBadIndirect,
                        "INDIRECT is set but VIRTIO_RING_F_INDIRECT_DESC was not negotiated");
        if (has(desc.flags, VRING_DESC_F_NEXT))
            return fail(ChainError::kBadIndirect, "INDIRECT and NEXT must not both be set");
        if (desc.len == 0 || desc.len % sizeof(Descriptor) != 0)
            return fail(ChainError::kBadIndirect,
                        "indirect table length {} is not a non-zero multiple of {}", desc.len,
                        sizeof(Descriptor));
        if (!memory_.contains(desc.addr, desc.len))
            return fail(ChainError::kOutOfRange,
                        "indirect table [{:#x}, +{:#x}) is not in guest RAM", desc.addr, desc.len);
        // 2.7.5.3.2: the WRITE flag of the descriptor pointing at the table is ignored.
        table_addr_ = desc.addr;
        entries_ = desc.len / static_cast<uint32_t>(sizeof(Descriptor));
        index_ = 0;
        visited_ = 0;
        indirect_ = true;
        return {};
    }

    ChainResult<void> accept(const Descriptor& desc) {
        if (out_.segments_.size() >= table_.size)
            return fail(ChainError::kTooLong, "the chain has more than {} buffers (the queue size)",
                        table_.size);
        // contains() compares len with the room left in the region: addr + len cannot overflow.
        if (!memory_.contains(desc.addr, desc.len))
            return fail(ChainError::kOutOfRange, "buffer [{:#x}, +{:#x}) is not in guest RAM",
                        desc.addr, desc.len);
        const bool writable = has(desc.flags, VRING_DESC_F_WRITE);
        if (!writable && out_.segments_.size() > out_.readable_count_)
            return fail(ChainError::kWrongOrder,
                        "a device-readable buffer follows a device-writable one");
        // Each term is below 2^32 and there are at most 2^15 of them: no overflow.
        if (out_.readable_bytes_ + out_.writable_bytes_ + desc.len > kMaxChainBytes)
            return fail(ChainError::kTooLarge, "the chain holds more than 2^32 bytes");
        if (writable) {
            out_.writable_bytes_ += desc.len;
        } else {
            out_.readable_bytes_ += desc.len;
            ++out_.readable_count_;
        }
        out_.segments_.push_back({desc.addr, desc.len, writable});
        return {};
    }

    template <class... Args>
    [[nodiscard]] tl::unexpected<ChainFault> fail(ChainError error, fmt::format_string<Args...> f,
                                                  Args&&... args) const {
        const std::string where =
            indirect_ ? fmt::format("virtqueue head {}, indirect descriptor {} of table {:#x}",
                                    out_.head_, index_, table_addr_)
                      : fmt::format("virtqueue head {}, descriptor {}", out_.head_, index_);
        return tl::unexpected(ChainFault{
            error, fmt::format("{}: {}", where, fmt::format(f, std::forward<Args>(args)...))});
    }

    const GuestMemory& memory_;
    const DescriptorTable& table_;
    DescriptorChain& out_;
    GuestAddr table_addr_; // the table being walked: the queue's, then maybe an indirect one
    uint32_t entries_;     // its entry count
    uint32_t index_;       // the descriptor being looked at, in that table
    uint32_t visited_ = 0; // descriptors read from that table so far
    bool indirect_ = false;
};

void DescriptorChain::clear(uint16_t head) {
    head_ = head;
    segments_.clear();
    readable_count_ = 0;
    readable_bytes_ = 0;
    writable_bytes_ = 0;
}

ChainResult<void> DescriptorChain::parse_into(const GuestMemory& memory,
                                              const DescriptorTable& table, uint16_t head,
                                              DescriptorChain& out) {
    out.clear(head);
    return Walker(memory, table, out).run();
}

ChainResult<DescriptorChain> DescriptorChain::parse(const GuestMemory& memory,
                                                    const DescriptorTable& table, uint16_t head) {
    DescriptorChain chain;
    if (auto r = parse_into(memory, table, head, chain); !r)
        return tl::unexpected(std::move(r.error()));
    return chain;
}

} // namespace ember::virtio
