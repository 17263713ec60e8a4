#include "boot/x86_64/entry_state.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace ember::boot {
namespace {

void expect_flat(const kvm_segment& s, uint16_t selector, uint8_t type) {
    EXPECT_EQ(s.base, 0U);
    EXPECT_EQ(s.limit, 0xffff'ffffU);
    EXPECT_EQ(s.selector, selector);
    EXPECT_EQ(s.type, type);
    EXPECT_EQ(s.present, 1);
    EXPECT_EQ(s.dpl, 0);
    EXPECT_EQ(s.db, 1);
    EXPECT_EQ(s.s, 1);
    EXPECT_EQ(s.l, 0);
    EXPECT_EQ(s.g, 1);
    EXPECT_EQ(s.unusable, 0);
}

// What KVM_GET_SREGS returns on a fresh vCPU, roughly: real mode, an APIC base, CR0 with CD/NW.
kvm_sregs fresh_sregs() {
    kvm_sregs s{};
    s.apic_base = 0xfee0'0900;
    s.cr0 = 0x6000'0010;
    s.cr2 = 0x1234;
    s.cr3 = 0x5000;
    s.cr4 = 0x20;
    s.cr8 = 3;
    s.efer = 0x500;
    s.gdt = {0x0, 0xffff, {}};
    s.idt = {0x0, 0xffff, {}};
    s.cs.selector = 0xf000;
    s.cs.base = 0xffff'0000;
    s.interrupt_bitmap[0] = 0x42;
    return s;
}

TEST(EntryState, GeneralRegisters) {
    const kvm_regs regs = pvh_entry_regs(0x100'0010, 0x6000);
    EXPECT_EQ(regs.rip, 0x100'0010U);
    EXPECT_EQ(regs.rbx, 0x6000U);
    EXPECT_EQ(regs.rflags, 0x2U);
    kvm_regs others = regs;
    others.rip = others.rbx = others.rflags = 0;
    const kvm_regs zero{};
    EXPECT_EQ(std::memcmp(&others, &zero, sizeof zero), 0) << "every other register is zero";
}

TEST(EntryState, FlatProtectedModeSegments) {
    kvm_sregs s = fresh_sregs();
    apply_pvh_entry_sregs(s);
    expect_flat(s.cs, 0x10, 0xb);
    for (const kvm_segment* seg : {&s.ds, &s.es, &s.fs, &s.gs, &s.ss})
        expect_flat(*seg, 0x18, 0x3);
    EXPECT_EQ(s.tr.type, 0xb); // busy 32-bit TSS
    EXPECT_EQ(s.tr.present, 1);
    EXPECT_EQ(s.tr.s, 0);
    EXPECT_EQ(s.tr.unusable, 0);
    EXPECT_EQ(s.tr.selector, 0x20);
    EXPECT_EQ(s.tr.limit, 0x67U);
    EXPECT_EQ(s.ldt.unusable, 1);
    EXPECT_EQ(s.ldt.present, 0);
}

TEST(EntryState, ControlRegisters) {
    kvm_sregs s = fresh_sregs();
    apply_pvh_entry_sregs(s);
    EXPECT_EQ(s.cr0, 0x11U); // PE | ET: protected mode, no paging, caches on
    EXPECT_EQ(s.cr3, 0U);
    EXPECT_EQ(s.cr4, 0U);
    EXPECT_EQ(s.efer, 0U);
}

TEST(EntryState, LeavesWhatTheProtocolDoesNotFix) {
    kvm_sregs s = fresh_sregs();
    apply_pvh_entry_sregs(s);
    EXPECT_EQ(s.apic_base, 0xfee0'0900U);
    EXPECT_EQ(s.cr2, 0x1234U);
    EXPECT_EQ(s.cr8, 3U);
    EXPECT_EQ(s.gdt.limit, 0xffff);
    EXPECT_EQ(s.idt.limit, 0xffff);
    EXPECT_EQ(s.interrupt_bitmap[0], 0x42U);
}

} // namespace
} // namespace ember::boot
