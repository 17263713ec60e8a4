#include "boot/x86_64/long_mode.hpp"

#include "boot/x86_64/entry_state.hpp"
#include "vmm/core/layout.hpp"

#include <algorithm>
#include <vector>

namespace ember::boot {
namespace {

using layout::kGiB;
using layout::kPageSize;

// Page-table entry bits (Intel SDM vol. 3, 4.5).
constexpr uint64_t kPtePresent = 1ULL << 0;
constexpr uint64_t kPteWritable = 1ULL << 1;
constexpr uint64_t kPteLarge = 1ULL << 7; // a 2 MiB page in a PD entry
constexpr uint64_t kLargePageSize = 2ULL << 20;
constexpr size_t kEntriesPerTable = 512;

// Descriptor access bytes and flags (SDM vol. 3, 3.4.5): P=1, DPL 0, S=1 code/data or S=0 system.
constexpr uint8_t kTypeCodeExecReadAccessed = 0xb;
constexpr uint8_t kTypeDataReadWriteAccessed = 0x3;
constexpr uint8_t kTypeTss64Busy = 0xb;
constexpr uint32_t kTssLimit = 0x67; // a 104-byte TSS without an I/O bitmap

// A GDT descriptor from its fields, laid out as the SDM's figure 3-8.
constexpr uint64_t descriptor(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags) {
    return (static_cast<uint64_t>(base & 0xff00'0000) << 32) |
           (static_cast<uint64_t>(flags & 0xf) << 52) |
           (static_cast<uint64_t>(limit & 0xf'0000) << 32) | (static_cast<uint64_t>(access) << 40) |
           (static_cast<uint64_t>(base & 0x00ff'ffff) << 16) | (limit & 0xffff);
}
constexpr uint8_t kAccessCode = 0x90 | kTypeCodeExecReadAccessed; // P=1, S=1
constexpr uint8_t kAccessData = 0x90 | kTypeDataReadWriteAccessed;
constexpr uint8_t kAccessTss = 0x80 | kTypeTss64Busy; // P=1, S=0
constexpr uint8_t kFlagsCode64 = 0xa;                 // G=1, L=1 (D must be 0 with L=1)
constexpr uint8_t kFlagsData = 0xc;                   // G=1, D/B=1
static_assert(descriptor(0, 0xfffff, kAccessCode, kFlagsCode64) == 0x00af'9b00'0000'ffff);
static_assert(descriptor(0, 0xfffff, kAccessData, kFlagsData) == 0x00cf'9300'0000'ffff);

// The cache of a segment register as the descriptor above loads it.
kvm_segment segment(uint16_t selector, uint8_t type, bool code) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffff'ffff; // KVM takes the byte limit; G=1 scales the descriptor's 0xfffff
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.s = 1;
    s.l = code ? 1 : 0;
    s.db = code ? 0 : 1;
    s.g = 1;
    return s;
}

kvm_segment task_segment() {
    kvm_segment s{};
    s.base = 0;
    s.limit = kTssLimit;
    s.selector = kLongModeTssSelector;
    s.type = kTypeTss64Busy;
    s.present = 1;
    s.s = 0;
    return s;
}

Result<void> write_table(const GuestMemory& memory, GuestAddr addr,
                         const std::vector<uint64_t>& entries) {
    return memory.write(addr, std::as_bytes(std::span(entries)));
}

} // namespace

std::array<uint64_t, kLongModeGdtEntries> long_mode_gdt() {
    // Entry 1 stays null: the selectors are the kernel's __BOOT_CS/__BOOT_DS, 0x10 and 0x18.
    // The TSS descriptor's upper half (base bits 32-63) is 0.
    return {0,
            0,
            descriptor(0, 0xfffff, kAccessCode, kFlagsCode64),
            descriptor(0, 0xfffff, kAccessData, kFlagsData),
            descriptor(0, kTssLimit, kAccessTss, 0),
            0};
}

size_t long_mode_pd_pages(uint64_t map_end) {
    const uint64_t end = std::min(map_end, kLongModeMaxPdPages * kGiB);
    return std::max<size_t>(1, static_cast<size_t>((end + kGiB - 1) / kGiB));
}

Result<void> write_long_mode_tables(const GuestMemory& memory, uint64_t map_end) {
    const auto gdt = long_mode_gdt();
    EMBER_TRY_VOID(memory.write(kLongModeGdtAddr, std::as_bytes(std::span(gdt))));

    const size_t pds = long_mode_pd_pages(map_end);
    std::vector<uint64_t> table(kEntriesPerTable, 0);
    table[0] = kLongModePdptAddr | kPtePresent | kPteWritable;
    EMBER_TRY_VOID(write_table(memory, kLongModePml4Addr, table));

    table.assign(kEntriesPerTable, 0);
    for (size_t i = 0; i < pds; ++i)
        table[i] = (kLongModePdAddr + i * kPageSize) | kPtePresent | kPteWritable;
    EMBER_TRY_VOID(write_table(memory, kLongModePdptAddr, table));

    for (size_t pd = 0; pd < pds; ++pd) {
        for (size_t i = 0; i < kEntriesPerTable; ++i)
            table[i] = ((pd * kEntriesPerTable + i) * kLargePageSize) | kPtePresent | kPteWritable |
                       kPteLarge;
        EMBER_TRY_VOID(write_table(memory, kLongModePdAddr + pd * kPageSize, table));
    }
    return {};
}

kvm_regs linux_entry_regs(uint64_t entry, uint64_t boot_params_addr) {
    kvm_regs regs{};
    regs.rip = entry;
    regs.rsi = boot_params_addr;
    // Not required by the protocol, but the kernel's first instructions may call before they
    // set up a stack of their own (older decompressors do).
    regs.rsp = kLongModeStackTop;
    regs.rflags = kRflagsReserved;
    return regs;
}

void apply_long_mode_sregs(kvm_sregs& sregs) {
    sregs.cs = segment(kLongModeCodeSelector, kTypeCodeExecReadAccessed, true);
    const kvm_segment data = segment(kLongModeDataSelector, kTypeDataReadWriteAccessed, false);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = task_segment();
    sregs.ldt = kvm_segment{};
    sregs.ldt.unusable = 1;
    sregs.gdt.base = kLongModeGdtAddr;
    sregs.gdt.limit = static_cast<uint16_t>(kLongModeGdtEntries * sizeof(uint64_t) - 1);
    sregs.cr0 = kCr0Pe | kCr0Et | kCr0Pg;
    sregs.cr3 = kLongModePml4Addr;
    sregs.cr4 = kCr4Pae;
    sregs.efer = kEferLme | kEferLma;
}

} // namespace ember::boot
