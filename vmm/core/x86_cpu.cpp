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

namespace {

// Bits needed to number `count` things: 1 -> 0, 2 -> 1, 3..4 -> 2, ...
uint32_t id_bits(uint32_t count) {
    uint32_t bits = 0;
    while ((1U << bits) < count)
        ++bits;
    return bits;
}

bool is_amd_like(std::span<const kvm_cpuid_entry2> supported) {
    constexpr uint32_t kAuth = 0x68747541; // "Auth"enticAMD
    constexpr uint32_t kHygo = 0x6f677948; // "Hygo"nGenuine
    for (const auto& e : supported)
        if (e.function == 0) return e.ebx == kAuth || e.ebx == kHygo;
    return false;
}

} // namespace

std::vector<kvm_cpuid_entry2> guest_cpuid(std::span<const kvm_cpuid_entry2> supported,
                                          uint32_t index, uint32_t count) {
    constexpr uint32_t kHypervisorBit = 1U << 31; // leaf 1 ECX
    constexpr uint32_t kHttBit = 1U << 28;        // leaf 1 EDX: EBX[23:16] is valid
    constexpr uint32_t kLevelSmt = 1;             // leaf 0xb ECX[15:8] level types
    constexpr uint32_t kLevelCore = 2;
    const bool amd = is_amd_like(supported);
    const uint32_t core_bits = id_bits(count);
    std::vector<kvm_cpuid_entry2> out(supported.begin(), supported.end());
    for (auto& e : out) {
        switch (e.function) {
        case 1:
            e.ecx |= kHypervisorBit;
            // EBX[31:24] initial APIC ID, EBX[23:16] addressable logical processor IDs.
            e.ebx = (e.ebx & 0xffffU) | (index << 24) | ((std::min(count, 0xffU)) << 16);
            if (count > 1)
                e.edx |= kHttBit;
            else
                e.edx &= ~kHttBit;
            break;
        case 4: // Intel deterministic cache parameters: EAX[31:26] cores per package - 1
            if (!amd && (e.eax & 0x1fU) != 0)
                e.eax = (e.eax & 0x03ffffffU) | (((1U << core_bits) - 1) << 26);
            break;
        case 0xb:
        case 0x1f: // extended topology: one thread per core, `count` cores per package
            if (e.index == 0) {
                e.eax = 0;
                e.ebx = 1;
                e.ecx = (kLevelSmt << 8) | e.index;
            } else if (e.index == 1) {
                e.eax = core_bits;
                e.ebx = count;
                e.ecx = (kLevelCore << 8) | e.index;
            } else {
                e.eax = 0;
                e.ebx = 0;
                e.ecx = e.index; // level type 0: no more levels
            }
            e.edx = index; // x2APIC ID
            break;
        case 0x80000008: // AMD: ECX[15:12] APIC ID bits for cores, ECX[7:0] cores - 1
            if (amd) e.ecx = (e.ecx & ~0xf0ffU) | (core_bits << 12) | ((count - 1) & 0xffU);
            break;
        case 0x8000001e: // AMD extended APIC ID, core ID (one thread per core), node 0
            if (amd) {
                e.eax = index;
                e.ebx = (e.ebx & ~0xffffU) | (index & 0xffU);
                e.ecx = 0;
            }
            break;
        default:
            break;
        }
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
