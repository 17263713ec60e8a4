#include "vmm/core/vcpu.hpp"

#include "vmm/core/kvm_abi.hpp"
#include "vmm/sys/exit_code.hpp"
#include "vmm/sys/ioctl.hpp"
#include "vmm/sys/logger.hpp"

#include <cstring>
#include <vector>

namespace ember {

VcpuExitStats& VcpuExitStats::operator+=(const VcpuExitStats& o) {
    io_in += o.io_in;
    io_out += o.io_out;
    mmio_read += o.mmio_read;
    mmio_write += o.mmio_write;
    unhandled_access += o.unhandled_access;
    interrupted += o.interrupted;
    other += o.other;
    return *this;
}

VcpuExitStats Vcpu::stats() const {
    return VcpuExitStats{
        counters_.io_in.get(),      counters_.io_out.get(),           counters_.mmio_read.get(),
        counters_.mmio_write.get(), counters_.unhandled_access.get(), counters_.interrupted.get(),
        counters_.other.get()};
}

Result<Vcpu> Vcpu::create(const Kvm& kvm, const Vm& vm, uint32_t index) {
    auto fd = checked_ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(index),
                            "KVM_CREATE_VCPU");
    if (!fd) return tl::unexpected(std::move(fd.error()));
    UniqueFd owned(*fd);
    auto run = MmapRegion::shared(owned.get(), kvm.vcpu_mmap_size());
    if (!run) return tl::unexpected(std::move(run.error()).with_context("vCPU kvm_run page"));
    return Vcpu(index, std::move(owned), std::move(*run));
}

Result<void> Vcpu::set_cpuid(std::span<const kvm_cpuid_entry2> entries) {
    std::vector<std::byte> buf = kvm_abi::pack_cpuid2(entries, entries.size());
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), kvm_abi::kSetCpuid2, buf.data(), "KVM_SET_CPUID2"));
    return {};
}

Result<std::vector<kvm_cpuid_entry2>> Vcpu::cpuid() const {
    // Enough for any vCPU (KVM_MAX_CPUID_ENTRIES is 256); KVM writes back how many it set.
    std::vector<std::byte> buf = kvm_abi::pack_cpuid2({}, 256);
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), kvm_abi::kGetCpuid2, buf.data(), "KVM_GET_CPUID2"));
    return kvm_abi::unpack_cpuid2(buf);
}

Result<kvm_regs> Vcpu::regs() const {
    kvm_regs r{};
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_GET_REGS, &r, "KVM_GET_REGS"));
    return r;
}

Result<void> Vcpu::set_regs(const kvm_regs& regs) {
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_SET_REGS, &regs, "KVM_SET_REGS"));
    return {};
}

Result<kvm_sregs> Vcpu::sregs() const {
    kvm_sregs s{};
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_GET_SREGS, &s, "KVM_GET_SREGS"));
    return s;
}

Result<void> Vcpu::set_sregs(const kvm_sregs& sregs) {
    EMBER_TRY_VOID(checked_ioctl(fd_.get(), KVM_SET_SREGS, &sregs, "KVM_SET_SREGS"));
    return {};
}

void Vcpu::handle_io(const Bus& pio) {
    kvm_run& run = run_page();
    const auto width = static_cast<size_t>(run.io.size);
    const auto count = static_cast<size_t>(run.io.count);
    // Safety: KVM places count * size bytes of string-I/O data at data_offset inside the
    // kvm_run mapping (which spans vcpu_mmap_size bytes); the span is checked against it.
    const size_t total = width * count;
    if (run.io.data_offset > run_.size() || total > run_.size() - run.io.data_offset) {
        counters_.other.bump();
        return;
    }
    std::span<std::byte> data = run_.bytes().subspan(run.io.data_offset, total);
    if (run.io.direction == KVM_EXIT_IO_OUT) {
        counters_.io_out.bump();
        const bool handled =
            count == 1 ? pio.write(run.io.port, data) : pio.write_string(run.io.port, data, width);
        if (!handled) counters_.unhandled_access.bump();
        return;
    }
    counters_.io_in.bump();
    std::memset(data.data(), 0xff, data.size()); // an empty ISA bus reads all ones
    for (size_t i = 0; i < count; ++i)
        if (!pio.read(run.io.port, data.subspan(i * width, width)))
            counters_.unhandled_access.bump();
}

