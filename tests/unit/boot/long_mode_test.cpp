#include "boot/x86_64/long_mode.hpp"

#include "tests/unit/boot/test_memory.hpp"

#include "vmm/core/layout.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace ember::boot {
namespace {

constexpr uint64_t kMiB = layout::kMiB;
constexpr uint64_t kGiB = layout::kGiB;

uint64_t entry_at(const GuestMemory& memory, GuestAddr table, size_t index) {
    auto v = memory.read_obj<uint64_t>(table + index * 8);
    EXPECT_TRUE(v);
    return v ? *v : 0;
}

TEST(LongMode, GdtHoldsTheBootSelectors) {
    const auto gdt = long_mode_gdt();
    EXPECT_EQ(gdt[0], 0U);
    EXPECT_EQ(gdt[1], 0U);
    EXPECT_EQ(gdt[2], 0x00af'9b00'0000'ffffU); // 0x10: 64-bit code, L=1 D=0 G=1, exec/read
    EXPECT_EQ(gdt[3], 0x00cf'9300'0000'ffffU); // 0x18: flat data, read/write
    EXPECT_EQ(gdt[4], 0x0000'8b00'0000'0067U); // 0x20: busy 64-bit TSS, base 0, limit 0x67
    EXPECT_EQ(gdt[5], 0U);
}

TEST(LongMode, PageTablesIdentityMapTheFirstGiB) {
    const GuestMemory memory = make_memory(256 * kMiB);
    ASSERT_TRUE(write_long_mode_tables(memory, 200 * kMiB));
    EXPECT_EQ(entry_at(memory, kLongModeGdtAddr, 2), long_mode_gdt()[2]);
    EXPECT_EQ(entry_at(memory, kLongModePml4Addr, 0), 0xa003U);
    EXPECT_EQ(entry_at(memory, kLongModePml4Addr, 1), 0U);
    EXPECT_EQ(entry_at(memory, kLongModePdptAddr, 0), 0xb003U);
    EXPECT_EQ(entry_at(memory, kLongModePdptAddr, 1), 0U);
    EXPECT_EQ(entry_at(memory, kLongModePdAddr, 0), 0x83U); // present, writable, 2 MiB page
    EXPECT_EQ(entry_at(memory, kLongModePdAddr, 1), 0x20'0083U);
    EXPECT_EQ(entry_at(memory, kLongModePdAddr, 511), 0x3fe0'0083U);
    EXPECT_EQ(entry_at(memory, kLongModePdAddr + 0x1000, 0), 0U) << "one PD only";
}

TEST(LongMode, PageTablesCoverWhatTheLoaderUsesUpTo4GiB) {
    EXPECT_EQ(long_mode_pd_pages(0), 1U);
    EXPECT_EQ(long_mode_pd_pages(kGiB), 1U);
    EXPECT_EQ(long_mode_pd_pages(kGiB + 1), 2U);
    EXPECT_EQ(long_mode_pd_pages(3 * kGiB), 3U);
    EXPECT_EQ(long_mode_pd_pages(64 * kGiB), 4U);
    const GuestMemory memory = make_memory(3 * kGiB);
    ASSERT_TRUE(write_long_mode_tables(memory, 3 * kGiB - 5));
    EXPECT_EQ(entry_at(memory, kLongModePdptAddr, 2), 0xd003U);
    EXPECT_EQ(entry_at(memory, kLongModePdptAddr, 3), 0U);
    EXPECT_EQ(entry_at(memory, kLongModePdAddr + 0x2000, 511), 0xbfe0'0083U);
}

TEST(LongMode, GeneralRegisters) {
    const kvm_regs regs = linux_entry_regs(0x100'0200, 0x7000);
    EXPECT_EQ(regs.rip, 0x100'0200U);
    EXPECT_EQ(regs.rsi, 0x7000U);
    EXPECT_EQ(regs.rsp, 0x1'0000U);
    EXPECT_EQ(regs.rflags, 0x2U);
    kvm_regs others = regs;
    others.rip = others.rsi = others.rsp = others.rflags = 0;
    const kvm_regs zero{};
    EXPECT_EQ(std::memcmp(&others, &zero, sizeof zero), 0);
}

TEST(LongMode, SpecialRegisters) {
    kvm_sregs s{};
    s.apic_base = 0xfee0'0900;
    s.idt = {0, 0xffff, {}};
    s.cr8 = 3;
    apply_long_mode_sregs(s);
    EXPECT_EQ(s.cr0, 0x8000'0011U); // PG | ET | PE
    EXPECT_EQ(s.cr3, 0x9000U);
    EXPECT_EQ(s.cr4, 0x20U);   // PAE
    EXPECT_EQ(s.efer, 0x500U); // LME | LMA
    EXPECT_EQ(s.gdt.base, 0x8000U);
    EXPECT_EQ(s.gdt.limit, 47);
    EXPECT_EQ(s.cs.selector, 0x10);
    EXPECT_EQ(s.cs.type, 0xb);
    EXPECT_EQ(s.cs.l, 1);
    EXPECT_EQ(s.cs.db, 0);
    EXPECT_EQ(s.cs.s, 1);
    EXPECT_EQ(s.cs.present, 1);
    EXPECT_EQ(s.cs.g, 1);
    EXPECT_EQ(s.cs.limit, 0xffff'ffffU);
    for (const kvm_segment* seg : {&s.ds, &s.es, &s.fs, &s.gs, &s.ss}) {
        EXPECT_EQ(seg->selector, 0x18);
        EXPECT_EQ(seg->type, 0x3);
        EXPECT_EQ(seg->l, 0);
        EXPECT_EQ(seg->db, 1);
        EXPECT_EQ(seg->present, 1);
    }
    EXPECT_EQ(s.tr.selector, 0x20);
    EXPECT_EQ(s.tr.type, 0xb);
    EXPECT_EQ(s.tr.limit, 0x67U);
    EXPECT_EQ(s.ldt.unusable, 1);
    EXPECT_EQ(s.apic_base, 0xfee0'0900U); // left alone
    EXPECT_EQ(s.idt.limit, 0xffff);
    EXPECT_EQ(s.cr8, 3U);
}

} // namespace
} // namespace ember::boot
