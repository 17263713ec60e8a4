#include "vmm/bundled_kernel.hpp"

extern "C" {
// Defined in bundled_kernel_data.S.
extern const char ember_bundled_kernel_start[];
extern const char ember_bundled_kernel_end[];
}

namespace ember {

std::span<const std::byte> bundled_kernel() {
    // Safety: the two symbols delimit one contiguous read-only blob in .rodata.
    const auto* begin = reinterpret_cast<const std::byte*>(ember_bundled_kernel_start);
    const auto* end = reinterpret_cast<const std::byte*>(ember_bundled_kernel_end);
    return {begin, end};
}

} // namespace ember
