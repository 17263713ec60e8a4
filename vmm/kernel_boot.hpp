// KernelBoot: one boot, whichever protocol the kernel uses (boot/boot_protocol.hpp): PVH for an
// ELF with a XEN_ELFNOTE_PHYS32_ENTRY note, the Linux 64-bit protocol for a vmlinux or bzImage,
// or what --boot-protocol forces. Plans (checks only), loads, then sets the boot vCPU's entry
// state.
#pragma once

#include "boot/boot_protocol.hpp"
#include "boot/kernel_image.hpp"
#include "boot/linux/linux_loader.hpp"
#include "boot/pvh/pvh_loader.hpp"
#include "vmm/core/guest_memory.hpp"
#include "vmm/core/vcpu.hpp"

#include <optional>
#include <string_view>
#include <variant>

namespace ember {

class KernelBoot final {
public:
    // Checks the kernel, initrd and command line against `memory` without writing it. The
    // images must outlive load().
    static Result<KernelBoot> plan(const boot::KernelImage& kernel, const boot::KernelImage* initrd,
                                   std::string_view cmdline, boot::BootProtocol requested,
                                   const GuestMemory& memory);

    [[nodiscard]] boot::BootProtocol protocol() const;

    // Writes the kernel, initrd and boot structures into guest memory.
    Result<void> load(const GuestMemory& memory);
    // Puts the boot vCPU at the kernel's entry (after load()).
    Result<void> set_entry_state(Vcpu& bsp) const;

private:
    explicit KernelBoot(std::variant<boot::PvhPlan, boot::LinuxPlan> plan)
        : plan_(std::move(plan)) {}

    std::variant<boot::PvhPlan, boot::LinuxPlan> plan_;
    uint64_t entry_ = 0;
    uint64_t boot_info_ = 0; // hvm_start_info (PVH, %ebx) or boot_params (Linux, %rsi)
    bool loaded_ = false;
};

} // namespace ember
