// The virtio-mmio register file, version 2 (virtio 1.2, 4.2.2 "MMIO Device Register Layout"),
// declared as data so that the transport reads like the spec's table.
//
// Every control register is 32 bits wide and must be accessed with an aligned 32-bit access
// (4.2.2.2); the device-specific configuration space starts at 0x100 and takes 8/16/32/64-bit
// accesses. Registers left out on purpose:
//   - the legacy (version 1) registers GuestPageSize 0x028, QueueAlign 0x03c, QueuePFN 0x040;
//   - QueueReset 0x0c0, which exists only with VIRTIO_F_RING_RESET, a feature we do not offer.
// An access to either is an unknown register: ignored and counted.
#pragma once

#include <fmt/format.h>

#include <linux/virtio_mmio.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace ember::virtio::mmio {

// One device's MMIO window: registers, then config space up to the end of the page. Devices are
// placed on 4 KiB boundaries so that each one can be mapped or trapped on its own page.
inline constexpr uint64_t kMmioWindowSize = 0x1000;

inline constexpr uint32_t kMagic = 0x74726976; // "virt", little endian
inline constexpr uint32_t kMmioVersion = 2;    // the non-legacy (virtio 1.x) interface
// Our vendor ID: "EMBM" read as little-endian bytes. Linux's virtio drivers match any vendor,
// so the value only tells a curious guest (or a reader of /sys/bus/virtio) who emulates it.
inline constexpr uint32_t kEmberVendorId = 0x4d424d45;
inline constexpr uint32_t kRegisterWidth = 4;
// InterruptStatus bits are kInterruptUsedBuffer/kInterruptConfigChange (virtio_device.hpp).

// Register offsets, named as in the spec (the Linux header calls Driver/Device "Avail"/"Used").
enum class Reg : uint16_t {
    kMagicValue = VIRTIO_MMIO_MAGIC_VALUE,                // 0x000
    kVersion = VIRTIO_MMIO_VERSION,                       // 0x004
    kDeviceId = VIRTIO_MMIO_DEVICE_ID,                    // 0x008
    kVendorId = VIRTIO_MMIO_VENDOR_ID,                    // 0x00c
    kDeviceFeatures = VIRTIO_MMIO_DEVICE_FEATURES,        // 0x010
    kDeviceFeaturesSel = VIRTIO_MMIO_DEVICE_FEATURES_SEL, // 0x014
    kDriverFeatures = VIRTIO_MMIO_DRIVER_FEATURES,        // 0x020
    kDriverFeaturesSel = VIRTIO_MMIO_DRIVER_FEATURES_SEL, // 0x024
    kQueueSel = VIRTIO_MMIO_QUEUE_SEL,                    // 0x030
    kQueueNumMax = VIRTIO_MMIO_QUEUE_NUM_MAX,             // 0x034
    kQueueNum = VIRTIO_MMIO_QUEUE_NUM,                    // 0x038
    kQueueReady = VIRTIO_MMIO_QUEUE_READY,                // 0x044
    kQueueNotify = VIRTIO_MMIO_QUEUE_NOTIFY,              // 0x050
    kInterruptStatus = VIRTIO_MMIO_INTERRUPT_STATUS,      // 0x060
    kInterruptAck = VIRTIO_MMIO_INTERRUPT_ACK,            // 0x064
    kStatus = VIRTIO_MMIO_STATUS,                         // 0x070
    kQueueDescLow = VIRTIO_MMIO_QUEUE_DESC_LOW,           // 0x080
    kQueueDescHigh = VIRTIO_MMIO_QUEUE_DESC_HIGH,         // 0x084
    kQueueDriverLow = VIRTIO_MMIO_QUEUE_AVAIL_LOW,        // 0x090
    kQueueDriverHigh = VIRTIO_MMIO_QUEUE_AVAIL_HIGH,      // 0x094
    kQueueDeviceLow = VIRTIO_MMIO_QUEUE_USED_LOW,         // 0x0a0
    kQueueDeviceHigh = VIRTIO_MMIO_QUEUE_USED_HIGH,       // 0x0a4
    kShmSel = VIRTIO_MMIO_SHM_SEL,                        // 0x0ac
    kShmLenLow = VIRTIO_MMIO_SHM_LEN_LOW,                 // 0x0b0
    kShmLenHigh = VIRTIO_MMIO_SHM_LEN_HIGH,               // 0x0b4
    kShmBaseLow = VIRTIO_MMIO_SHM_BASE_LOW,               // 0x0b8
    kShmBaseHigh = VIRTIO_MMIO_SHM_BASE_HIGH,             // 0x0bc
    kConfigGeneration = VIRTIO_MMIO_CONFIG_GENERATION,    // 0x0fc
};

// Device-specific configuration space: [kConfigStart, kMmioWindowSize).
inline constexpr uint64_t kConfigStart = VIRTIO_MMIO_CONFIG; // 0x100
inline constexpr uint64_t kConfigSize = kMmioWindowSize - kConfigStart;

// What the driver may do with a register (the spec's R / W columns).
enum class Access : uint8_t { kRead, kWrite, kReadWrite };

struct RegisterInfo {
    Reg reg;
    std::string_view name; // the spec's name, for logs
    Access access;
    uint8_t width; // bytes; every v2 control register is 32-bit
};

