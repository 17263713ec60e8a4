#include "vmm/devices/acpi_pm.hpp"

#include "boot/acpi/tables.hpp"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace ember::devices {
namespace {

struct Fixture {
    std::vector<GuestExit> exits;
    AcpiPm pm{[this](GuestExit e) { exits.push_back(std::move(e)); }};
    void put(uint8_t v) {
        const std::array<std::byte, 1> b{std::byte{v}};
        pm.write(0, b);
    }
};

TEST(AcpiPm, LinuxPoweroffValueEndsTheVmWithStatusZero) {
    Fixture f;
    f.put(boot::acpi::kS5PowerOffValue); // the value the FADT/DSDT make Linux write
    ASSERT_EQ(f.exits.size(), 1U);
    EXPECT_EQ(f.exits[0].kind, GuestExit::Kind::kPowerOff);
    EXPECT_EQ(f.exits[0].status, 0);
}

TEST(AcpiPm, ResetValueResets) {
    Fixture f;
    f.put(boot::acpi::kResetValue);
    ASSERT_EQ(f.exits.size(), 1U);
    EXPECT_EQ(f.exits[0].kind, GuestExit::Kind::kReset);
}

TEST(AcpiPm, OtherWritesAndSleepStatesAreIgnored) {
    Fixture f;
    f.put(boot::acpi::kWakeStatus); // Linux clears WAK_STS first
    f.put(0x14);                    // S5 type without SLP_EN
    f.put(0x20 | (3 << 2));         // S3 with SLP_EN: not supported, ignored
    const std::array<std::byte, 2> wide{};
    f.pm.write(0, wide);
    EXPECT_TRUE(f.exits.empty());
    EXPECT_EQ(f.pm.ignored_writes(), 4U);
    std::array<std::byte, 1> r{std::byte{0xff}};
    f.pm.read(0, r);
    EXPECT_EQ(r[0], std::byte{0});
}

} // namespace
} // namespace ember::devices
