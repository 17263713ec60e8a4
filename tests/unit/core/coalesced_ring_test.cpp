#include "vmm/core/coalesced_ring.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace ember {
namespace {

// A stand-in for KVM: appends entries to a ring page laid out as the kernel's.
class FakeKvmRing {
public:
    FakeKvmRing() : page_(CoalescedRing::kPageSize) {}
    std::span<std::byte> page() { return page_; }
    void push(uint64_t addr, std::span<const uint8_t> data, bool pio) {
        CoalescedEntry e{};
        e.phys_addr = addr;
        e.len = static_cast<uint32_t>(data.size());
        e.pio = pio ? 1 : 0;
        std::memcpy(e.data, data.data(), data.size());
        const uint32_t last = index(4);
        std::memcpy(page_.data() + CoalescedRing::kHeaderSize + last * sizeof e, &e, sizeof e);
        set_index(4, (last + 1) % CoalescedRing::kCapacity);
    }
    void push_byte(uint64_t port, char c) {
        const auto b = static_cast<uint8_t>(c);
        push(port, std::span(&b, 1), true);
    }
    uint32_t index(size_t at) const {
        uint32_t v = 0;
        std::memcpy(&v, page_.data() + at, 4);
        return v;
    }
    void set_index(size_t at, uint32_t v) { std::memcpy(page_.data() + at, &v, 4); }

private:
    std::vector<std::byte> page_;
};

class Recorder final : public BusDevice {
public:
    void read(uint64_t, std::span<std::byte>) override {}
    void write(uint64_t offset, std::span<const std::byte> data) override {
        calls.push_back("w" + std::to_string(offset) + ":" + text(data));
    }
    void write_string(uint64_t offset, std::span<const std::byte> data, size_t width) override {
        calls.push_back("s" + std::to_string(offset) + "/" + std::to_string(width) + ":" +
                        text(data));
    }
    static std::string text(std::span<const std::byte> d) {
        return {reinterpret_cast<const char*>(d.data()), d.size()}; // NOLINT: test helper
    }
    std::vector<std::string> calls;
};

struct Fixture {
    FakeKvmRing kvm;
    Bus pio{"PIO"};
    Bus mmio{"MMIO"};
    std::shared_ptr<Recorder> uart = std::make_shared<Recorder>();
    std::shared_ptr<Recorder> other = std::make_shared<Recorder>();
    std::shared_ptr<Recorder> mmio_dev = std::make_shared<Recorder>();
    Fixture() {
        EXPECT_TRUE(pio.insert(uart, 0x3f8, 8, "uart").has_value());
        EXPECT_TRUE(pio.insert(other, 0x80, 1, "post").has_value());
        EXPECT_TRUE(mmio.insert(mmio_dev, 0xd000'0000, 0x1000, "mmio").has_value());
    }
};

TEST(CoalescedRing, AnEmptyRingDrainsNothing) {
    Fixture f;
    CoalescedRing ring(f.kvm.page());
    EXPECT_TRUE(ring.empty());
    EXPECT_EQ(ring.drain(f.pio, f.mmio), 0U);
    EXPECT_TRUE(f.uart->calls.empty());
}

TEST(CoalescedRing, ARunOfBytesToOnePortBecomesOneStringWrite) {
    Fixture f;
    CoalescedRing ring(f.kvm.page());
    for (char c : std::string("hello\n"))
        f.kvm.push_byte(0x3f8, c);
    EXPECT_FALSE(ring.empty());
    EXPECT_EQ(ring.drain(f.pio, f.mmio), 6U);
    ASSERT_EQ(f.uart->calls.size(), 1U);
    EXPECT_EQ(f.uart->calls[0], "s0/1:hello\n");
    EXPECT_TRUE(ring.empty());
    EXPECT_EQ(f.kvm.index(0), 6U); // `first` published back to KVM
}

TEST(CoalescedRing, OrderIsKeptAcrossPortsAndMmio) {
    Fixture f;
    CoalescedRing ring(f.kvm.page());
    f.kvm.push_byte(0x3f8, 'a');
    f.kvm.push_byte(0x3f8, 'b');
    f.kvm.push_byte(0x80, 'X');
    const std::array<uint8_t, 4> word{'m', 'm', 'i', 'o'};
    f.kvm.push(0xd000'0010, word, false);
    f.kvm.push_byte(0x3f8, 'c');
    EXPECT_EQ(ring.drain(f.pio, f.mmio), 5U);
    EXPECT_EQ(f.uart->calls, (std::vector<std::string>{"s0/1:ab", "s0/1:c"}));
    EXPECT_EQ(f.other->calls, (std::vector<std::string>{"s0/1:X"}));
    EXPECT_EQ(f.mmio_dev->calls, (std::vector<std::string>{"w16:mmio"}));
}

TEST(CoalescedRing, WrapsAroundTheEndOfTheRing) {
    Fixture f;
    CoalescedRing ring(f.kvm.page());
    const uint32_t start = CoalescedRing::kCapacity - 2;
    f.kvm.set_index(0, start);
    f.kvm.set_index(4, start);
    for (char c : std::string("wrap"))
        f.kvm.push_byte(0x3f8, c);
    EXPECT_EQ(f.kvm.index(4), 2U);
    EXPECT_EQ(ring.drain(f.pio, f.mmio), 4U);
    EXPECT_EQ(f.uart->calls, (std::vector<std::string>{"s0/1:wrap"}));
    EXPECT_EQ(f.kvm.index(0), 2U);
}

TEST(CoalescedRing, CorruptIndicesAreIgnoredNotFollowed) {
    Fixture f;
    CoalescedRing ring(f.kvm.page());
    f.kvm.set_index(4, CoalescedRing::kCapacity + 7);
    EXPECT_EQ(ring.drain(f.pio, f.mmio), 0U);
    EXPECT_TRUE(f.uart->calls.empty());
}

TEST(CoalescedRing, CapacityMatchesTheKernelsFormula) {
    // KVM_COALESCED_MMIO_MAX = (PAGE_SIZE - sizeof(ring header)) / sizeof(entry) on x86-64.
    EXPECT_EQ(CoalescedRing::kCapacity, 170U);
}

} // namespace
} // namespace ember
