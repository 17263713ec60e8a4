// A tiny AML writer: just what ember's DSDT needs (ACPI 6.5, chapter 20 "ACPI Machine Language
// Specification" and 6.4 "Resource Data Types"). Each function returns the encoded bytes of one
// term, so a table reads like the ASL it stands for:
//
//   scope("\\_SB_", device("V000", concat({name("_HID", string("LNRO0005")), ...})))
//
// Name segments are 1..4 characters of [A-Z0-9_], the first not a digit; shorter ones are
// padded with '_' as ASL does. Names are ember's own constants, so a bad one is a bug: the
// writer pads and upper-cases nothing, and the unit tests check every name ember uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

namespace ember::boot::aml {

using Bytes = std::vector<std::byte>;

// AML opcodes and prefixes (ACPI 6.5, 20.3).
enum class Op : uint8_t {
    kZero = 0x00,
    kOne = 0x01,
    kName = 0x08,
    kBytePrefix = 0x0A,
    kWordPrefix = 0x0B,
    kDWordPrefix = 0x0C,
    kStringPrefix = 0x0D,
    kQWordPrefix = 0x0E,
    kScope = 0x10,
    kBuffer = 0x11,
    kPackage = 0x12,
    kDualNamePrefix = 0x2E,
    kMultiNamePrefix = 0x2F,
    kExtOpPrefix = 0x5B,
    kRootChar = 0x5C,
    kDevice = 0x82, // after kExtOpPrefix
    kOnes = 0xFF,
};

// True when `seg` is a valid name segment before padding.
[[nodiscard]] bool valid_name_seg(std::string_view seg);

// Concatenates terms into one term list.
[[nodiscard]] Bytes concat(std::initializer_list<Bytes> parts);
[[nodiscard]] Bytes concat(std::span<const Bytes> parts);

// PkgLength (20.2.4) for `content_size` bytes that follow it: 1 to 4 bytes, counting itself.
[[nodiscard]] Bytes pkg_length(size_t content_size);

// NameString: an optional leading '\' (root), then segments separated by '.'.
[[nodiscard]] Bytes name_string(std::string_view path);

// Data objects: the shortest integer encoding (Zero, One, Ones, Byte/Word/DWord/QWord const),
// a NUL-terminated ASCII string, a package of data objects, a buffer of bytes.
[[nodiscard]] Bytes integer(uint64_t value);
[[nodiscard]] Bytes string(std::string_view ascii);
[[nodiscard]] Bytes package(std::span<const Bytes> elements);
[[nodiscard]] Bytes buffer(std::span<const std::byte> data);

// Named objects and scopes.
[[nodiscard]] Bytes name(std::string_view path, const Bytes& value);
[[nodiscard]] Bytes scope(std::string_view path, const Bytes& terms);
[[nodiscard]] Bytes device(std::string_view path, const Bytes& terms);

// Resource descriptors (6.4) and ResourceTemplate (a Buffer ending with an End Tag).
enum class Trigger : uint8_t { kLevel, kEdge };
enum class Polarity : uint8_t { kActiveHigh, kActiveLow };
// Memory32Fixed(ReadWrite or ReadOnly, base, length): large item 0x06, 12 bytes.
[[nodiscard]] Bytes memory32_fixed(uint32_t base, uint32_t length, bool writable);
// Interrupt(ResourceConsumer, trigger, polarity, Exclusive) {gsi}: large item 0x09, 9 bytes.
[[nodiscard]] Bytes extended_interrupt(uint32_t gsi, Trigger trigger, Polarity polarity);
// IO(Decode16, base, base, 1, length): a fixed legacy port range; small item 0x08, 8 bytes.
[[nodiscard]] Bytes io_port(uint16_t base, uint8_t length);
// IRQNoFlags() {irq}: an ISA interrupt (edge, active high, exclusive); small item 0x04, 3 bytes.
[[nodiscard]] Bytes irq_no_flags(uint8_t irq);
[[nodiscard]] Bytes resource_template(const Bytes& descriptors);

// EisaId("PNP0501"): three letters and four hex digits compressed into a 32-bit integer, as
// _HID values of PC devices are written. `id` must be valid (7 characters: A-Z x3, hex x4).
[[nodiscard]] uint32_t eisa_id(std::string_view id);

} // namespace ember::boot::aml
