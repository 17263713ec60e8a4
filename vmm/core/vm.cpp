#include "vmm/core/vm.hpp"

#include "vmm/core/layout.hpp"
#include "vmm/sys/ioctl.hpp"

#include <memory>

namespace ember {

Result<Vm> Vm::create(const Kvm& kvm) {
    auto fd = kvm.create_vm();
    if (!fd) return tl::unexpected(std::move(fd.error()));
    return Vm(std::move(*fd));
}

Result<void> Vm::set_memory(const GuestMemory& memory) {
    uint32_t slot = 0;
    for (const auto& m : memory.mappings()) {
        kvm_userspace_memory_region region{};
        region.slot = slot++;
        region.guest_phys_addr = m.region.start;
        region.memory_size = m.region.size;
        // Safety: KVM takes the host address as an integer; the mapping outlives the VM.
        region.userspace_addr = reinterpret_cast<uintptr_t>(m.host);
        auto r = checked_ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region,
                               "KVM_SET_USER_MEMORY_REGION");
        if (!r)
            return tl::unexpected(std::move(r.error()).with_context(
                fmt::format("guest RAM [{:#x}, {:#x})", m.region.start, m.region.end())));
    }
    return {};
}

Result<void> Vm::create_platform() {
    // Intel VMX needs three pages for the real-mode TSS and one for the EPT identity map;
    // harmless elsewhere. Both live in the MMIO gap, never in RAM.
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_SET_TSS_ADDR,
                                 static_cast<unsigned long>(layout::kKvmTssAddr),
                                 "KVM_SET_TSS_ADDR"));
    uint64_t identity = layout::kKvmIdentityMapAddr;
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &identity,
                                 "KVM_SET_IDENTITY_MAP_ADDR"));
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP"));
    kvm_pit_config pit{};
    // The speaker port (0x61) is answered in the kernel with a dummy: no exit per access.
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2"));
    return {};
}

Result<void> Vm::register_irqfd(const EventFd& event, uint32_t gsi) {
    kvm_irqfd irqfd{};
    irqfd.fd = static_cast<uint32_t>(event.fd());
    irqfd.gsi = gsi;
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_IRQFD, &irqfd, "KVM_IRQFD"));
    return {};
}

namespace {

kvm_ioeventfd ioeventfd_request(const EventFd& event, Vm::IoSpace space, uint64_t addr,
                                uint32_t len, std::optional<uint64_t> datamatch) {
    kvm_ioeventfd req{};
    req.addr = addr;
    req.len = len;
    req.fd = event.fd();
    if (space == Vm::IoSpace::kPio) req.flags |= KVM_IOEVENTFD_FLAG_PIO;
    if (datamatch) {
        req.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        req.datamatch = *datamatch;
    }
    return req;
}

} // namespace

Result<void> Vm::register_ioeventfd(const EventFd& event, IoSpace space, uint64_t addr,
                                    uint32_t len, std::optional<uint64_t> datamatch) {
    kvm_ioeventfd req = ioeventfd_request(event, space, addr, len, datamatch);
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_IOEVENTFD, &req, "KVM_IOEVENTFD"));
    return {};
}

Result<void> Vm::unregister_ioeventfd(const EventFd& event, IoSpace space, uint64_t addr,
                                      uint32_t len, std::optional<uint64_t> datamatch) {
    kvm_ioeventfd req = ioeventfd_request(event, space, addr, len, datamatch);
    req.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_IOEVENTFD, &req, "KVM_IOEVENTFD (deassign)"));
    return {};
}

size_t Vm::coalesced_ring_page(const Kvm& kvm) {
    if (kvm.check_extension(KVM_CAP_COALESCED_PIO) <= 0) return 0;
    return static_cast<size_t>(kvm.check_extension(KVM_CAP_COALESCED_MMIO));
}

Result<void> Vm::set_coalesced_pio(uint16_t port, uint32_t len, bool coalesce) {
    kvm_coalesced_mmio_zone zone{};
    zone.addr = port;
    zone.size = len;
    zone.pio = 1;
    if (coalesce)
        EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_REGISTER_COALESCED_MMIO, &zone,
                                     "KVM_REGISTER_COALESCED_MMIO"));
    else
        EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_UNREGISTER_COALESCED_MMIO, &zone,
                                     "KVM_UNREGISTER_COALESCED_MMIO"));
    return {};
}

Result<std::unique_ptr<KvmIrqLine>> KvmIrqLine::create(Vm& vm, uint32_t gsi) {
    auto event = EventFd::create();
    if (!event) return tl::unexpected(std::move(event.error()));
    EMBER_TRY_VOID(vm.register_irqfd(*event, gsi));
    return std::unique_ptr<KvmIrqLine>(new KvmIrqLine(std::move(*event), gsi));
}

} // namespace ember
