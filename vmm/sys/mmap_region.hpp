// MmapRegion: sole owner of a memory mapping; unmaps in the destructor.
#pragma once

#include "vmm/sys/result.hpp"

#include <cstddef>
#include <span>
#include <utility>

namespace ember {

class MmapRegion final {
public:
    MmapRegion() = default;
    ~MmapRegion() { reset(); }
    MmapRegion(const MmapRegion&) = delete;
    MmapRegion& operator=(const MmapRegion&) = delete;
    MmapRegion(MmapRegion&& o) noexcept
        : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    MmapRegion& operator=(MmapRegion&& o) noexcept {
        if (this != &o) {
            reset();
            addr_ = std::exchange(o.addr_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }

    // Private anonymous read/write memory, reserved lazily (MAP_NORESERVE): pages cost nothing
    // until touched.
    static Result<MmapRegion> anonymous(size_t size);
    // A shared mapping of `fd` (a vCPU's kvm_run page, later memfd-backed guest memory).
    static Result<MmapRegion> shared(int fd, size_t size, off_t offset = 0);

    [[nodiscard]] std::byte* data() const { return static_cast<std::byte*>(addr_); }
    [[nodiscard]] size_t size() const { return size_; }
    [[nodiscard]] std::span<std::byte> bytes() const { return {data(), size_}; }

private:
    MmapRegion(void* addr, size_t size) : addr_(addr), size_(size) {}
    void reset();

    void* addr_ = nullptr;
    size_t size_ = 0;
};

} // namespace ember
