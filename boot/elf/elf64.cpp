#include "boot/elf/elf64.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace ember::boot {
namespace {

constexpr std::string_view kWhatWeBoot =
    "ember boots PVH ELF kernels (an ELF with a XEN_ELFNOTE_PHYS32_ENTRY note)";

// True when [offset, offset + len) lies within `size` bytes; written so that it cannot overflow.
bool within(uint64_t offset, uint64_t len, uint64_t size) {
    return offset <= size && len <= size - offset;
}

// Copies a header out of the file; the caller has checked that it lies within.
template <class T> T copy_out(std::span<const std::byte> file, uint64_t offset) {
    T value{};
    std::memcpy(&value, file.data() + offset, sizeof(T));
    return value;
}

uint64_t align_up(uint64_t value, uint64_t align) {
    return (value + align - 1) & ~(align - 1);
}

// A bzImage is the likeliest wrong file: say so rather than just "bad magic".
bool looks_like_bzimage(std::span<const std::byte> file) {
    constexpr uint64_t kHeaderMagicOffset = 0x202; // "HdrS" in the Linux x86 setup header
    constexpr std::string_view kHeaderMagic = "HdrS";
    if (!within(kHeaderMagicOffset, kHeaderMagic.size(), file.size())) return false;
    return std::memcmp(file.data() + kHeaderMagicOffset, kHeaderMagic.data(),
                       kHeaderMagic.size()) == 0;
}

std::string_view machine_name(uint16_t machine) {
    switch (machine) {
    case EM_386:
        return "i386";
    case EM_ARM:
        return "arm";
    case EM_AARCH64:
        return "aarch64";
    case EM_RISCV:
        return "riscv";
    case EM_PPC64:
        return "ppc64";
    case EM_S390:
        return "s390";
    default:
        return "unknown";
    }
}

// The e_ident checks: magic, class, byte order.
Result<void> check_ident(std::span<const std::byte> file) {
    if (file.size() < SELFMAG || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0) {
        if (looks_like_bzimage(file))
            return make_error(Errc::kInvalidInput,
                              "this is a bzImage (Linux boot protocol), not an ELF file; {}; "
                              "give the vmlinux ELF of a kernel built with CONFIG_PVH=y",
                              kWhatWeBoot);
        return make_error(Errc::kInvalidInput, "not an ELF file (bad magic); {}", kWhatWeBoot);
    }
    if (file.size() < EI_NIDENT)
        return make_error(Errc::kInvalidInput,
                          "truncated ELF header: the file is {} bytes, the ELF64 header needs {}",
                          file.size(), sizeof(Elf64_Ehdr));
    const auto elf_class = static_cast<uint8_t>(file[EI_CLASS]);
    if (elf_class != ELFCLASS64)
        return make_error(Errc::kInvalidInput, "ELF class {} is not ELFCLASS64{}; {}", elf_class,
                          elf_class == ELFCLASS32 ? " (this is a 32-bit ELF)" : "", kWhatWeBoot);
    const auto data = static_cast<uint8_t>(file[EI_DATA]);
    if (data != ELFDATA2LSB)
        return make_error(Errc::kInvalidInput,
                          "ELF data encoding {} is not little-endian (ELFDATA2LSB); x86-64 kernels "
                          "are little-endian",
                          data);
    return {};
}

Result<void> check_header(const Elf64_Ehdr& eh, uint64_t file_size) {
    if (eh.e_machine != EM_X86_64)
        return make_error(Errc::kInvalidInput, "ELF machine {} ({}) is not x86-64 (EM_X86_64 = {})",
                          eh.e_machine, machine_name(eh.e_machine), EM_X86_64);
    if (eh.e_type == ET_DYN)
        return make_error(Errc::kInvalidInput,
                          "ELF type ET_DYN (position-independent) is not supported; ember loads "
                          "ET_EXEC kernels linked at fixed physical addresses");
    if (eh.e_type == ET_REL)
        return make_error(Errc::kInvalidInput,
                          "ELF type ET_REL (a relocatable object) is not supported; link it into "
                          "an ET_EXEC kernel first");
    if (eh.e_type != ET_EXEC)
        return make_error(Errc::kInvalidInput, "ELF type {} is not an executable (ET_EXEC)",
                          eh.e_type);
    if (eh.e_phnum == 0)
        return make_error(Errc::kInvalidInput,
                          "ELF has no program headers, so no PT_LOAD segment (nothing to load)");
    if (eh.e_phnum == PN_XNUM)
        return make_error(Errc::kInvalidInput,
                          "ELF uses extended program header numbering (e_phnum = PN_XNUM); "
                          "not supported for kernels");
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
        return make_error(Errc::kInvalidInput,
                          "ELF e_phentsize is {}, an ELF64 program header is {} bytes",
                          eh.e_phentsize, sizeof(Elf64_Phdr));
    const uint64_t table_size = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
    if (!within(eh.e_phoff, table_size, file_size))
        return make_error(Errc::kInvalidInput,
                          "program header table [e_phoff {:#x}, +{} x {} bytes) runs past the end "
                          "of the file ({:#x} bytes); the file is truncated or corrupt",
                          eh.e_phoff, eh.e_phnum, sizeof(Elf64_Phdr), file_size);
    return {};
}

} // namespace

