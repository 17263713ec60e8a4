// Vm: one KVM virtual machine — its memory slots, in-kernel irqchip and PIT, irqfds.
//
// Order matters for start-up time: memory slots are registered before the irqchip and PIT are
// created. Measured on our hosts, the first KVM_SET_USER_MEMORY_REGION after KVM_CREATE_IRQCHIP
// takes 4-6 ms (an SRCU grace period for the irq routing); before it, 0.1 ms.
#pragma once

#include "vmm/core/guest_memory.hpp"
#include "vmm/core/irq_line.hpp"
#include "vmm/core/kvm.hpp"
#include "vmm/sys/event_fd.hpp"

#include <cstdint>
#include <optional>

namespace ember {

class Vm final {
public:
    static Result<Vm> create(const Kvm& kvm);

    [[nodiscard]] int fd() const { return fd_.get(); }

    // Registers every region of `memory` as a KVM memory slot (slots 0..n-1).
    Result<void> set_memory(const GuestMemory& memory);
    // KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR, in-kernel irqchip (PIC + IOAPIC + LAPICs) and
    // PIT. Call after set_memory() and before creating vCPUs.
    Result<void> create_platform();
    // Routes writes to `event` into an edge on `gsi` (KVM_IRQFD).
    Result<void> register_irqfd(const EventFd& event, uint32_t gsi);

    // KVM_IOEVENTFD: a guest write of `len` bytes (1, 2, 4 or 8) at `addr` — in the port space
    // when `space` is kPio — signals `event` inside KVM, with no exit to user space. With
    // `datamatch`, only writes of that value do (a virtio QueueNotify carries the queue index).
    // unregister_ioeventfd() takes the same arguments.
    enum class IoSpace { kMmio, kPio };
    Result<void> register_ioeventfd(const EventFd& event, IoSpace space, uint64_t addr,
                                    uint32_t len, std::optional<uint64_t> datamatch);
    Result<void> unregister_ioeventfd(const EventFd& event, IoSpace space, uint64_t addr,
                                      uint32_t len, std::optional<uint64_t> datamatch);

    // Whether KVM can coalesce port writes (KVM_CAP_COALESCED_PIO), and at which page of a vCPU
    // mapping the ring lives (KVM_CAP_COALESCED_MMIO's answer); 0 when unsupported.
    [[nodiscard]] static size_t coalesced_ring_page(const Kvm& kvm);
    // (Un)registers ports [port, port + len) as coalesced: guest writes there are queued in the
    // ring without an exit (see coalesced_ring.hpp).
    Result<void> set_coalesced_pio(uint16_t port, uint32_t len, bool coalesce);

private:
    explicit Vm(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

// An interrupt line over an irqfd: trigger() is one eventfd write, no ioctl and no exit.
class KvmIrqLine final : public IrqLine {
public:
    static Result<std::unique_ptr<KvmIrqLine>> create(Vm& vm, uint32_t gsi);
    void trigger() override { event_.signal(); }
    [[nodiscard]] uint32_t gsi() const { return gsi_; }

private:
    KvmIrqLine(EventFd event, uint32_t gsi) : event_(std::move(event)), gsi_(gsi) {}
    EventFd event_;
    uint32_t gsi_;
};

} // namespace ember
