// Where virtio devices go and what the guest is told about them.
#include "vmm/virtio_devices.hpp"

#include <gtest/gtest.h>

namespace ember {
namespace {

using virtio::block::DriveConfig;

DriveConfig drive(std::string path, std::string id = "", bool root = false, bool ro = false) {
    DriveConfig d;
    d.path = std::move(path);
    d.id = std::move(id);
    d.root = root;
    d.read_only = ro;
    return d;
}

TEST(VirtioDevices, SlotsFollowTheAddressMap) {
    EXPECT_EQ(virtio_slot(0).base, 0xd0000000U);
    EXPECT_EQ(virtio_slot(0).gsi, 5U);
    EXPECT_EQ(virtio_slot(18).base, 0xd0012000U);
    EXPECT_EQ(virtio_slot(18).gsi, 23U);
    const auto acpi = acpi_virtio_devices(2);
    ASSERT_EQ(acpi.size(), 2U);
    EXPECT_EQ(acpi[1].base, 0xd0001000U);
    EXPECT_EQ(acpi[1].size, 0x1000U);
    EXPECT_EQ(acpi[1].gsi, 6U);
}

TEST(VirtioDevices, RootDriveGoesFirst) {
    VmConfig c;
    c.drives = {drive("a.img", "a"), drive("b.img", "b", true), drive("c.img")};
    auto d = ordered_drives(c);
    ASSERT_TRUE(d) << d.error().message();
    ASSERT_EQ(d->size(), 3U);
    EXPECT_EQ((*d)[0].path, "b.img");
    EXPECT_EQ((*d)[1].path, "a.img");
    EXPECT_EQ((*d)[2].path, "c.img");
}

TEST(VirtioDevices, RefusesWhatCannotWork) {
    VmConfig c;
    c.drives = {drive("a", "", true), drive("b", "", true)};
    EXPECT_NE(ordered_drives(c).error().message().find("only one"), std::string::npos);
    c.drives = {drive("a", "same"), drive("b", "same")};
    EXPECT_NE(ordered_drives(c).error().message().find("two drives"), std::string::npos);
    c.drives = {drive("a", "an-id-longer-than-twenty-bytes")};
    EXPECT_NE(ordered_drives(c).error().message().find("20 bytes"), std::string::npos);
    c.drives.assign(kMaxVirtioDevices + 1, drive("x"));
    EXPECT_NE(ordered_drives(c).error().message().find("room for 19"), std::string::npos);
}

TEST(VirtioDevices, CmdlineAnnouncesDevicesAndRoot) {
    const std::vector<DriveConfig> drives{drive("r", "", true), drive("d")};
    EXPECT_EQ(cmdline_with_devices("console=ttyS0", drives),
              "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5 "
              "virtio_mmio.device=4K@0xd0001000:6 root=/dev/vda rw");
    // A user's root= wins; a read-only root is mounted ro.
    EXPECT_EQ(cmdline_with_devices("root=/dev/vdb", drives),
              "root=/dev/vdb virtio_mmio.device=4K@0xd0000000:5 "
              "virtio_mmio.device=4K@0xd0001000:6");
    const std::vector<DriveConfig> ro{drive("r", "", true, true)};
    EXPECT_EQ(cmdline_with_devices("", ro), "virtio_mmio.device=4K@0xd0000000:5 root=/dev/vda ro");
    // "noroot=1" is not a root=.
    EXPECT_NE(cmdline_with_devices("noroot=1", ro).find("root=/dev/vda"), std::string::npos);
    EXPECT_EQ(cmdline_with_devices("quiet", {}), "quiet");
}

TEST(VirtioDevices, InterfacesEntropyAndVsockFollowTheDrives) {
    VmConfig c;
    c.drives = {drive("a")};
    c.nets = {virtio::net::NetConfig{.id = "n", .tap = "tap0"}};
    c.entropy = virtio::rng::EntropyConfig{};
    EXPECT_EQ(virtio_device_count(c), 3U);
    c.vsock = virtio::vsock::VsockConfig{3, "/tmp/v.sock"};
    EXPECT_EQ(virtio_device_count(c), 4U);
    auto d = ordered_drives(c);
    ASSERT_TRUE(d) << d.error().message();
    EXPECT_EQ(cmdline_with_devices("quiet", *d, 2),
              "quiet virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 "
              "virtio_mmio.device=4K@0xd0002000:7");
    EXPECT_EQ(cmdline_with_devices("", {}, 1), "virtio_mmio.device=4K@0xd0000000:5");
    // Interfaces, entropy and vsock count against the 19 slots too.
    c.drives.assign(kMaxVirtioDevices - 2, drive("x"));
    const std::string message = ordered_drives(c).error().message();
    EXPECT_NE(message.find("20 virtio devices (17 drives, 1 network interfaces, 1 entropy, 1 "
                           "vsock)"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("room for 19"), std::string::npos);
}

} // namespace
} // namespace ember
