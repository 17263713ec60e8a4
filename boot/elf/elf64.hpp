// Elf64: a validated view of an x86-64 ELF executable (a kernel), parsed from untrusted bytes.
//
// parse() checks everything the loaders rely on, so that they never index out of the file or
// overflow an address: the identification, the header, every program header table entry, the
// file range of each PT_LOAD and PT_NOTE, and each note's sizes. Headers are copied out of the
// byte span with memcpy (the span has no alignment guarantee). Nothing here knows about guest
// memory; placing segments is the loader's job (boot/pvh/pvh_loader.hpp).
//
// An Elf64 points into the bytes it was parsed from: they must outlive it.
#pragma once

#include "vmm/sys/result.hpp"

#include <elf.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ember::boot {

// A PT_LOAD larger than this is refused as absurd, whatever the guest memory size.
inline constexpr uint64_t kMaxSegmentSize = 1ULL << 30;
// Bounds on what parse() keeps, so that a hostile file cannot make us allocate much.
inline constexpr size_t kMaxLoadSegments = 64;
inline constexpr size_t kMaxNotes = 256;

// A PT_LOAD program header. file_size <= mem_size <= kMaxSegmentSize, the file range lies in
// the file, and paddr + mem_size does not overflow.
struct ElfSegment {
    uint16_t index = 0; // in the program header table, for messages
    uint64_t offset = 0;
    uint64_t file_size = 0;
    uint64_t mem_size = 0;
    uint64_t paddr = 0;
    uint64_t vaddr = 0;
    uint32_t flags = 0;
};

// One note from a PT_NOTE segment.
struct ElfNote {
    uint16_t phdr_index = 0; // the PT_NOTE it came from, for messages
    uint32_t type = 0;
    std::string_view name; // the owner, without its terminating NUL ("Xen", "GNU"); in the file
    std::span<const std::byte> desc; // in the file
};

class Elf64 final {
public:
    // `context` prefixes every error message and is kept for the loader's messages
    // ("kernel 'x.elf'"). Errors are Errc::kInvalidInput.
    static Result<Elf64> parse(std::span<const std::byte> file, std::string context);

    [[nodiscard]] const std::string& context() const { return context_; }
    [[nodiscard]] const Elf64_Ehdr& header() const { return header_; }
    // The PT_LOAD segments in program header order; never empty.
    [[nodiscard]] std::span<const ElfSegment> segments() const { return segments_; }
    [[nodiscard]] std::span<const ElfNote> notes() const { return notes_; }
    // The bytes of `segment` present in the file (file_size of them).
    [[nodiscard]] std::span<const std::byte> file_data(const ElfSegment& segment) const {
        return file_.subspan(segment.offset, segment.file_size);
    }
    // The first note with this owner and type, or nullptr.
    [[nodiscard]] const ElfNote* find_note(std::string_view name, uint32_t type) const;

private:
    Elf64(std::span<const std::byte> file, std::string context, const Elf64_Ehdr& header)
        : file_(file), context_(std::move(context)), header_(header) {}
    Result<void> parse_program_headers();
    Result<void> add_load(const Elf64_Phdr& phdr, uint16_t index);
    Result<void> add_notes(const Elf64_Phdr& phdr, uint16_t index);

    std::span<const std::byte> file_;
    std::string context_;
    Elf64_Ehdr header_;
    std::vector<ElfSegment> segments_;
    std::vector<ElfNote> notes_;
};

} // namespace ember::boot
