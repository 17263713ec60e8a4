// GuestMemory: the one way to touch guest memory.
//
// Guest RAM is a small set of non-overlapping regions (below the 32-bit MMIO gap, and above
// 4 GiB). Every access is bounds-checked against one region: an access that overflows the
// address space, falls in a hole, or straddles two regions fails with a message naming the
// address. Objects are copied in and out (read_obj/write_obj) so that a value the guest can
// change under us is read exactly once.
#pragma once

#include "vmm/sys/mmap_region.hpp"
#include "vmm/sys/result.hpp"

#include <concepts>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

namespace ember {

using GuestAddr = uint64_t;

template <class T>
concept TriviallyCopyable = std::is_trivially_copyable_v<T>;

struct GuestRegion {
    GuestAddr start = 0;
    uint64_t size = 0;
    [[nodiscard]] GuestAddr end() const { return start + size; } // exclusive
};

class GuestMemory final {
public:
    // One anonymous mapping per region. Regions must be page-aligned, non-empty, sorted and
    // non-overlapping.
    static Result<GuestMemory> create(std::span<const GuestRegion> regions);
    // The standard x86-64 layout for `size` bytes of RAM (layout.hpp): everything below the
    // MMIO gap, the rest from 4 GiB.
    static std::vector<GuestRegion> x86_regions(uint64_t size);

    struct Mapping {
        GuestRegion region;
        std::byte* host = nullptr;
    };
    [[nodiscard]] const std::vector<Mapping>& mappings() const { return mappings_; }
    [[nodiscard]] uint64_t total_size() const;

    // True when [addr, addr + len) lies inside one region.
    [[nodiscard]] bool contains(GuestAddr addr, uint64_t len) const;

    // Host view of [addr, addr + len). len may be 0 (addr must still be in RAM).
    [[nodiscard]] Result<std::span<std::byte>> span(GuestAddr addr, uint64_t len) const;

    Result<void> read(GuestAddr addr, std::span<std::byte> out) const;
    Result<void> write(GuestAddr addr, std::span<const std::byte> in) const;

    template <TriviallyCopyable T> [[nodiscard]] Result<T> read_obj(GuestAddr addr) const {
        T value;
        EMBER_TRY_VOID(read(addr, std::as_writable_bytes(std::span(&value, 1))));
        return value;
    }
    template <TriviallyCopyable T> Result<void> write_obj(GuestAddr addr, const T& value) const {
        return write(addr, std::as_bytes(std::span(&value, 1)));
    }

private:
    GuestMemory(std::vector<MmapRegion> maps, std::vector<Mapping> mappings)
        : maps_(std::move(maps)), mappings_(std::move(mappings)) {}
    [[nodiscard]] const Mapping* find(GuestAddr addr) const;

    std::vector<MmapRegion> maps_;
    std::vector<Mapping> mappings_;
};

} // namespace ember
