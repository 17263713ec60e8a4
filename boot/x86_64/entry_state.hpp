// The vCPU state at a PVH entry point, as the PVH boot protocol specifies it:
// 32-bit protected mode, paging off, flat 4 GiB code and data segments, %ebx = start info.
//
// Pure functions on the KVM structs, so that the state is unit-tested without /dev/kvm. The
// descriptor caches are loaded directly; no GDT is written to guest memory (the protocol leaves
// GDTR unspecified and a PVH kernel loads its own GDT before reloading a segment register).
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace ember::boot {

// Selectors of the flat segments. Nothing in guest memory backs them (see above); the values
// follow the Linux boot GDT so that a register dump reads familiarly.
inline constexpr uint16_t kPvhCodeSelector = 0x10;
inline constexpr uint16_t kPvhDataSelector = 0x18;
inline constexpr uint16_t kPvhTssSelector = 0x20;

inline constexpr uint64_t kCr0Pe = 1U << 0; // protected mode
inline constexpr uint64_t kCr0Et = 1U << 4; // extension type: hard-wired to 1 since the 486
inline constexpr uint64_t kRflagsReserved = 1U << 1; // bit 1 always reads as 1

// General registers at the entry: all zero except %eip = entry, %ebx = start info, RFLAGS = 0x2.
[[nodiscard]] kvm_regs pvh_entry_regs(uint64_t entry, uint64_t start_info_addr);

// Sets the segment, control and EFER registers of `sregs` for the entry. Call it on what
// KVM_GET_SREGS returned: fields the protocol does not fix (APIC base, GDTR, IDTR, CR2, CR8,
// the interrupt bitmap) are left as KVM set them.
void apply_pvh_entry_sregs(kvm_sregs& sregs);

} // namespace ember::boot
