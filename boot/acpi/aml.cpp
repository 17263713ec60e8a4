#include "boot/acpi/aml.hpp"

#include <array>

namespace ember::boot::aml {
namespace {

constexpr size_t kNameSegSize = 4;

std::byte op(Op o) {
    return static_cast<std::byte>(o);
}
std::byte byte(uint64_t value) {
    return static_cast<std::byte>(value & 0xFF);
}

template <size_t N> void append_le(Bytes& out, uint64_t value) {
    for (size_t i = 0; i < N; ++i)
        out.push_back(byte(value >> (8 * i)));
}

void append(Bytes& out, std::span<const std::byte> data) {
    out.insert(out.end(), data.begin(), data.end());
}

void append_name_seg(Bytes& out, std::string_view seg) {
    for (size_t i = 0; i < kNameSegSize; ++i)
        out.push_back(i < seg.size() ? static_cast<std::byte>(seg[i]) : std::byte{'_'});
}

// `opcode` PkgLength `body`: the shape of Scope, Device, Buffer and Package.
Bytes with_pkg_length(std::span<const std::byte> opcode, const Bytes& body) {
    Bytes out(opcode.begin(), opcode.end());
    append(out, pkg_length(body.size()));
    append(out, body);
    return out;
}

} // namespace

bool valid_name_seg(std::string_view seg) {
    if (seg.empty() || seg.size() > kNameSegSize) return false;
    for (size_t i = 0; i < seg.size(); ++i) {
        const char c = seg[i];
        const bool lead = (c >= 'A' && c <= 'Z') || c == '_';
        if (!lead && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

Bytes concat(std::initializer_list<Bytes> parts) {
    return concat(std::span<const Bytes>(parts.begin(), parts.size()));
}

Bytes concat(std::span<const Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts)
        append(out, p);
    return out;
}

Bytes pkg_length(size_t content_size) {
    // The encoded length counts the PkgLength bytes themselves. One byte holds 6 bits; with
    // 1..3 following bytes the lead byte keeps 4 bits and its bits 7:6 give the count.
    if (content_size + 1 <= 0x3F) return {byte(content_size + 1)};
    for (size_t extra = 1; extra <= 3; ++extra) {
        const size_t total = content_size + 1 + extra;
        if (total < (size_t{1} << (4 + 8 * extra))) {
            Bytes out{byte((extra << 6) | (total & 0x0F))};
            for (size_t i = 0; i < extra; ++i)
                out.push_back(byte(total >> (4 + 8 * i)));
            return out;
        }
    }
    return {}; // over 256 MiB: AML cannot say it, and no caller comes near
}

Bytes name_string(std::string_view path) {
    Bytes out;
    if (!path.empty() && path.front() == '\\') {
        out.push_back(op(Op::kRootChar));
        path.remove_prefix(1);
    }
    std::vector<std::string_view> segs;
    while (!path.empty()) {
        const size_t dot = path.find('.');
        segs.push_back(path.substr(0, dot));
        path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    }
    if (segs.empty()) {
        out.push_back(op(Op::kZero)); // NullName
    } else if (segs.size() == 2) {
        out.push_back(op(Op::kDualNamePrefix));
    } else if (segs.size() > 2) {
        out.push_back(op(Op::kMultiNamePrefix));
        out.push_back(byte(segs.size()));
    }
    for (std::string_view seg : segs)
        append_name_seg(out, seg);
    return out;
}

Bytes integer(uint64_t value) {
    if (value == 0) return {op(Op::kZero)};
    if (value == 1) return {op(Op::kOne)};
    if (value == UINT64_MAX) return {op(Op::kOnes)};
    Bytes out;
    if (value <= UINT8_MAX) {
        out.push_back(op(Op::kBytePrefix));
        append_le<1>(out, value);
    } else if (value <= UINT16_MAX) {
        out.push_back(op(Op::kWordPrefix));
        append_le<2>(out, value);
    } else if (value <= UINT32_MAX) {
        out.push_back(op(Op::kDWordPrefix));
        append_le<4>(out, value);
    } else {
        out.push_back(op(Op::kQWordPrefix));
        append_le<8>(out, value);
    }
    return out;
}

Bytes string(std::string_view ascii) {
    Bytes out{op(Op::kStringPrefix)};
    for (char c : ascii)
        out.push_back(static_cast<std::byte>(c));
    out.push_back(std::byte{0});
    return out;
}

Bytes package(std::span<const Bytes> elements) {
    Bytes body{byte(elements.size())}; // NumElements: at most 255 in a Package
    append(body, concat(elements));
    const std::array opcode{op(Op::kPackage)};
    return with_pkg_length(opcode, body);
}

Bytes buffer(std::span<const std::byte> data) {
    Bytes body = integer(data.size());
    append(body, data);
    const std::array opcode{op(Op::kBuffer)};
    return with_pkg_length(opcode, body);
}

Bytes name(std::string_view path, const Bytes& value) {
    Bytes out{op(Op::kName)};
    append(out, name_string(path));
    append(out, value);
    return out;
}

Bytes scope(std::string_view path, const Bytes& terms) {
    const std::array opcode{op(Op::kScope)};
    return with_pkg_length(opcode, concat({name_string(path), terms}));
}

Bytes device(std::string_view path, const Bytes& terms) {
    const std::array opcode{op(Op::kExtOpPrefix), op(Op::kDevice)};
    return with_pkg_length(opcode, concat({name_string(path), terms}));
}

Bytes memory32_fixed(uint32_t base, uint32_t length, bool writable) {
    Bytes out{std::byte{0x86}}; // large item, type 0x06
    append_le<2>(out, 9);       // length of the data that follows
    out.push_back(std::byte{writable ? uint8_t{1} : uint8_t{0}});
    append_le<4>(out, base);
    append_le<4>(out, length);
    return out;
}

Bytes extended_interrupt(uint32_t gsi, Trigger trigger, Polarity polarity) {
    Bytes out{std::byte{0x89}}; // large item, type 0x09
    append_le<2>(out, 6);
    // Bit 0: consumer; 1: edge; 2: active low; 3: shared (no); 4: wake capable (no).
    uint8_t flags = 0x01;
    if (trigger == Trigger::kEdge) flags |= 0x02;
    if (polarity == Polarity::kActiveLow) flags |= 0x04;
    out.push_back(std::byte{flags});
    out.push_back(std::byte{1}); // one interrupt number follows
    append_le<4>(out, gsi);
    return out;
}

Bytes io_port(uint16_t base, uint8_t length) {
    Bytes out{std::byte{0x47}};  // small item, type 0x08, 7 bytes follow
    out.push_back(std::byte{1}); // 16-bit address decode
    append_le<2>(out, base);     // minimum base
    append_le<2>(out, base);     // maximum base: the range is fixed
    out.push_back(std::byte{1}); // alignment
    out.push_back(std::byte{length});
    return out;
}

Bytes irq_no_flags(uint8_t irq) {
    Bytes out{std::byte{0x22}}; // small item, type 0x04, 2 bytes follow: the IRQ mask
    append_le<2>(out, uint64_t{1} << irq);
    return out;
}

uint32_t eisa_id(std::string_view id) {
    auto letter = [&](size_t i) { return static_cast<uint32_t>(id[i] - 0x40) & 0x1f; };
    auto hex = [&](size_t i) {
        const char c = id[i];
        return static_cast<uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    };
    // Big-endian bit packing: 5-bit letters, then 4-bit digits, stored as a little-endian dword.
    const uint32_t packed = (letter(0) << 26) | (letter(1) << 21) | (letter(2) << 16) |
                            (hex(3) << 12) | (hex(4) << 8) | (hex(5) << 4) | hex(6);
    return ((packed & 0xff) << 24) | ((packed & 0xff00) << 8) | ((packed >> 8) & 0xff00) |
           (packed >> 24);
}

Bytes resource_template(const Bytes& descriptors) {
    // End Tag: small item 0x0F with one byte, a checksum; 0 means "treat as correct".
    const Bytes body = concat({descriptors, Bytes{std::byte{0x79}, std::byte{0x00}}});
    return buffer(body);
}

} // namespace ember::boot::aml
