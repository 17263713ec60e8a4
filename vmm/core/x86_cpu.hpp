// x86 vCPU state a Linux guest expects at entry, beyond the registers the boot protocol sets:
// LAPIC LINT0/LINT1 wiring, the FPU's reset state, and boot MSRs (written only when KVM lists
// them in KVM_GET_MSR_INDEX_LIST — some hosts reject MSRs they do not list).
//
// The pure parts (which LAPIC bytes change, which MSRs to write) are separate from the ioctls so
// they can be unit-tested without /dev/kvm.
#pragma once

#include "vmm/core/vcpu.hpp"

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <vector>

namespace ember::x86 {

// LAPIC local vector table registers (offsets in the 1 KiB kvm_lapic_state page).
inline constexpr size_t kApicLvtLint0 = 0x350;
inline constexpr size_t kApicLvtLint1 = 0x360;
inline constexpr uint32_t kApicDeliveryModeMask = 0x700;
inline constexpr uint32_t kApicDeliveryExtInt = 0x700;
inline constexpr uint32_t kApicDeliveryNmi = 0x400;

// LINT0 delivers the legacy PIC's interrupts (ExtINT), LINT1 NMIs — the virtual wire mode a
// PC firmware leaves behind, which Linux expects before it programs the IOAPIC.
void set_virtual_wire_mode(kvm_lapic_state& lapic);

// MSR indices (Intel SDM vol. 4).
inline constexpr uint32_t kMsrIa32Tsc = 0x10;
inline constexpr uint32_t kMsrIa32SysenterCs = 0x174;
inline constexpr uint32_t kMsrIa32SysenterEsp = 0x175;
inline constexpr uint32_t kMsrIa32SysenterEip = 0x176;
inline constexpr uint32_t kMsrIa32MiscEnable = 0x1a0;
inline constexpr uint32_t kMsrStar = 0xc0000081;
inline constexpr uint32_t kMsrLstar = 0xc0000082;
inline constexpr uint32_t kMsrCstar = 0xc0000083;
inline constexpr uint32_t kMsrSyscallMask = 0xc0000084;
inline constexpr uint32_t kMsrKernelGsBase = 0xc0000102;
inline constexpr uint64_t kMiscEnableFastStrings = 1U << 0;

// The boot MSR values a freshly reset CPU would have (zeroes, and fast strings enabled), kept to
// those in `supported` (KVM_GET_MSR_INDEX_LIST).
[[nodiscard]] std::vector<kvm_msr_entry> boot_msrs(std::span<const uint32_t> supported);

// CPUID for vCPU `index` of `count`, from KVM_GET_SUPPORTED_CPUID: the hypervisor bit (so the
// guest finds KVM's leaves at 0x40000000 and uses kvm-clock), the initial and x2APIC IDs (APIC ID
// = vCPU index), and a topology of `count` single-thread cores in one package, in the leaves that
// describe it (1, 4 and 0xb/0x1f for Intel, 0x80000008 and 0x8000001e for AMD).
[[nodiscard]] std::vector<kvm_cpuid_entry2> guest_cpuid(std::span<const kvm_cpuid_entry2> supported,
                                                        uint32_t index, uint32_t count);

// The FPU after FNINIT, with SSE exceptions masked (MXCSR 0x1f80).
[[nodiscard]] kvm_fpu reset_fpu();

// Applies all of the above to `vcpu`: LAPIC (needs the in-kernel irqchip), FPU, MSRs.
Result<void> setup_boot_cpu_state(const Vcpu& vcpu, std::span<const uint32_t> supported_msrs);

} // namespace ember::x86
