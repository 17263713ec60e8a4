#include "vmm/kernel_boot.hpp"

#include "boot/acpi/tables.hpp"
#include "boot/elf/elf64.hpp"
#include "boot/x86_64/entry_state.hpp"
#include "boot/x86_64/long_mode.hpp"

namespace ember {

Result<KernelBoot> KernelBoot::plan(const boot::KernelImage& kernel,
                                    const boot::KernelImage* initrd, std::string_view cmdline,
                                    boot::BootProtocol requested, const GuestMemory& memory) {
    auto protocol = boot::choose_boot_protocol(kernel, requested);
    if (!protocol) return tl::unexpected(std::move(protocol.error()));
    if (*protocol == boot::BootProtocol::kPvh) {
        auto elf = boot::Elf64::parse(kernel.bytes(), kernel.context());
        if (!elf) return tl::unexpected(std::move(elf.error()));
        auto plan =
            boot::plan_pvh(*elf, memory, boot::PvhConfig{cmdline, initrd, boot::acpi::kRsdpAddr});
        if (!plan) return tl::unexpected(std::move(plan.error()));
        return KernelBoot(std::move(*plan));
    }
    auto plan =
        boot::plan_linux(kernel, memory, boot::LinuxConfig{cmdline, initrd, boot::acpi::kRsdpAddr});
    if (!plan) return tl::unexpected(std::move(plan.error()));
    return KernelBoot(std::move(*plan));
}

boot::BootProtocol KernelBoot::protocol() const {
    return std::holds_alternative<boot::PvhPlan>(plan_) ? boot::BootProtocol::kPvh
                                                        : boot::BootProtocol::kLinux;
}

Result<void> KernelBoot::load(const GuestMemory& memory) {
    if (const auto* pvh = std::get_if<boot::PvhPlan>(&plan_)) {
        auto booted = boot::load_pvh(*pvh, memory);
        if (!booted) return tl::unexpected(std::move(booted.error()));
        entry_ = booted->entry;
        boot_info_ = booted->start_info_addr;
    } else {
        auto booted = boot::load_linux(std::get<boot::LinuxPlan>(plan_), memory);
        if (!booted) return tl::unexpected(std::move(booted.error()));
        entry_ = booted->entry;
        boot_info_ = booted->boot_params_addr;
    }
    loaded_ = true;
    return {};
}

Result<void> KernelBoot::set_entry_state(Vcpu& bsp) const {
    if (!loaded_) return make_error(Errc::kInternal, "boot vCPU set up before the kernel loaded");
    auto sregs = bsp.sregs();
    if (!sregs) return tl::unexpected(std::move(sregs.error()));
    if (protocol() == boot::BootProtocol::kPvh) {
        boot::apply_pvh_entry_sregs(*sregs);
        EMBER_TRY_VOID(bsp.set_sregs(*sregs));
        return bsp.set_regs(boot::pvh_entry_regs(entry_, boot_info_));
    }
    boot::apply_long_mode_sregs(*sregs);
    EMBER_TRY_VOID(bsp.set_sregs(*sregs));
    return bsp.set_regs(boot::linux_entry_regs(entry_, boot_info_));
}

} // namespace ember
