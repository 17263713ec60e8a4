#include "boot/elf/elf64.hpp"

#include "tests/unit/boot/elf_builder.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

namespace ember::boot {
namespace {

using testing::ElfBuilder;
using testing::encode_note;
using ::testing::HasSubstr;
using testing::patch_header;
using testing::patch_phdr;
using testing::pattern;
using ::testing::StartsWith;

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

Result<Elf64> parse(const std::vector<std::byte>& file) {
    return Elf64::parse(file, "kernel 'test.elf'");
}

// The error message of a parse that must fail; checks the category and the prefix too.
std::string error_of(const std::vector<std::byte>& file) {
    auto r = parse(file);
    if (r) return "<parsed>";
    EXPECT_EQ(r.error().code(), Errc::kInvalidInput);
    EXPECT_THAT(r.error().message(), StartsWith("kernel 'test.elf': "));
    return r.error().message();
}

std::vector<std::byte> good_kernel() {
    return ElfBuilder::pvh_kernel().build();
}

TEST(Elf64, ParsesAGoodKernel) {
    auto b = ElfBuilder::pvh_kernel(0x20'0000, 0x1234, 0x8000);
    b.other(PT_GNU_STACK);
    const auto file = b.build();
    auto elf = parse(file);
    ASSERT_TRUE(elf) << elf.error().message();
    EXPECT_EQ(elf->context(), "kernel 'test.elf'");
    ASSERT_EQ(elf->segments().size(), 1U);
    const ElfSegment& s = elf->segments()[0];
    EXPECT_EQ(s.index, 0);
    EXPECT_EQ(s.paddr, 0x20'0000U);
    EXPECT_EQ(s.vaddr, 0xffff'ffff'8020'0000U);
    EXPECT_EQ(s.file_size, 0x1234U);
    EXPECT_EQ(s.mem_size, 0x8000U);
    EXPECT_EQ(s.flags, PF_R | PF_X);
    const auto data = elf->file_data(s);
    const auto expected = pattern(0x1234, 1);
    ASSERT_EQ(data.size(), expected.size());
    EXPECT_TRUE(std::equal(data.begin(), data.end(), expected.begin()));

    ASSERT_EQ(elf->notes().size(), 1U);
    const ElfNote* note = elf->find_note("Xen", kXenElfnotePhys32Entry);
    ASSERT_NE(note, nullptr);
    EXPECT_EQ(note->phdr_index, 1);
    EXPECT_EQ(note->name, "Xen");
    ASSERT_EQ(note->desc.size(), 4U);
    uint32_t entry = 0;
    std::memcpy(&entry, note->desc.data(), 4);
    EXPECT_EQ(entry, 0x20'0010U);
    EXPECT_EQ(elf->find_note("Xen", 17), nullptr);
    EXPECT_EQ(elf->find_note("GNU", kXenElfnotePhys32Entry), nullptr);
}

TEST(Elf64, RejectsANonElfFile) {
    const auto msg = error_of(testing::bytes_of("#!/bin/sh\necho this is not a kernel\n"));
    EXPECT_EQ(msg, "kernel 'test.elf': not an ELF file (bad magic); ember boots PVH ELF kernels "
                   "(an ELF with a XEN_ELFNOTE_PHYS32_ENTRY note)");
    EXPECT_THAT(error_of(testing::bytes_of("\x7f"
                                           "EL")),
                HasSubstr("not an ELF file (bad magic)"));
    EXPECT_THAT(error_of({}), HasSubstr("not an ELF file (bad magic)"));
}

TEST(Elf64, RecognisesABzImage) {
    std::vector<std::byte> file(0x400);
    std::memcpy(file.data() + 0x202, "HdrS", 4);
    EXPECT_THAT(error_of(file), HasSubstr("this is a bzImage (Linux boot protocol), not an ELF"));
}

TEST(Elf64, RejectsA32BitElf) {
    auto file = good_kernel();
    file[EI_CLASS] = std::byte{ELFCLASS32};
    EXPECT_THAT(error_of(file),
                HasSubstr("ELF class 1 is not ELFCLASS64 (this is a 32-bit ELF); ember boots"));
    file[EI_CLASS] = std::byte{7};
    EXPECT_THAT(error_of(file), HasSubstr("ELF class 7 is not ELFCLASS64; "));
}

TEST(Elf64, RejectsBigEndian) {
    auto file = good_kernel();
    file[EI_DATA] = std::byte{ELFDATA2MSB};
    EXPECT_THAT(error_of(file),
                HasSubstr("ELF data encoding 2 is not little-endian (ELFDATA2LSB)"));
}

TEST(Elf64, RejectsAnotherMachine) {
    auto file = good_kernel();
    patch_header(file, [](Elf64_Ehdr& h) { h.e_machine = EM_AARCH64; });
    EXPECT_THAT(error_of(file),
                HasSubstr("ELF machine 183 (aarch64) is not x86-64 (EM_X86_64 = 62)"));
    patch_header(file, [](Elf64_Ehdr& h) { h.e_machine = 0x1234; });
    EXPECT_THAT(error_of(file), HasSubstr("ELF machine 4660 (unknown) is not x86-64"));
}

TEST(Elf64, RejectsNonExecutableTypes) {
    auto file = good_kernel();
    patch_header(file, [](Elf64_Ehdr& h) { h.e_type = ET_DYN; });
    EXPECT_THAT(error_of(file),
                HasSubstr("ELF type ET_DYN (position-independent) is not supported"));
    patch_header(file, [](Elf64_Ehdr& h) { h.e_type = ET_REL; });
    EXPECT_THAT(error_of(file),
                HasSubstr("ELF type ET_REL (a relocatable object) is not supported"));
    patch_header(file, [](Elf64_Ehdr& h) { h.e_type = ET_CORE; });
    EXPECT_THAT(error_of(file), HasSubstr("ELF type 4 is not an executable (ET_EXEC)"));
}

TEST(Elf64, RejectsATruncatedHeader) {
    auto file = good_kernel();
    file.resize(40);
    EXPECT_THAT(error_of(file),
                HasSubstr("truncated ELF header: the file is 40 bytes, the ELF64 header needs 64"));
    file.resize(10);
    EXPECT_THAT(error_of(file),
                HasSubstr("truncated ELF header: the file is 10 bytes, the ELF64 header needs 64"));
}

TEST(Elf64, RejectsAProgramHeaderTablePastTheEnd) {
    auto file = good_kernel();
    const uint64_t size = file.size();
    patch_header(file, [size](Elf64_Ehdr& h) { h.e_phoff = size - 10; });
    EXPECT_THAT(error_of(file),
                HasSubstr(fmt::format("program header table [e_phoff {:#x}, +2 x 56 bytes) runs "
                                      "past the end of the file ({:#x} bytes)",
                                      size - 10, size)));
    // An offset that would wrap around when the table size is added.
    patch_header(file, [](Elf64_Ehdr& h) { h.e_phoff = kMax - 8; });
    EXPECT_THAT(error_of(file), HasSubstr("program header table [e_phoff 0xfffffffffffffff7"));
    // A table cut short by truncating the file.
    file = good_kernel();
    file.resize(sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 20);
    EXPECT_THAT(error_of(file), HasSubstr("program header table [e_phoff 0x40, +2 x 56 bytes)"));
}

TEST(Elf64, RejectsBadProgramHeaderCounts) {
    auto file = good_kernel();
    patch_header(file, [](Elf64_Ehdr& h) { h.e_phentsize = 32; });
    EXPECT_THAT(error_of(file), HasSubstr("ELF e_phentsize is 32, an ELF64 program header is 56"));
    patch_header(file, [](Elf64_Ehdr& h) { h.e_phnum = 0; });
    EXPECT_THAT(error_of(file), HasSubstr("ELF has no program headers"));
    patch_header(file, [](Elf64_Ehdr& h) { h.e_phnum = PN_XNUM; });
    EXPECT_THAT(error_of(file), HasSubstr("extended program header numbering"));
}

TEST(Elf64, RejectsSegmentDataPastTheEnd) {
    auto file = good_kernel();
    const uint64_t size = file.size();
    patch_phdr(file, 0, [size](Elf64_Phdr& p) { p.p_filesz = size - 0xb0 + 1; });
    EXPECT_THAT(error_of(file),
                HasSubstr(fmt::format("program header 0 (PT_LOAD): data [p_offset 0xb0, +p_filesz "
                                      "{:#x}) runs past the end of the file ({:#x} bytes)",
                                      size - 0xb0 + 1, size)));
    file = good_kernel();
    patch_phdr(file, 0, [size](Elf64_Phdr& p) {
        p.p_offset = size + 1;
        p.p_filesz = 0;
    });
    EXPECT_THAT(error_of(file), HasSubstr("program header 0 (PT_LOAD): data [p_offset"));
    // p_offset + p_filesz wraps around to a small number.
    file = good_kernel();
    patch_phdr(file, 0, [](Elf64_Phdr& p) {
        p.p_offset = kMax - 0xf;
        p.p_filesz = 0x20;
    });
    EXPECT_THAT(error_of(file), HasSubstr("data [p_offset 0xfffffffffffffff0, +p_filesz 0x20) "
                                          "runs past the end of the file"));
}

TEST(Elf64, RejectsFileSizeAboveMemorySize) {
    auto file = good_kernel();
    patch_phdr(file, 0, [](Elf64_Phdr& p) { p.p_memsz = 0x1000; });
    EXPECT_THAT(error_of(file), HasSubstr("program header 0 (PT_LOAD): p_filesz 0x2000 is larger "
                                          "than p_memsz 0x1000"));
}

TEST(Elf64, RejectsAbsurdMemorySize) {
    auto file = good_kernel();
    patch_phdr(file, 0, [](Elf64_Phdr& p) { p.p_memsz = 0x8000'0000; });
    EXPECT_THAT(error_of(file), HasSubstr("program header 0 (PT_LOAD): p_memsz 0x80000000 is "
                                          "absurd (over 1024 MiB)"));
    patch_phdr(file, 0, [](Elf64_Phdr& p) { p.p_memsz = kMax; });
    EXPECT_THAT(error_of(file), HasSubstr("p_memsz 0xffffffffffffffff is absurd"));
}

TEST(Elf64, RejectsAnAddressThatOverflows) {
    auto file = good_kernel();
    patch_phdr(file, 0, [](Elf64_Phdr& p) { p.p_paddr = kMax - 0xfff; });
    EXPECT_THAT(error_of(file), HasSubstr("program header 0 (PT_LOAD): p_paddr 0xfffffffffffff000 "
                                          "+ p_memsz 0x5000 overflows the 64-bit address space"));
}

TEST(Elf64, RejectsAnElfWithoutPtLoad) {
    ElfBuilder b;
    b.notes(testing::pvh_note(0x100000));
    b.other(PT_GNU_STACK);
    EXPECT_THAT(error_of(b.build()), HasSubstr("ELF has no PT_LOAD segment (nothing to load) "
                                               "among its 2 program headers"));
}

TEST(Elf64, NamesTheOffendingProgramHeader) {
    auto b = ElfBuilder::pvh_kernel();
    b.other(PT_GNU_STACK);
    b.load(0x40'0000, pattern(0x100, 3));
    auto file = b.build();
    patch_phdr(file, 3, [](Elf64_Phdr& p) { p.p_filesz = 0x200; });
    EXPECT_THAT(error_of(file), HasSubstr("program header 3 (PT_LOAD): p_filesz 0x200 is larger "
                                          "than p_memsz 0x100"));
}

TEST(Elf64, RejectsTooManySegments) {
    ElfBuilder b;
    for (uint64_t i = 0; i <= kMaxLoadSegments; ++i)
        b.load(0x10'0000 + i * 0x1000, pattern(16, 0));
    EXPECT_THAT(error_of(b.build()), HasSubstr("program header 64: more than 64 PT_LOAD segments"));
}

TEST(Elf64, ParsesSeveralNotesAndAlignments) {
    auto b = ElfBuilder::pvh_kernel();
    std::vector<std::byte> notes = encode_note("GNU", NT_GNU_BUILD_ID, pattern(20, 9));
    const auto second = encode_note("Xen", 6, testing::bytes_of("linux"));
    notes.insert(notes.end(), second.begin(), second.end());
    b.notes(notes);
    b.notes(encode_note("GNU", NT_GNU_PROPERTY_TYPE_0, pattern(12, 4), 8), 8);
    const auto file = b.build(); // the Elf64 points into it
    auto elf = parse(file);
    ASSERT_TRUE(elf) << elf.error().message();
    ASSERT_EQ(elf->notes().size(), 4U);
    EXPECT_EQ(elf->notes()[1].name, "GNU");
    EXPECT_EQ(elf->notes()[1].desc.size(), 20U);
    EXPECT_EQ(elf->notes()[2].name, "Xen");
    EXPECT_EQ(elf->notes()[2].type, 6U);
    EXPECT_EQ(elf->notes()[2].desc.size(), 5U);
    EXPECT_EQ(elf->notes()[3].phdr_index, 3);
    EXPECT_EQ(elf->notes()[3].desc.size(), 12U);
    EXPECT_EQ(elf->notes()[3].desc[0], pattern(12, 4)[0]);
}

TEST(Elf64, ToleratesAMissingFinalDescriptorPad) {
    auto note = encode_note("Xen", 6, testing::bytes_of("linux"));
    note.resize(note.size() - 3); // "linux" is 5 bytes; drop the 3 bytes of padding
    auto b = ElfBuilder::pvh_kernel();
    b.notes(note);
    const auto file = b.build(); // the Elf64 points into it
    auto elf = parse(file);
    ASSERT_TRUE(elf) << elf.error().message();
    EXPECT_EQ(elf->notes().size(), 2U);
}

TEST(Elf64, RejectsMalformedNotes) {
    // A header cut short by the segment end.
    auto b = ElfBuilder::pvh_kernel();
    b.notes(pattern(8, 0));
    EXPECT_THAT(error_of(b.build()), HasSubstr("program header 2 (PT_NOTE): note at segment offset "
                                               "0x0 is truncated (8 bytes left, a note header "
                                               "needs 12)"));
    // A name that runs past the segment.
    auto file = ElfBuilder::pvh_kernel().build();
    const size_t note_at = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + 0x2000;
    auto set_u32 = [&file](size_t at, uint32_t v) { std::memcpy(file.data() + at, &v, 4); };
    set_u32(note_at, 0x100); // n_namesz
    EXPECT_THAT(error_of(file), HasSubstr("program header 1 (PT_NOTE): note at segment offset 0x0 "
                                          "(n_namesz 256, n_descsz 4, padded to 4) runs past the "
                                          "end of the segment (0x14 bytes)"));
    // A descriptor size near 4 GiB, which must not wrap around.
    set_u32(note_at, 4);
    set_u32(note_at + 4, 0xffff'fffe);
    EXPECT_THAT(error_of(file), HasSubstr("(n_namesz 4, n_descsz 4294967294, padded to 4) runs "
                                          "past the end of the segment"));
    // The note segment itself past the end of the file.
    file = ElfBuilder::pvh_kernel().build();
    patch_phdr(file, 1, [](Elf64_Phdr& p) { p.p_filesz = 0x10'0000; });
    EXPECT_THAT(error_of(file), HasSubstr("program header 1 (PT_NOTE): data [p_offset"));
}

TEST(Elf64, BoundsTheNumberOfNotes) {
    std::vector<std::byte> notes;
    for (size_t i = 0; i <= kMaxNotes; ++i) {
        const auto n = encode_note("X", 1, {});
        notes.insert(notes.end(), n.begin(), n.end());
    }
    auto b = ElfBuilder::pvh_kernel();
    b.notes(notes);
    EXPECT_THAT(error_of(b.build()), HasSubstr("program header 2 (PT_NOTE): more than 256 notes"));
}

} // namespace
} // namespace ember::boot