Result<Elf64> Elf64::parse(std::span<const std::byte> file, std::string context) {
    auto fail = [&context](Error&& e) {
        return tl::unexpected<Error>(std::move(e).with_context(context));
    };
    if (auto r = check_ident(file); !r) return fail(std::move(r.error()));
    if (file.size() < sizeof(Elf64_Ehdr))
        return fail(Error(Errc::kInvalidInput,
                          fmt::format("truncated ELF header: the file is {} bytes, the ELF64 "
                                      "header needs {}",
                                      file.size(), sizeof(Elf64_Ehdr))));
    const auto header = copy_out<Elf64_Ehdr>(file, 0);
    if (auto r = check_header(header, file.size()); !r) return fail(std::move(r.error()));

    Elf64 elf(file, context, header);
    if (auto r = elf.parse_program_headers(); !r) return fail(std::move(r.error()));
    return elf;
}

Result<void> Elf64::parse_program_headers() {
    for (uint16_t i = 0; i < header_.e_phnum; ++i) {
        const auto phdr =
            copy_out<Elf64_Phdr>(file_, header_.e_phoff + uint64_t{i} * sizeof(Elf64_Phdr));
        if (phdr.p_type == PT_LOAD) EMBER_TRY_VOID(add_load(phdr, i));
        if (phdr.p_type == PT_NOTE) EMBER_TRY_VOID(add_notes(phdr, i));
    }
    if (segments_.empty())
        return make_error(Errc::kInvalidInput,
                          "ELF has no PT_LOAD segment (nothing to load) among its {} program "
                          "headers",
                          header_.e_phnum);
    return {};
}

Result<void> Elf64::add_load(const Elf64_Phdr& ph, uint16_t index) {
    if (segments_.size() == kMaxLoadSegments)
        return make_error(
            Errc::kInvalidInput,
            "program header {}: more than {} PT_LOAD segments; no kernel has that many", index,
            kMaxLoadSegments);
    if (ph.p_filesz > ph.p_memsz)
        return make_error(
            Errc::kInvalidInput,
            "program header {} (PT_LOAD): p_filesz {:#x} is larger than p_memsz {:#x}", index,
            ph.p_filesz, ph.p_memsz);
    if (ph.p_memsz > kMaxSegmentSize)
        return make_error(Errc::kInvalidInput,
                          "program header {} (PT_LOAD): p_memsz {:#x} is absurd (over {} MiB)",
                          index, ph.p_memsz, kMaxSegmentSize >> 20);
    if (!within(ph.p_offset, ph.p_filesz, file_.size()))
        return make_error(
            Errc::kInvalidInput,
            "program header {} (PT_LOAD): data [p_offset {:#x}, +p_filesz {:#x}) runs "
            "past the end of the file ({:#x} bytes); the file is truncated or corrupt",
            index, ph.p_offset, ph.p_filesz, file_.size());
    if (ph.p_paddr > std::numeric_limits<uint64_t>::max() - ph.p_memsz)
        return make_error(
            Errc::kInvalidInput,
            "program header {} (PT_LOAD): p_paddr {:#x} + p_memsz {:#x} overflows the "
            "64-bit address space",
            index, ph.p_paddr, ph.p_memsz);
    segments_.push_back(
        {index, ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_paddr, ph.p_vaddr, ph.p_flags});
    return {};
}

