// Guest memory for the boot-layer unit tests.
#pragma once

#include "vmm/core/guest_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace ember::boot {

// `size` bytes of guest RAM in the standard x86 layout.
inline GuestMemory make_memory(uint64_t size) {
    auto m = GuestMemory::create(GuestMemory::x86_regions(size));
    EXPECT_TRUE(m) << m.error().message();
    return std::move(*m);
}

// Guest pages the host has made resident (mincore): a page read or written shows up.
inline size_t resident_pages(const GuestMemory& memory) {
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    size_t count = 0;
    for (const auto& m : memory.mappings()) {
        std::vector<unsigned char> vec(m.region.size / page);
        EXPECT_EQ(::mincore(m.host, m.region.size, vec.data()), 0);
        count += static_cast<size_t>(
            std::count_if(vec.begin(), vec.end(), [](unsigned char c) { return (c & 1) != 0; }));
    }
    return count;
}

} // namespace ember::boot
