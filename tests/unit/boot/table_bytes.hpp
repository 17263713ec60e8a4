// Readers for firmware-table bytes (ACPI, MP table) in the boot tests: a field at an offset, a
// string, and the byte sum a checksum must make zero.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace ember::boot::testing {

using Bytes = std::vector<std::byte>;

inline unsigned byte_sum(std::span<const std::byte> b) {
    unsigned sum = 0;
    for (std::byte x : b)
        sum += std::to_integer<unsigned>(x);
    return sum & 0xFF;
}

template <class T> T read_at(const Bytes& b, size_t offset) {
    T value{};
    EXPECT_LE(offset + sizeof(T), b.size());
    std::memcpy(&value, b.data() + offset, sizeof(T));
    return value;
}

inline std::string str(const Bytes& b, size_t offset, size_t len) {
    std::string s(len, '\0');
    std::memcpy(s.data(), b.data() + offset, len);
    return s;
}

} // namespace ember::boot::testing
