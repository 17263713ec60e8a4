#include "vmm/core/kvm.hpp"

#include "vmm/core/kvm_abi.hpp"
#include "vmm/sys/ioctl.hpp"

#include <fcntl.h>

#include <array>
#include <cstring>

namespace ember {
namespace {

struct RequiredCap {
    int cap;
    const char* name;
};

// What ember needs from KVM on x86-64. Each is present on every kernel since 4.x.
constexpr std::array kRequiredCaps{
    RequiredCap{KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    RequiredCap{KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    RequiredCap{KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    RequiredCap{KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    RequiredCap{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    RequiredCap{KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    RequiredCap{KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    RequiredCap{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

Result<UniqueFd> open_device(const char* path) {
    const int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    const int err = errno;
    if (err == ENOENT)
        return tl::unexpected(Error(Errc::kUnavailable,
                                    fmt::format("{} does not exist: KVM is not available on this "
                                                "host (load kvm_intel or kvm_amd, or run on a host "
                                                "with hardware virtualization)",
                                                path),
                                    err));
    if (err == EACCES || err == EPERM)
        return tl::unexpected(Error(Errc::kUnavailable,
                                    fmt::format("cannot open {}: permission denied (run as root or "
                                                "add your user to the 'kvm' group)",
                                                path),
                                    err));
    return tl::unexpected(Error(Errc::kUnavailable, fmt::format("cannot open {}", path), err));
}

} // namespace

Result<Kvm> Kvm::open(const char* path) {
    auto fd = open_device(path);
    if (!fd) return tl::unexpected(std::move(fd.error()));
    auto version = checked_ioctl(fd->get(), KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION");
    if (!version)
        return tl::unexpected(Error(Errc::kUnavailable,
                                    fmt::format("{} is not a KVM device: KVM_GET_API_VERSION "
                                                "failed",
                                                path),
                                    version.error().sys_errno()));
    if (*version != kApiVersion)
        return make_error(Errc::kUnavailable,
                          "{}: KVM API version {} is not supported (ember needs {}); this kernel's "
                          "KVM is too old or not KVM",
                          path, *version, kApiVersion);
    for (const auto& rc : kRequiredCaps) {
        // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg)
        if (::ioctl(fd->get(), KVM_CHECK_EXTENSION, rc.cap) <= 0)
            return make_error(Errc::kUnavailable,
                              "{}: KVM lacks capability {} which ember requires; use a newer "
                              "host kernel",
                              path, rc.name);
    }
    auto mmap_size = checked_ioctl(fd->get(), KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    if (!mmap_size) return tl::unexpected(std::move(mmap_size.error()));
    return Kvm(std::move(*fd), static_cast<size_t>(*mmap_size));
}

int Kvm::check_extension(int cap) const {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg)
    const int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
    // Start at KVM_MAX_CPUID_ENTRIES (256): a too-small first guess costs a second, slow call.
    for (uint32_t n = 256; n <= 1024; n *= 2) {
        std::vector<std::byte> buf = kvm_abi::pack_cpuid2({}, n);
        // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg)
        if (::ioctl(fd_.get(), kvm_abi::kGetSupportedCpuid, buf.data()) == 0)
            return kvm_abi::unpack_cpuid2(buf);
        if (errno != E2BIG) return sys_error(Errc::kOsError, "KVM_GET_SUPPORTED_CPUID failed");
    }
    return make_error(Errc::kOsError, "KVM_GET_SUPPORTED_CPUID: more than 1024 entries");
}

Result<std::vector<uint32_t>> Kvm::msr_index_list() const {
    kvm_msr_list probe{};
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg): E2BIG tells us the count
    if (::ioctl(fd_.get(), kvm_abi::kGetMsrIndexList, &probe) < 0 && errno != E2BIG)
        return sys_error(Errc::kOsError, "KVM_GET_MSR_INDEX_LIST failed");
    std::vector<uint32_t> buf(probe.nmsrs + 1);
    buf[0] = probe.nmsrs; // kvm_msr_list: u32 nmsrs, then u32 indices[]
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg)
    if (::ioctl(fd_.get(), kvm_abi::kGetMsrIndexList, buf.data()) < 0)
        return sys_error(Errc::kOsError, "KVM_GET_MSR_INDEX_LIST failed");
    return std::vector<uint32_t>(buf.begin() + 1, buf.begin() + 1 + buf[0]);
}

Result<UniqueFd> Kvm::create_vm() const {
    auto fd = checked_ioctl(fd_.get(), KVM_CREATE_VM, 0, "KVM_CREATE_VM");
    if (!fd) return tl::unexpected(std::move(fd.error()));
    return UniqueFd(*fd);
}

} // namespace ember
