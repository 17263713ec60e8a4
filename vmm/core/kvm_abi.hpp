// KVM ioctl numbers for the structs that end in a flexible array.
//
// The kernel headers declare those arrays with __DECLARE_FLEX_ARRAY, which in C++ expands to an
// empty struct of size 1: sizeof(kvm_cpuid2) is 12 in C++ but 8 in C, so the ioctl numbers the
// headers compute in C++ (they encode the size) are wrong and KVM answers EINVAL. We compute
// them from headers of the right size instead. Use these, never the header macros, for:
// KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2, KVM_GET_CPUID2, KVM_GET_MSR_INDEX_LIST, KVM_GET_MSRS,
// KVM_SET_MSRS, KVM_SET_GSI_ROUTING.
#pragma once

#include <linux/kvm.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace ember::kvm_abi {

struct Cpuid2Header { // struct kvm_cpuid2 without entries[]
    uint32_t nent;
    uint32_t padding;
};
static_assert(sizeof(Cpuid2Header) == 8);

struct MsrListHeader { // struct kvm_msr_list without indices[]
    uint32_t nmsrs;
};
static_assert(sizeof(MsrListHeader) == 4);

struct MsrsHeader { // struct kvm_msrs without entries[]
    uint32_t nmsrs;
    uint32_t pad;
};
static_assert(sizeof(MsrsHeader) == 8);

struct IrqRoutingHeader { // struct kvm_irq_routing without entries[]
    uint32_t nr;
    uint32_t flags;
};
static_assert(sizeof(IrqRoutingHeader) == 8);

// NOLINTBEGIN(cppcoreguidelines-pro-type-cstyle-cast,hicpp-signed-bitwise): the kernel's macros
inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, Cpuid2Header);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, Cpuid2Header);
inline constexpr unsigned long kGetCpuid2 = _IOWR(KVMIO, 0x91, Cpuid2Header);
inline constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
inline constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
inline constexpr unsigned long kSetGsiRouting = _IOW(KVMIO, 0x6a, IrqRoutingHeader);
// NOLINTEND(cppcoreguidelines-pro-type-cstyle-cast,hicpp-signed-bitwise)

static_assert(kGetSupportedCpuid == 0xc008ae05UL,
              "the value C computes for KVM_GET_SUPPORTED_CPUID");
static_assert(kSetCpuid2 == 0x4008ae90UL, "the value C computes for KVM_SET_CPUID2");

// Buffers laid out as C lays out struct kvm_cpuid2 (entries at offset 8, not at C++'s
// sizeof(kvm_cpuid2), which is 12): a header for `capacity` entries holding `entries`.
[[nodiscard]] inline std::vector<std::byte> pack_cpuid2(std::span<const kvm_cpuid_entry2> entries,
                                                        size_t capacity) {
    capacity = std::max(capacity, entries.size());
    std::vector<std::byte> buf(sizeof(Cpuid2Header) + capacity * sizeof(kvm_cpuid_entry2));
    const Cpuid2Header header{static_cast<uint32_t>(capacity), 0};
    std::memcpy(buf.data(), &header, sizeof header);
    if (!entries.empty())
        std::memcpy(buf.data() + sizeof header, entries.data(),
                    entries.size() * sizeof(kvm_cpuid_entry2));
    return buf;
}

// The entries of a kvm_cpuid2 buffer that KVM filled in (its header's nent, at most what fits).
[[nodiscard]] inline std::vector<kvm_cpuid_entry2> unpack_cpuid2(std::span<const std::byte> buf) {
    Cpuid2Header header{};
    if (buf.size() < sizeof header) return {};
    std::memcpy(&header, buf.data(), sizeof header);
    const size_t fits = (buf.size() - sizeof header) / sizeof(kvm_cpuid_entry2);
    std::vector<kvm_cpuid_entry2> out(std::min<size_t>(header.nent, fits));
    if (!out.empty())
        std::memcpy(out.data(), buf.data() + sizeof header, out.size() * sizeof(kvm_cpuid_entry2));
    return out;
}

} // namespace ember::kvm_abi
