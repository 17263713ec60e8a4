// Vcpu: one KVM virtual CPU — its fd, its kvm_run page, register access, and one KVM_RUN step
// with the exit dispatched to the PIO/MMIO buses. Threads and states live in VcpuThread.
#pragma once

#include "vmm/core/bus.hpp"
#include "vmm/core/coalesced_ring.hpp"
#include "vmm/core/guest_exit.hpp"
#include "vmm/core/kvm.hpp"
#include "vmm/core/vm.hpp"
#include "vmm/sys/mmap_region.hpp"

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>
#include <span>
#include <vector>

namespace ember {

// A counter that one thread bumps and any thread may read (relaxed: a statistic, not a
// handshake; the bump is a plain load and store, no locked instruction on the exit path).
class RelaxedCounter final {
public:
    RelaxedCounter() = default;
    RelaxedCounter(const RelaxedCounter& o) : value_(o.get()) {}
    RelaxedCounter& operator=(const RelaxedCounter& o) {
        value_.store(o.get(), std::memory_order_relaxed);
        return *this;
    }
    RelaxedCounter(RelaxedCounter&& o) noexcept : value_(o.get()) {}
    RelaxedCounter& operator=(RelaxedCounter&& o) noexcept { return *this = o; }
    ~RelaxedCounter() = default;

    void bump() {
        value_.store(value_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    [[nodiscard]] uint64_t get() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> value_{0};
};

// Exit counts by reason: a snapshot (Vcpu::stats()), readable while the vCPU runs.
struct VcpuExitStats {
    uint64_t io_in = 0;
    uint64_t io_out = 0;
    uint64_t mmio_read = 0;
    uint64_t mmio_write = 0;
    uint64_t unhandled_access = 0; // PIO/MMIO that no device covers
    uint64_t interrupted = 0;      // KVM_RUN returned EINTR (a kick)
    uint64_t other = 0;

    [[nodiscard]] uint64_t total() const {
        return io_in + io_out + mmio_read + mmio_write + interrupted + other;
    }
    VcpuExitStats& operator+=(const VcpuExitStats& o);
};

class Vcpu final {
public:
    static Result<Vcpu> create(const Kvm& kvm, const Vm& vm, uint32_t index);

    [[nodiscard]] uint32_t index() const { return index_; }
    [[nodiscard]] int fd() const { return fd_.get(); }
    // Safety: the kvm_run page is mapped for the Vcpu's lifetime; KVM writes it only while this
    // vCPU's thread is inside KVM_RUN.
    [[nodiscard]] kvm_run& run_page() const { return *reinterpret_cast<kvm_run*>(run_.data()); }

    // KVM_SET_CPUID2 with `entries` (x86::guest_cpuid shapes them for a vCPU).
    Result<void> set_cpuid(std::span<const kvm_cpuid_entry2> entries);
    // KVM_GET_CPUID2: the entries the vCPU has (for checks now, for snapshots later).
    Result<std::vector<kvm_cpuid_entry2>> cpuid() const;
    Result<kvm_regs> regs() const;
    Result<void> set_regs(const kvm_regs& regs);
    Result<kvm_sregs> sregs() const;
    Result<void> set_sregs(const kvm_sregs& sregs);

    enum class Step {
        kContinue,    // exit handled; run again
        kInterrupted, // KVM_RUN returned EINTR (signal or immediate_exit): check for requests
        kStop,        // the VM is over; `exit` was reported
    };
    // One KVM_RUN and the handling of its exit. Coalesced writes (if `ring`) are replayed first,
    // so they reach their devices before this exit's access. Guest-caused conditions that end
    // the VM (triple fault, emulation failure) are reported through `report`, never thrown.
    Step run_once(const Bus& pio, const Bus& mmio, const CoalescedRing* ring,
                  const ExitReporter& report);

    // The page `page` (in pages) of this vCPU's mapping: the coalesced ring lives there.
    [[nodiscard]] std::span<std::byte> mapped_page(size_t page) const {
        return run_.bytes().subspan(page * 4096, 4096);
    }

    // The exit counts so far; callable from any thread.
    [[nodiscard]] VcpuExitStats stats() const;

private:
    Vcpu(uint32_t index, UniqueFd fd, MmapRegion run)
        : index_(index), fd_(std::move(fd)), run_(std::move(run)) {}
    void handle_io(const Bus& pio);
    void handle_mmio(const Bus& mmio);
    Step crash(const ExitReporter& report, std::string what);

    uint32_t index_;
    UniqueFd fd_;
    MmapRegion run_;
    // Bumped by the vCPU's own thread only.
    struct Counters {
        RelaxedCounter io_in, io_out, mmio_read, mmio_write, unhandled_access, interrupted, other;
    };
    Counters counters_;
};

} // namespace ember