void Vcpu::handle_mmio(const Bus& mmio) {
    kvm_run& run = run_page();
    const size_t len = std::min<size_t>(run.mmio.len, sizeof(run.mmio.data));
    auto data = std::as_writable_bytes(std::span(run.mmio.data)).first(len);
    if (run.mmio.is_write != 0) {
        counters_.mmio_write.bump();
        if (!mmio.write(run.mmio.phys_addr, data)) counters_.unhandled_access.bump();
        return;
    }
    counters_.mmio_read.bump();
    std::memset(data.data(), 0xff, data.size());
    if (!mmio.read(run.mmio.phys_addr, data)) counters_.unhandled_access.bump();
}

Vcpu::Step Vcpu::crash(const ExitReporter& report, std::string what) {
    std::string where;
    // After a shutdown, AMD's KVM resets the vCPU before it reports the exit: rip is then the
    // reset vector (cs base 0xffff0000 + 0xfff0), not the faulting instruction.
    if (auto r = regs())
        where = r->rip == 0xfff0 ? fmt::format(" (vCPU {}; KVM reset it, no faulting rip)", index_)
                                 : fmt::format(" (vCPU {} rip {:#x})", index_, r->rip);
    report(GuestExit{GuestExit::Kind::kCrash, to_int(ExitCode::kGuestCrashed), what + where});
    return Step::kStop;
}

Vcpu::Step Vcpu::run_once(const Bus& pio, const Bus& mmio, const CoalescedRing* ring,
                          const ExitReporter& report) {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg)
    const int r = ::ioctl(fd_.get(), KVM_RUN, 0);
    if (ring != nullptr) (void)ring->drain(pio, mmio);
    if (r < 0) {
        if (errno == EINTR || errno == EAGAIN) {
            counters_.interrupted.bump();
            return Step::kInterrupted;
        }
        const int err = errno;
        report(GuestExit{GuestExit::Kind::kHostError, to_int(ExitCode::kOsError),
                         fmt::format("KVM_RUN failed on vCPU {}: {}", index_, std::strerror(err))});
        return Step::kStop;
    }
    kvm_run& run = run_page();
    switch (run.exit_reason) {
    case KVM_EXIT_IO:
        handle_io(pio);
        return Step::kContinue;
    case KVM_EXIT_MMIO:
        handle_mmio(mmio);
        return Step::kContinue;
    case KVM_EXIT_INTR:
        counters_.interrupted.bump();
        return Step::kInterrupted;
    case KVM_EXIT_HLT: // only without an in-kernel LAPIC; ours halts in the kernel
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_DEBUG:
        counters_.other.bump();
        return Step::kContinue;
    case KVM_EXIT_SHUTDOWN:
        return crash(report, "guest triple-faulted (KVM_EXIT_SHUTDOWN): an exception occurred "
                             "while the guest could not handle one (bad IDT, GDT or stack)");
    case KVM_EXIT_FAIL_ENTRY:
        return crash(report, fmt::format("KVM could not enter the guest (KVM_EXIT_FAIL_ENTRY, "
                                         "hardware reason {:#x}): invalid guest CPU state",
                                         run.fail_entry.hardware_entry_failure_reason));
    case KVM_EXIT_INTERNAL_ERROR:
        return crash(report, fmt::format("KVM internal error (suberror {}{}): the guest ran an "
                                         "instruction KVM could not emulate",
                                         run.internal.suberror,
                                         run.internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                                             ? ", emulation failure"
                                             : ""));
    case KVM_EXIT_SYSTEM_EVENT:
        if (run.system_event.type == KVM_SYSTEM_EVENT_CRASH)
            return crash(report, "guest reported a crash (KVM_SYSTEM_EVENT_CRASH)");
        report(GuestExit{run.system_event.type == KVM_SYSTEM_EVENT_RESET
                             ? GuestExit::Kind::kReset
                             : GuestExit::Kind::kPowerOff,
                         0, fmt::format("guest system event {}", run.system_event.type)});
        return Step::kStop;
    default:
        return crash(report, fmt::format("unhandled KVM exit reason {}", run.exit_reason));
    }
}

} // namespace ember
