#include "vmm/core/x86_cpu.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>

namespace ember::x86 {
namespace {

uint32_t reg(const kvm_lapic_state& l, size_t off) {
    uint32_t v = 0;
    std::memcpy(&v, &l.regs[off], 4);
    return v;
}

TEST(X86Cpu, VirtualWireModeSetsOnlyTheDeliveryModes) {
    kvm_lapic_state lapic{};
    const uint32_t masked_lvt = 0x10000; // reset value: masked, fixed delivery
    std::memcpy(&lapic.regs[kApicLvtLint0], &masked_lvt, 4);
    std::memcpy(&lapic.regs[kApicLvtLint1], &masked_lvt, 4);
    const uint32_t other = 0xdeadbeef;
    std::memcpy(&lapic.regs[0x320], &other, 4); // LVT timer: untouched
    set_virtual_wire_mode(lapic);
    EXPECT_EQ(reg(lapic, kApicLvtLint0), 0x10700U);
    EXPECT_EQ(reg(lapic, kApicLvtLint1), 0x10400U);
    EXPECT_EQ(reg(lapic, 0x320), 0xdeadbeefU);
}

TEST(X86Cpu, BootMsrsAreLimitedToWhatKvmLists) {
    EXPECT_TRUE(boot_msrs({}).empty());
    const std::array<uint32_t, 3> listed{kMsrLstar, kMsrIa32MiscEnable, 0x12345};
    auto msrs = boot_msrs(listed);
    ASSERT_EQ(msrs.size(), 2U);
    EXPECT_EQ(msrs[0].index, kMsrLstar);
    EXPECT_EQ(msrs[0].data, 0U);
    EXPECT_EQ(msrs[1].index, kMsrIa32MiscEnable);
    EXPECT_EQ(msrs[1].data, kMiscEnableFastStrings);
}

TEST(X86Cpu, ResetFpuMasksAllExceptions) {
    const kvm_fpu fpu = reset_fpu();
    EXPECT_EQ(fpu.fcw, 0x37fU);
    EXPECT_EQ(fpu.mxcsr, 0x1f80U);
    EXPECT_EQ(fpu.fsw, 0U);
}

} // namespace
} // namespace ember::x86

namespace ember::x86 {
namespace {

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx, uint32_t ecx,
                      uint32_t edx) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.index = index;
    e.eax = eax;
    e.ebx = ebx;
    e.ecx = ecx;
    e.edx = edx;
    return e;
}

const kvm_cpuid_entry2* find(const std::vector<kvm_cpuid_entry2>& v, uint32_t fn, uint32_t idx) {
    for (const auto& e : v)
        if (e.function == fn && e.index == idx) return &e;
    return nullptr;
}

std::vector<kvm_cpuid_entry2> intel_like() {
    return {leaf(0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69), // GenuineIntel
            leaf(1, 0, 0x806f8, 0xff0800, 0x7ffafbff, 0x0f8bfbff),
            leaf(4, 0, 0x121, 0x1c0003f, 0x3f, 0),
            leaf(4, 4, 0, 0, 0, 0), // no more caches: left alone
            leaf(0xb, 0, 1, 1, 0x100, 7),
            leaf(0xb, 1, 5, 0x20, 0x201, 7),
            leaf(0xb, 2, 0, 0, 2, 7),
            leaf(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d)};
}

TEST(X86Cpu, GuestCpuidSetsTheHypervisorBitAndApicIds) {
    const auto in = intel_like();
    const auto out = guest_cpuid(in, 3, 4);
    ASSERT_EQ(out.size(), in.size());
    const auto* l1 = find(out, 1, 0);
    ASSERT_NE(l1, nullptr);
    EXPECT_NE(l1->ecx & (1U << 31), 0U) << "hypervisor bit";
    EXPECT_EQ(l1->ebx >> 24, 3U) << "initial APIC ID";
    EXPECT_EQ((l1->ebx >> 16) & 0xff, 4U) << "logical processors";
    EXPECT_EQ(l1->ebx & 0xffff, 0x0800U) << "CLFLUSH size and brand index kept";
    EXPECT_NE(l1->edx & (1U << 28), 0U) << "HTT: EBX[23:16] valid";
    const auto* kvm = find(out, 0x40000000, 0);
    ASSERT_NE(kvm, nullptr);
    EXPECT_EQ(kvm->ebx, 0x4b4d564bU) << "KVM's leaves pass through";
}

TEST(X86Cpu, GuestCpuidDescribesOneThreadPerCore) {
    const auto out = guest_cpuid(intel_like(), 2, 3);
    const auto* smt = find(out, 0xb, 0);
    const auto* core = find(out, 0xb, 1);
    const auto* end = find(out, 0xb, 2);
    ASSERT_TRUE(smt && core && end);
    EXPECT_EQ(smt->eax, 0U);
    EXPECT_EQ(smt->ebx, 1U);
    EXPECT_EQ(smt->ecx, 0x100U);
    EXPECT_EQ(core->eax, 2U) << "3 cores need 2 APIC ID bits";
    EXPECT_EQ(core->ebx, 3U);
    EXPECT_EQ(core->ecx, 0x201U);
    EXPECT_EQ(end->ecx, 2U);
    for (const auto* e : {smt, core, end})
        EXPECT_EQ(e->edx, 2U) << "x2APIC ID";
    const auto* cache = find(out, 4, 0);
    ASSERT_NE(cache, nullptr);
    EXPECT_EQ(cache->eax >> 26, 3U) << "cores per package - 1, a power of two";
    EXPECT_EQ(cache->eax & 0x03ffffff, 0x121U);
    EXPECT_EQ(find(out, 4, 4)->eax, 0U);
}

TEST(X86Cpu, GuestCpuidOnOneVcpuHasNoHtt) {
    const auto out = guest_cpuid(intel_like(), 0, 1);
    const auto* l1 = find(out, 1, 0);
    ASSERT_NE(l1, nullptr);
    EXPECT_EQ(l1->edx & (1U << 28), 0U);
    EXPECT_EQ((l1->ebx >> 16) & 0xff, 1U);
    EXPECT_EQ(find(out, 0xb, 1)->eax, 0U);
}

TEST(X86Cpu, GuestCpuidOnAmdSetsCoreCountAndExtendedApicId) {
    const std::vector<kvm_cpuid_entry2> in{
        leaf(0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65), // AuthenticAMD
        leaf(1, 0, 0xa00f11, 0x800, 0x7ed8320b, 0x178bfbff),
        leaf(0x80000008, 0, 0x3030, 0, 0x3007, 0), leaf(0x8000001e, 0, 9, 0x105, 0x300, 0)};
    const auto out = guest_cpuid(in, 1, 2);
    const auto* size = find(out, 0x80000008, 0);
    ASSERT_NE(size, nullptr);
    EXPECT_EQ(size->ecx, 0x1001U) << "1 APIC ID bit for cores, 2 cores";
    const auto* ext = find(out, 0x8000001e, 0);
    ASSERT_NE(ext, nullptr);
    EXPECT_EQ(ext->eax, 1U);
    EXPECT_EQ(ext->ebx, 0x1U) << "core 1, one thread per core";
    EXPECT_EQ(ext->ecx, 0U);
}

} // namespace
} // namespace ember::x86
