// Kvm: the /dev/kvm system fd. Checks the API version and the capabilities ember relies on, and
// answers system-wide queries (supported CPUID, MSR list, kvm_run size).
//
// We gate on /dev/kvm and KVM_GET_API_VERSION only — never on host CPUID, which nested or
// paravirtual hosts may hide.
#pragma once

#include "vmm/sys/result.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace ember {

class Kvm final {
public:
    static constexpr const char* kDefaultPath = "/dev/kvm";
    static constexpr int kApiVersion = 12; // KVM_API_VERSION, stable since Linux 2.6.22

    // Opens `path`, checks the API version and every capability in kRequiredCaps.
    static Result<Kvm> open(const char* path = kDefaultPath);

    [[nodiscard]] int fd() const { return fd_.get(); }
    // KVM_CHECK_EXTENSION: > 0 when present (some capabilities return a count).
    [[nodiscard]] int check_extension(int cap) const;
    [[nodiscard]] size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }

    // KVM_GET_SUPPORTED_CPUID: what this host's KVM can offer a guest.
    [[nodiscard]] Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
    // KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves and restores (and accepts in KVM_SET_MSRS).
    [[nodiscard]] Result<std::vector<uint32_t>> msr_index_list() const;

    Result<UniqueFd> create_vm() const;

private:
    Kvm(UniqueFd fd, size_t mmap_size) : fd_(std::move(fd)), vcpu_mmap_size_(mmap_size) {}
    UniqueFd fd_;
    size_t vcpu_mmap_size_;
};

} // namespace ember