// The spec's table 4.2.2, in offset order.
inline constexpr std::array<RegisterInfo, 28> kRegisters{{
    {Reg::kMagicValue, "MagicValue", Access::kRead, 4},
    {Reg::kVersion, "Version", Access::kRead, 4},
    {Reg::kDeviceId, "DeviceID", Access::kRead, 4},
    {Reg::kVendorId, "VendorID", Access::kRead, 4},
    {Reg::kDeviceFeatures, "DeviceFeatures", Access::kRead, 4},
    {Reg::kDeviceFeaturesSel, "DeviceFeaturesSel", Access::kWrite, 4},
    {Reg::kDriverFeatures, "DriverFeatures", Access::kWrite, 4},
    {Reg::kDriverFeaturesSel, "DriverFeaturesSel", Access::kWrite, 4},
    {Reg::kQueueSel, "QueueSel", Access::kWrite, 4},
    {Reg::kQueueNumMax, "QueueNumMax", Access::kRead, 4},
    {Reg::kQueueNum, "QueueNum", Access::kWrite, 4},
    {Reg::kQueueReady, "QueueReady", Access::kReadWrite, 4},
    {Reg::kQueueNotify, "QueueNotify", Access::kWrite, 4},
    {Reg::kInterruptStatus, "InterruptStatus", Access::kRead, 4},
    {Reg::kInterruptAck, "InterruptACK", Access::kWrite, 4},
    {Reg::kStatus, "Status", Access::kReadWrite, 4},
    {Reg::kQueueDescLow, "QueueDescLow", Access::kWrite, 4},
    {Reg::kQueueDescHigh, "QueueDescHigh", Access::kWrite, 4},
    {Reg::kQueueDriverLow, "QueueDriverLow", Access::kWrite, 4},
    {Reg::kQueueDriverHigh, "QueueDriverHigh", Access::kWrite, 4},
    {Reg::kQueueDeviceLow, "QueueDeviceLow", Access::kWrite, 4},
    {Reg::kQueueDeviceHigh, "QueueDeviceHigh", Access::kWrite, 4},
    {Reg::kShmSel, "SHMSel", Access::kWrite, 4},
    {Reg::kShmLenLow, "SHMLenLow", Access::kRead, 4},
    {Reg::kShmLenHigh, "SHMLenHigh", Access::kRead, 4},
    {Reg::kShmBaseLow, "SHMBaseLow", Access::kRead, 4},
    {Reg::kShmBaseHigh, "SHMBaseHigh", Access::kRead, 4},
    {Reg::kConfigGeneration, "ConfigGeneration", Access::kRead, 4},
}};

namespace detail {
inline constexpr uint8_t kNoRegister = 0xff;
// kRegisters' index for each 32-bit slot below the config space (kNoRegister where there is
// none): a register lookup on the vCPU exit path is one load.
constexpr std::array<uint8_t, kConfigStart / kRegisterWidth> make_register_index() {
    std::array<uint8_t, kConfigStart / kRegisterWidth> index{};
    index.fill(kNoRegister);
    uint8_t i = 0;
    for (const RegisterInfo& info : kRegisters)
        index.at(static_cast<size_t>(info.reg) / kRegisterWidth) = i++;
    return index;
}
inline constexpr auto kRegisterIndex = make_register_index();

constexpr bool registers_well_formed() {
    uint64_t previous = 0;
    bool first = true;
    for (const RegisterInfo& info : kRegisters) {
        const auto offset = static_cast<uint64_t>(info.reg);
        if (offset % kRegisterWidth != 0 || offset >= kConfigStart) return false;
        if (info.width != kRegisterWidth || (!first && offset <= previous)) return false;
        previous = offset;
        first = false;
    }
    return true;
}
static_assert(registers_well_formed(), "kRegisters: aligned, 32-bit, in ascending offset order");
} // namespace detail

// The table entry at `offset`, or nullptr for an offset that is no register.
constexpr const RegisterInfo* find_register(uint64_t offset) {
    if (offset >= kConfigStart || offset % kRegisterWidth != 0) return nullptr;
    const uint8_t i = detail::kRegisterIndex.at(offset / kRegisterWidth);
    return i == detail::kNoRegister ? nullptr : &kRegisters.at(i);
}

constexpr bool readable(Access access) {
    return access != Access::kWrite;
}
constexpr bool writable(Access access) {
    return access != Access::kRead;
}

// The kernel command-line fragment that tells Linux's virtio_mmio driver about one device
// (drivers/virtio/virtio_mmio.c, "virtio_mmio.device=<size>@<baseaddr>:<irq>"): for example
// `virtio_mmio.device=4K@0xd0000000:5`. The size is written with memparse's K/M/G suffixes
// where it divides evenly. Append one fragment per device, separated by spaces.
inline std::string kernel_cmdline_fragment(uint64_t base, uint32_t irq,
                                           uint64_t size = kMmioWindowSize) {
    struct Unit {
        uint64_t bytes;
        std::string_view suffix;
    };
    constexpr uint64_t kKiB = 1024;
    constexpr std::array<Unit, 3> kUnits{
        {{kKiB * kKiB * kKiB, "G"}, {kKiB * kKiB, "M"}, {kKiB, "K"}}};
    for (const Unit& unit : kUnits) {
        if (size != 0 && size % unit.bytes == 0)
            return fmt::format("virtio_mmio.device={}{}@{:#x}:{}", size / unit.bytes, unit.suffix,
                               base, irq);
    }
    return fmt::format("virtio_mmio.device={}@{:#x}:{}", size, base, irq);
}

} // namespace ember::virtio::mmio
