#include "boot/x86_64/entry_state.hpp"

namespace ember::boot {
namespace {

// Segment descriptor types (Intel SDM vol. 3, 3.4.5.1), accessed bit set as a loaded cache has.
constexpr uint8_t kTypeCodeExecReadAccessed = 0xb;
constexpr uint8_t kTypeDataReadWriteAccessed = 0x3;
constexpr uint8_t kTypeTss32Busy = 0xb;

// A flat 4 GiB code or data segment: base 0, limit 0xffffffff in bytes (G=1 scales the
// descriptor's 20-bit limit; KVM takes the byte limit), 32-bit (D/B=1), ring 0, present.
kvm_segment flat_segment(uint16_t selector, uint8_t type) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffff'ffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.db = 1;
    s.s = 1; // code/data, not a system segment
    s.l = 0;
    s.g = 1;
    return s;
}

// VM entry in protected mode needs a usable, busy TSS in TR even though nothing uses it: a
// minimal 32-bit TSS (104 bytes) at base 0.
kvm_segment task_segment() {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0x67;
    s.selector = kPvhTssSelector;
    s.type = kTypeTss32Busy;
    s.present = 1;
    s.s = 0; // a system segment
    return s;
}

kvm_segment unusable_ldt() {
    kvm_segment s{};
    s.unusable = 1;
    s.present = 0;
    return s;
}

} // namespace

kvm_regs pvh_entry_regs(uint64_t entry, uint64_t start_info_addr) {
    kvm_regs regs{};
    regs.rip = entry;
    regs.rbx = start_info_addr;
    regs.rflags = kRflagsReserved;
    return regs;
}

void apply_pvh_entry_sregs(kvm_sregs& sregs) {
    sregs.cs = flat_segment(kPvhCodeSelector, kTypeCodeExecReadAccessed);
    const kvm_segment data = flat_segment(kPvhDataSelector, kTypeDataReadWriteAccessed);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = task_segment();
    sregs.ldt = unusable_ldt();
    // The protocol: PE set, every other writable CR0 bit clear; no paging, no PAE, no long mode.
    sregs.cr0 = kCr0Pe | kCr0Et;
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.efer = 0;
}

} // namespace ember::boot