// Notes are padded to 4 bytes, or to 8 in a PT_NOTE aligned to 8 (GNU property notes). A final
// descriptor may lack its padding at the very end of the segment; that is tolerated.
Result<void> Elf64::add_notes(const Elf64_Phdr& ph, uint16_t index) {
    if (!within(ph.p_offset, ph.p_filesz, file_.size()))
        return make_error(
            Errc::kInvalidInput,
            "program header {} (PT_NOTE): data [p_offset {:#x}, +p_filesz {:#x}) runs "
            "past the end of the file ({:#x} bytes)",
            index, ph.p_offset, ph.p_filesz, file_.size());
    const uint64_t align = ph.p_align == 8 ? 8 : 4;
    const auto data = file_.subspan(ph.p_offset, ph.p_filesz);
    uint64_t pos = 0;
    while (pos < data.size()) {
        const uint64_t left = data.size() - pos;
        if (left < sizeof(Elf64_Nhdr))
            return make_error(Errc::kInvalidInput,
                              "program header {} (PT_NOTE): note at segment offset {:#x} is "
                              "truncated ({} bytes left, a note header needs {})",
                              index, pos, left, sizeof(Elf64_Nhdr));
        if (notes_.size() == kMaxNotes)
            return make_error(Errc::kInvalidInput,
                              "program header {} (PT_NOTE): more than {} notes", index, kMaxNotes);
        const auto nh = copy_out<Elf64_Nhdr>(data, pos);
        // As binutils does: the descriptor starts at the next boundary after header and name.
        const uint64_t name_at = pos + sizeof(Elf64_Nhdr);
        const uint64_t desc_at = pos + align_up(sizeof(Elf64_Nhdr) + nh.n_namesz, align);
        if (desc_at > data.size() || !within(desc_at, nh.n_descsz, data.size()))
            return make_error(Errc::kInvalidInput,
                              "program header {} (PT_NOTE): note at segment offset {:#x} (n_namesz "
                              "{}, n_descsz {}, padded to {}) runs past the end of the segment "
                              "({:#x} bytes)",
                              index, pos, nh.n_namesz, nh.n_descsz, align, data.size());
        const auto name = data.subspan(name_at, nh.n_namesz);
        // The owner name is NUL-terminated inside n_namesz; keep the characters before the NUL.
        const auto name_end = std::find(name.begin(), name.end(), std::byte{0});
        // Safety: char may alias any object; the view covers bytes inside the file span, which
        // outlives this Elf64 (see the header).
        const std::string_view owner(reinterpret_cast<const char*>(name.data()), // NOLINT
                                     static_cast<size_t>(name_end - name.begin()));
        notes_.push_back({index, nh.n_type, owner, data.subspan(desc_at, nh.n_descsz)});
        pos = std::min<uint64_t>(desc_at + align_up(nh.n_descsz, align), data.size());
    }
    return {};
}

const ElfNote* Elf64::find_note(std::string_view name, uint32_t type) const {
    for (const auto& note : notes_)
        if (note.type == type && note.name == name) return &note;
    return nullptr;
}

} // namespace ember::boot
