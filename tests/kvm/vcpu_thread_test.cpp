// KVM tier: the vCPU thread state machine (Running -> Paused -> Running -> Exited) on a real
// vCPU running the spew guest, observed through a byte-counting serial port.
#include "boot/elf/elf64.hpp"
#include "boot/kernel_image.hpp"
#include "boot/pvh/pvh_loader.hpp"
#include "boot/x86_64/entry_state.hpp"
#include "tests/kvm/kvm_available.hpp"
#include "vmm/core/vcpu_thread.hpp"
#include "vmm/core/x86_cpu.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

namespace ember {
namespace {

using namespace std::chrono_literals;

class CountingPort final : public BusDevice {
public:
    void read(uint64_t offset, std::span<std::byte> data) override {
        // LSR: transmitter empty, so a polling guest never waits.
        if (offset == 5) data[0] = std::byte{0x60};
    }
    void write(uint64_t offset, std::span<const std::byte> data) override {
        if (offset == 0) bytes.fetch_add(data.size());
    }
    void write_string(uint64_t offset, std::span<const std::byte> data, size_t) override {
        if (offset == 0) bytes.fetch_add(data.size());
    }
    std::atomic<uint64_t> bytes{0};
};

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (cond()) return true;
        std::this_thread::sleep_for(1ms);
    }
    return cond();
}

TEST(VcpuThread, PausesResumesAndStopsARunningGuest) {
    EMBER_REQUIRE_KVM();
    auto kvm = Kvm::open().value();
    auto memory = GuestMemory::create(GuestMemory::x86_regions(64 << 20)).value();
    auto image = boot::KernelImage::open(std::string(EMBER_GUEST_DIR) + "/spew.elf").value();
    auto elf = boot::Elf64::parse(image.bytes(), image.context()).value();
    boot::PvhConfig config;
    config.cmdline = "lines=1000000000";
    auto plan = boot::plan_pvh(elf, memory, config).value();
    auto vm = Vm::create(kvm).value();
    ASSERT_TRUE(vm.set_memory(memory).has_value());
    ASSERT_TRUE(vm.create_platform().has_value());
    auto entry = boot::load_pvh(plan, memory).value();

    Bus pio("PIO");
    Bus mmio("MMIO");
    auto port = std::make_shared<CountingPort>();
    ASSERT_TRUE(pio.insert(port, 0x3f8, 8, "counter").has_value());
    auto vcpu = Vcpu::create(kvm, vm, 0).value();
    ASSERT_TRUE(vcpu.set_cpuid(x86::guest_cpuid(kvm.supported_cpuid().value(), 0, 1)).has_value());
    auto sregs = vcpu.sregs().value();
    boot::apply_pvh_entry_sregs(sregs);
    ASSERT_TRUE(vcpu.set_sregs(sregs).has_value());
    ASSERT_TRUE(
        vcpu.set_regs(boot::pvh_entry_regs(entry.entry, entry.start_info_addr)).has_value());

    ASSERT_TRUE(VcpuThread::install_kick_handler().has_value());
    std::atomic<int> exits{0};
    VcpuThread thread(std::move(vcpu), pio, mmio, nullptr, [&](GuestExit) { exits.fetch_add(1); });
    ASSERT_TRUE(thread.start().has_value());
    ASSERT_TRUE(wait_for([&] { return port->bytes.load() > 10000; }, 10s)) << "guest never ran";
    EXPECT_EQ(thread.state(), VcpuState::kRunning);

    thread.pause();
    EXPECT_EQ(thread.state(), VcpuState::kPaused);
    const uint64_t paused_at = port->bytes.load();
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(port->bytes.load(), paused_at) << "a paused vCPU kept running";

    thread.resume();
    EXPECT_TRUE(wait_for([&] { return port->bytes.load() > paused_at + 10000; }, 10s));
    EXPECT_EQ(thread.state(), VcpuState::kRunning);

    // Pause and resume quickly many times: no request may be lost (each returns).
    for (int i = 0; i < 50; ++i) {
        thread.pause();
        ASSERT_EQ(thread.state(), VcpuState::kPaused);
        thread.resume();
    }

    thread.stop();
    EXPECT_EQ(thread.state(), VcpuState::kExited);
    EXPECT_EQ(exits.load(), 0);
    EXPECT_GT(thread.vcpu().stats().interrupted, 0U);
}

} // namespace
} // namespace ember

namespace ember {
namespace {

// KVM keeps exactly the CPUID we give it: read back with KVM_GET_CPUID2, leaf 1 has the
// hypervisor bit and this vCPU's APIC ID, and KVM's own signature leaf is where the guest looks.
TEST(Vcpu, CpuidRoundTripsThroughKvm) {
    EMBER_REQUIRE_KVM();
    auto kvm = Kvm::open().value();
    auto vm = Vm::create(kvm).value();
    auto vcpu = Vcpu::create(kvm, vm, 1).value();
    const auto want = x86::guest_cpuid(kvm.supported_cpuid().value(), 1, 2);
    ASSERT_TRUE(vcpu.set_cpuid(want).has_value());
    const auto got = vcpu.cpuid().value();
    ASSERT_EQ(got.size(), want.size());
    bool saw_leaf1 = false;
    for (const auto& w : want) {
        const auto it = std::find_if(got.begin(), got.end(), [&](const kvm_cpuid_entry2& g) {
            return g.function == w.function && g.index == w.index;
        });
        ASSERT_NE(it, got.end()) << "leaf " << std::hex << w.function << "." << w.index;
        if (w.function == 1) {
            saw_leaf1 = true;
            EXPECT_NE(it->ecx & (1U << 31), 0U);
            EXPECT_EQ(it->ebx >> 24, 1U);
        }
    }
    EXPECT_TRUE(saw_leaf1);
}

} // namespace
} // namespace ember
