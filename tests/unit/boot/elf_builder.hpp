// ElfBuilder: builds small x86-64 ELF executables in memory for the boot tests, valid by
// default, with helpers to corrupt the header or a program header after the layout is done.
#pragma once

#include "boot/x86_64/hvm_start_info.hpp"

#include <elf.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace ember::boot::testing {

inline std::vector<std::byte> pattern(size_t size, uint8_t seed) {
    std::vector<std::byte> out(size);
    for (size_t i = 0; i < size; ++i)
        out[i] = static_cast<std::byte>((seed + i * 7) & 0xff);
    return out;
}

inline std::vector<std::byte> bytes_of(std::string_view s) {
    const auto b = std::as_bytes(std::span(s.data(), s.size()));
    return {b.begin(), b.end()};
}

template <class T> void append(std::vector<std::byte>& out, const T& value) {
    const auto b = std::as_bytes(std::span(&value, 1));
    out.insert(out.end(), b.begin(), b.end());
}

inline void pad_to(std::vector<std::byte>& out, size_t align) {
    while (out.size() % align != 0)
        out.push_back(std::byte{0});
}

// One note: header, NUL-terminated owner name and descriptor, each padded to `align`.
inline std::vector<std::byte> encode_note(std::string_view name, uint32_t type,
                                          std::span<const std::byte> desc, size_t align = 4) {
    std::vector<std::byte> out;
    Elf64_Nhdr nh{};
    nh.n_namesz = static_cast<uint32_t>(name.size() + 1);
    nh.n_descsz = static_cast<uint32_t>(desc.size());
    nh.n_type = type;
    append(out, nh);
    const auto n = bytes_of(name);
    out.insert(out.end(), n.begin(), n.end());
    out.push_back(std::byte{0});
    pad_to(out, align);
    out.insert(out.end(), desc.begin(), desc.end());
    pad_to(out, align);
    return out;
}

// The XEN_ELFNOTE_PHYS32_ENTRY note; Linux emits an 8-byte descriptor, others 4.
inline std::vector<std::byte> pvh_note(uint64_t entry, size_t desc_size = 4) {
    std::vector<std::byte> desc(desc_size);
    std::memcpy(desc.data(), &entry, std::min(desc_size, sizeof(entry)));
    return encode_note("Xen", kXenElfnotePhys32Entry, desc);
}

class ElfBuilder {
public:
    ElfBuilder() {
        std::memcpy(header_.e_ident, ELFMAG, SELFMAG);
        header_.e_ident[EI_CLASS] = ELFCLASS64;
        header_.e_ident[EI_DATA] = ELFDATA2LSB;
        header_.e_ident[EI_VERSION] = EV_CURRENT;
        header_.e_type = ET_EXEC;
        header_.e_machine = EM_X86_64;
        header_.e_version = EV_CURRENT;
        header_.e_ehsize = sizeof(Elf64_Ehdr);
        header_.e_phentsize = sizeof(Elf64_Phdr);
    }

    Elf64_Ehdr& header() { return header_; }

    // A PT_LOAD of `data` at `paddr`; mem_size 0 means data.size(). Returns its index.
    size_t load(uint64_t paddr, std::vector<std::byte> data, uint64_t mem_size = 0) {
        Elf64_Phdr ph{};
        ph.p_type = PT_LOAD;
        ph.p_flags = PF_R | PF_X;
        ph.p_paddr = paddr;
        ph.p_vaddr = paddr + 0xffff'ffff'8000'0000; // like a kernel's high mapping
        ph.p_memsz = mem_size != 0 ? mem_size : data.size();
        ph.p_align = 0x1000;
        return add(ph, std::move(data));
    }

    // A PT_NOTE holding `notes` (already encoded). Returns its index.
    size_t notes(std::vector<std::byte> encoded, uint64_t align = 4) {
        Elf64_Phdr ph{};
        ph.p_type = PT_NOTE;
        ph.p_flags = PF_R;
        ph.p_align = align;
        return add(ph, std::move(encoded));
    }

    // Any other program header, with no file data.
    size_t other(uint32_t type) {
        Elf64_Phdr ph{};
        ph.p_type = type;
        return add(ph, {});
    }

    // Program header `i` as build() will write it, before p_offset/p_filesz are filled in.
    Elf64_Phdr& phdr(size_t i) { return phdrs_.at(i); }

    // Header, program header table at 64, then each segment's data 16-byte aligned. p_offset and
    // p_filesz are set from the data unless a test already set p_offset (then both are kept).
    [[nodiscard]] std::vector<std::byte> build() const {
        Elf64_Ehdr eh = header_;
        eh.e_phoff = sizeof(Elf64_Ehdr);
        eh.e_phnum = static_cast<uint16_t>(phdrs_.size());
        std::vector<Elf64_Phdr> phdrs = phdrs_;
        size_t offset = sizeof(Elf64_Ehdr) + phdrs.size() * sizeof(Elf64_Phdr);
        for (size_t i = 0; i < phdrs.size(); ++i) {
            offset = (offset + 15) & ~size_t{15};
            if (phdrs[i].p_offset == 0 && !data_[i].empty()) {
                phdrs[i].p_offset = offset;
                phdrs[i].p_filesz = data_[i].size();
            }
            offset += data_[i].size();
        }
        std::vector<std::byte> out;
        append(out, eh);
        for (const auto& ph : phdrs)
            append(out, ph);
        for (size_t i = 0; i < phdrs.size(); ++i) {
            pad_to(out, 16);
            out.insert(out.end(), data_[i].begin(), data_[i].end());
        }
        return out;
    }

    // A valid PVH kernel: code at 1 MiB with the entry 0x10 bytes in, plus a bss.
    static ElfBuilder pvh_kernel(uint64_t paddr = 0x10'0000, size_t code = 0x2000,
                                 uint64_t mem_size = 0x5000) {
        ElfBuilder b;
        b.load(paddr, pattern(code, 1), mem_size);
        b.notes(pvh_note(paddr + 0x10));
        return b;
    }

private:
    size_t add(const Elf64_Phdr& ph, std::vector<std::byte> data) {
        phdrs_.push_back(ph);
        data_.push_back(std::move(data));
        return phdrs_.size() - 1;
    }

    Elf64_Ehdr header_{};
    std::vector<Elf64_Phdr> phdrs_;
    std::vector<std::vector<std::byte>> data_;
};

// Rewrites header fields of a built ELF (for corruptions build() would not produce).
template <class F> void patch_header(std::vector<std::byte>& elf, F&& change) {
    Elf64_Ehdr eh;
    std::memcpy(&eh, elf.data(), sizeof(eh));
    change(eh);
    std::memcpy(elf.data(), &eh, sizeof(eh));
}

template <class F> void patch_phdr(std::vector<std::byte>& elf, size_t index, F&& change) {
    const size_t at = sizeof(Elf64_Ehdr) + index * sizeof(Elf64_Phdr);
    Elf64_Phdr ph;
    std::memcpy(&ph, elf.data() + at, sizeof(ph));
    change(ph);
    std::memcpy(elf.data() + at, &ph, sizeof(ph));
}

} // namespace ember::boot::testing
