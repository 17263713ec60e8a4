#include "vmm/core/x86_cpu.hpp"

#include "vmm/core/kvm_abi.hpp"
#include "vmm/sys/ioctl.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace ember::x86 {
namespace {

uint32_t read_reg(const kvm_lapic_state& lapic, size_t offset) {
    uint32_t v = 0;
    std::memcpy(&v, &lapic.regs[offset], sizeof v);
    return v;
}

void write_reg(kvm_lapic_state& lapic, size_t offset, uint32_t v) {
    std::memcpy(&lapic.regs[offset], &v, sizeof v);
}

uint32_t with_delivery_mode(uint32_t lvt, uint32_t mode) {
    return (lvt & ~kApicDeliveryModeMask) | mode;
}

} // namespace

void set_virtual_wire_mode(kvm_lapic_state& lapic) {
    write_reg(lapic, kApicLvtLint0,
              with_delivery_mode(read_reg(lapic, kApicLvtLint0), kApicDeliveryExtInt));
    write_reg(lapic, kApicLvtLint1,
              with_delivery_mode(read_reg(lapic, kApicLvtLint1), kApicDeliveryNmi));
}

std::vector<kvm_msr_entry> boot_msrs(std::span<const uint32_t> supported) {
    struct Wanted {
        uint32_t index;
        uint64_t value;
    };
    constexpr std::array kWanted{
        Wanted{kMsrIa32SysenterCs, 0},  Wanted{kMsrIa32SysenterEsp, 0},
        Wanted{kMsrIa32SysenterEip, 0}, Wanted{kMsrStar, 0},
        Wanted{kMsrCstar, 0},           Wanted{kMsrKernelGsBase, 0},
        Wanted{kMsrSyscallMask, 0},     Wanted{kMsrLstar, 0},
        Wanted{kMsrIa32Tsc, 0},         Wanted{kMsrIa32MiscEnable, kMiscEnableFastStrings},
    };
    std::vector<kvm_msr_entry> out;
    for (const auto& w : kWanted) {
        if (std::find(supported.begin(), supported.end(), w.index) == supported.end()) continue;
        kvm_msr_entry e{};
        e.index = w.index;
        e.data = w.value;
        out.push_back(e);
    }
    return out;
}

kvm_fpu reset_fpu() {
    kvm_fpu fpu{};
    fpu.fcw = 0x37f;    // FNINIT: all x87 exceptions masked, 64-bit precision, round to nearest
    fpu.mxcsr = 0x1f80; // all SSE exceptions masked
    return fpu;
}

Result<void> setup_boot_cpu_state(const Vcpu& vcpu, std::span<const uint32_t> supported_msrs) {
    kvm_lapic_state lapic{};
    EMBER_TRY_VOID(checked_ioctl(vcpu.fd(), KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC"));
    set_virtual_wire_mode(lapic);
    EMBER_TRY_VOID(checked_ioctl(vcpu.fd(), KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC"));

    const kvm_fpu fpu = reset_fpu();
    EMBER_TRY_VOID(checked_ioctl(vcpu.fd(), KVM_SET_FPU, &fpu, "KVM_SET_FPU"));

    const std::vector<kvm_msr_entry> msrs = boot_msrs(supported_msrs);
    if (msrs.empty()) return {};
    std::vector<std::byte> buf(sizeof(kvm_abi::MsrsHeader) + msrs.size() * sizeof(kvm_msr_entry));
    const kvm_abi::MsrsHeader header{static_cast<uint32_t>(msrs.size()), 0};
    std::memcpy(buf.data(), &header, sizeof header);
    std::memcpy(buf.data() + sizeof header, msrs.data(), msrs.size() * sizeof(kvm_msr_entry));
    // KVM_SET_MSRS returns how many it wrote; fewer means KVM refused one.
    auto written = checked_ioctl(vcpu.fd(), kvm_abi::kSetMsrs, buf.data(), "KVM_SET_MSRS");
    if (!written) return tl::unexpected(std::move(written.error()));
    if (static_cast<size_t>(*written) != msrs.size())
        return make_error(Errc::kUnavailable,
                          "KVM_SET_MSRS wrote {} of {} boot MSRs on vCPU {}: KVM refused MSR {:#x}",
                          *written, msrs.size(), vcpu.index(),
                          msrs.at(static_cast<size_t>(*written)).index);
    return {};
}

} // namespace ember::x86
