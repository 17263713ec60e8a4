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
#include <memory>
#include <optional>
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

// A VM running the spew guest (endless serial output) on one vCPU, not started yet, with a
// CountingPort at COM1 on the bus.
class SpewVm : public ::testing::Test {
protected:
    void SetUp() override {
        EMBER_REQUIRE_KVM();
        kvm_.emplace(Kvm::open().value());
        memory_.emplace(GuestMemory::create(GuestMemory::x86_regions(64 << 20)).value());
        auto image = boot::KernelImage::open(std::string(EMBER_GUEST_DIR) + "/spew.elf").value();
        auto elf = boot::Elf64::parse(image.bytes(), image.context()).value();
        boot::PvhConfig config;
        config.cmdline = "lines=1000000000";
        auto plan = boot::plan_pvh(elf, *memory_, config).value();
        vm_.emplace(Vm::create(*kvm_).value());
        ASSERT_TRUE(vm_->set_memory(*memory_).has_value());
        ASSERT_TRUE(vm_->create_platform().has_value());
        auto entry = boot::load_pvh(plan, *memory_).value();
        ASSERT_TRUE(pio_.insert(port_, 0x3f8, 8, "counter").has_value());
        vcpu_.emplace(Vcpu::create(*kvm_, *vm_, 0).value());
        ASSERT_TRUE(
            vcpu_->set_cpuid(x86::guest_cpuid(kvm_->supported_cpuid().value(), 0, 1)).has_value());
        auto sregs = vcpu_->sregs().value();
        boot::apply_pvh_entry_sregs(sregs);
        ASSERT_TRUE(vcpu_->set_sregs(sregs).has_value());
        ASSERT_TRUE(
            vcpu_->set_regs(boot::pvh_entry_regs(entry.entry, entry.start_info_addr)).has_value());
        ASSERT_TRUE(VcpuThread::install_kick_handler().has_value());
    }

    std::optional<Kvm> kvm_;
    std::optional<GuestMemory> memory_;
    std::optional<Vm> vm_;
    std::optional<Vcpu> vcpu_;
    Bus pio_{"PIO"};
    Bus mmio_{"MMIO"};
    std::shared_ptr<CountingPort> port_ = std::make_shared<CountingPort>();
};

TEST_F(SpewVm, PausesResumesAndStopsARunningGuest) {
    std::atomic<int> exits{0};
    VcpuThread thread(std::move(*vcpu_), pio_, mmio_, nullptr,
                      [&](GuestExit) { exits.fetch_add(1); });
    ASSERT_TRUE(thread.start().has_value());
    ASSERT_TRUE(wait_for([&] { return port_->bytes.load() > 10000; }, 10s)) << "guest never ran";
    EXPECT_EQ(thread.state(), VcpuState::kRunning);

    thread.pause();
    EXPECT_EQ(thread.state(), VcpuState::kPaused);
    const uint64_t paused_at = port_->bytes.load();
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(port_->bytes.load(), paused_at) << "a paused vCPU kept running";

    thread.resume();
    EXPECT_TRUE(wait_for([&] { return port_->bytes.load() > paused_at + 10000; }, 10s));
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

TEST_F(SpewVm, IoeventfdCatchesPortWritesWithoutAnExit) {
    // Every THR write now signals the eventfd inside KVM: the bus (user space) sees none.
    auto event = EventFd::create().value();
    ASSERT_TRUE(vm_->register_ioeventfd(event, Vm::IoSpace::kPio, 0x3f8, 1, std::nullopt));
    VcpuThread thread(std::move(*vcpu_), pio_, mmio_, nullptr, [](GuestExit) {});
    ASSERT_TRUE(thread.start().has_value());
    uint64_t caught = 0;
    ASSERT_TRUE(wait_for([&] { return (caught += event.consume()) > 10000; }, 10s));
    EXPECT_EQ(port_->bytes.load(), 0U) << "a write the ioeventfd caught also exited";
    // Unregistered, the writes come back to the bus.
    thread.pause();
    ASSERT_TRUE(vm_->unregister_ioeventfd(event, Vm::IoSpace::kPio, 0x3f8, 1, std::nullopt));
    thread.resume();
    EXPECT_TRUE(wait_for([&] { return port_->bytes.load() > 1000; }, 10s));
    thread.stop();
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
