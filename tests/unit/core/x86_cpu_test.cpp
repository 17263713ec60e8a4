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
