#include "boot/acpi/tables.hpp"

#include "boot/acpi/aml.hpp"
#include "boot/acpi/layouts.hpp"
#include "boot/acpi/platform.hpp"
#include "vmm/devices/i8042.hpp"
#include "vmm/devices/serial.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>

namespace ember::boot::acpi {
namespace {

constexpr uint32_t kOemRevision = 1;
constexpr uint32_t kCreatorRevision = 1;
constexpr uint8_t kFadtRevision = 6;     // ACPI 6.x
constexpr uint8_t kFadtMinorVersion = 5; // ACPI 6.5
constexpr uint8_t kMadtRevision = 6;     // ACPI 6.5
constexpr uint8_t kXsdtRevision = 1;
constexpr uint8_t kDsdtRevision = 2; // 2 and above: AML integers are 64-bit
constexpr uint8_t kRsdpRevision = 2;
// Device names V000..VFFF: three hex digits.
constexpr size_t kMaxDevices = 0x1000;
constexpr size_t kChecksumOffset = offsetof(TableHeader, checksum);

template <size_t N> std::array<char, N - 1> chars(const char (&s)[N]) {
    std::array<char, N - 1> out{};
    std::copy_n(s, N - 1, out.begin());
    return out;
}

TableHeader header(const char (&signature)[5], uint8_t revision) {
    TableHeader h;
    h.signature = chars(signature);
    h.revision = revision;
    h.oem_id = chars(kOemId);
    h.oem_table_id = chars(kOemTableId);
    h.oem_revision = kOemRevision;
    h.creator_id = chars(kCreatorId);
    h.creator_revision = kCreatorRevision;
    return h;
}

template <class T> void append(std::vector<std::byte>& out, const T& value) {
    const auto bytes = std::as_bytes(std::span(&value, 1));
    out.insert(out.end(), bytes.begin(), bytes.end());
}

// Patches the header's length, then its checksum, once the table is complete.
std::vector<std::byte> finish(std::vector<std::byte> table) {
    const auto length = static_cast<uint32_t>(table.size());
    std::memcpy(table.data() + offsetof(TableHeader, length), &length, sizeof(length));
    table[kChecksumOffset] = std::byte{0};
    table[kChecksumOffset] = std::byte{checksum(table)};
    return table;
}

GenericAddress pm_port_register() {
    return GenericAddress{.space = AddressSpace::kSystemIo,
                          .bit_width = 8,
                          .bit_offset = 0,
                          .access_size = AccessSize::kByte,
                          .address = kPmPort};
}

aml::Bytes virtio_device(size_t index, const VirtioMmioDevice& dev) {
    const std::string name = fmt::format("V{:03X}", index);
    const aml::Bytes crs = aml::resource_template(aml::concat(
        {aml::memory32_fixed(static_cast<uint32_t>(dev.base), static_cast<uint32_t>(dev.size),
                             true),
         aml::extended_interrupt(dev.gsi, aml::Trigger::kEdge, aml::Polarity::kActiveHigh)}));
    return aml::device(name, aml::concat({
                                 aml::name("_HID", aml::string("LNRO0005")),
                                 aml::name("_UID", aml::integer(index)),
                                 aml::name("_CRS", crs),
                             }));
}

// The legacy ISA devices every ember VM has, with the ports and IRQs the VMM gives them. A
// hardware-reduced ACPI platform has no legacy PIC, so Linux maps no ISA IRQ it is not told
// about: without these, request_irq(4) for the serial port's interrupt-driven TTY (the console
// of user space) and request_irq(1) for the i8042 fail with -EINVAL.
aml::Bytes legacy_devices() {
    using devices::kCom1Base, devices::kSerialPortCount, devices::kCom1Irq;
    using devices::kI8042Base, devices::kI8042KbdIrq;
    const aml::Bytes com1 = aml::device(
        "COM1", aml::concat({
                    aml::name("_HID", aml::integer(aml::eisa_id("PNP0501"))), // 16550A UART
                    aml::name("_UID", aml::integer(1)),
                    aml::name("_CRS", aml::resource_template(
                                          aml::concat({aml::io_port(kCom1Base, kSerialPortCount),
                                                       aml::irq_no_flags(kCom1Irq)}))),
                }));
    const aml::Bytes kbd = aml::device(
        "PS2K", aml::concat({
                    aml::name("_HID", aml::integer(aml::eisa_id("PNP0303"))), // i8042 keyboard
                    aml::name("_CRS", aml::resource_template(aml::concat(
                                          {aml::io_port(kI8042Base, 1),     // data
                                           aml::io_port(kI8042Base + 4, 1), // status/command
                                           aml::irq_no_flags(kI8042KbdIrq)}))),
                }));
    return aml::concat({com1, kbd});
}

} // namespace

uint8_t checksum(std::span<const std::byte> table) {
    unsigned sum = 0;
    for (std::byte b : table)
        sum += std::to_integer<unsigned>(b);
    return static_cast<uint8_t>((0x100 - (sum & 0xFF)) & 0xFF);
}

Result<void> validate(const AcpiConfig& config) {
    if (config.vcpus == 0 || config.vcpus > kMaxTableVcpus)
        return make_error(Errc::kInvalidArgument,
                          "ACPI tables: {} vCPUs; the MADT describes 1 to {} (8-bit APIC IDs)",
                          config.vcpus, kMaxTableVcpus);
    if (config.devices.size() > kMaxDevices)
        return make_error(Errc::kInvalidArgument,
                          "ACPI tables: {} virtio-mmio devices; the DSDT names at most {}",
                          config.devices.size(), kMaxDevices);
    for (size_t i = 0; i < config.devices.size(); ++i) {
        const VirtioMmioDevice& d = config.devices[i];
        if (d.size == 0 || d.base > UINT32_MAX || d.size > UINT32_MAX ||
            d.base + d.size > (uint64_t{1} << 32))
            return make_error(Errc::kInvalidArgument,
                              "ACPI tables: virtio-mmio device {} window [{:#x}, +{:#x}) must be "
                              "non-empty and below 4 GiB (Memory32Fixed)",
                              i, d.base, d.size);
        if (d.gsi >= kIoapicPins)
            return make_error(Errc::kInvalidArgument,
                              "ACPI tables: virtio-mmio device {} uses GSI {}; the IOAPIC has "
                              "GSIs 0 to {}",
                              i, d.gsi, kIoapicPins - 1);
    }
    return {};
}

std::vector<std::byte> build_rsdp(GuestAddr xsdt) {
    Rsdp r;
    r.signature = chars("RSD PTR ");
    r.oem_id = chars(kOemId);
    r.revision = kRsdpRevision;
    r.length = sizeof(Rsdp);
    r.xsdt_address = xsdt;
    std::vector<std::byte> out;
    append(out, r);
    out[offsetof(Rsdp, checksum)] = std::byte{checksum(std::span(out).first(kRsdpV1Size))};
    out[offsetof(Rsdp, extended_checksum)] = std::byte{checksum(out)};
    return out;
}

std::vector<std::byte> build_xsdt(std::span<const GuestAddr> tables) {
    std::vector<std::byte> out;
    append(out, header("XSDT", kXsdtRevision));
    for (GuestAddr t : tables)
        append(out, uint64_t{t}); // unaligned in the table: bytes
    return finish(std::move(out));
}

std::vector<std::byte> build_fadt(GuestAddr dsdt) {
    Fadt f;
    f.header = header("FACP", kFadtRevision);
    f.dsdt = static_cast<uint32_t>(dsdt);
    f.x_dsdt = dsdt;
    // An i8042 is there (ember's reset path); no VGA and no CMOS RTC to probe.
    f.iapc_boot_arch = kBootArch8042 | kBootArchVgaNotPresent | kBootArchCmosRtcNotPresent;
    f.flags = kFadtHwReducedAcpi | kFadtResetRegSup | kFadtPwrButton | kFadtSlpButton;
    f.reset_reg = pm_port_register();
    f.reset_value = kResetValue;
    f.minor_version = kFadtMinorVersion;
    f.sleep_control_reg = pm_port_register();
    f.sleep_status_reg = pm_port_register();
    std::vector<std::byte> out;
    append(out, f);
    return finish(std::move(out));
}

std::vector<std::byte> build_madt(uint32_t vcpus) {
    MadtHeader m;
    m.header = header("APIC", kMadtRevision);
    m.local_apic_address = kLocalApicAddr;
    std::vector<std::byte> out;
    append(out, m);
    for (uint32_t i = 0; i < vcpus; ++i) {
        MadtLocalApic lapic;
        lapic.processor_uid = static_cast<uint8_t>(i);
        lapic.apic_id = static_cast<uint8_t>(i);
        lapic.flags = kMadtLocalApicEnabled;
        append(out, lapic);
    }
    MadtIoApic ioapic;
    ioapic.io_apic_id = ioapic_id(vcpus);
    ioapic.address = kIoapicAddr;
    ioapic.gsi_base = 0;
    append(out, ioapic);
    return finish(std::move(out));
}

std::vector<std::byte> build_dsdt(std::span<const VirtioMmioDevice> devices) {
    std::vector<aml::Bytes> devs;
    devs.reserve(devices.size() + 1);
    devs.push_back(legacy_devices());
    for (size_t i = 0; i < devices.size(); ++i)
        devs.push_back(virtio_device(i, devices[i]));
    // \_S5_: SLP_TYPa = 5, SLP_TYPb = 0 (there is no PM1b), two reserved.
    const std::array s5{aml::integer(kS5SleepType), aml::integer(0), aml::integer(0),
                        aml::integer(0)};
    const aml::Bytes body =
        aml::concat({aml::scope("\\_SB_", aml::concat(devs)), aml::name("_S5_", aml::package(s5))});
    std::vector<std::byte> out;
    append(out, header("DSDT", kDsdtRevision));
    out.insert(out.end(), body.begin(), body.end());
    return finish(std::move(out));
}

Result<AcpiTables> write_acpi_tables(const GuestMemory& memory, const AcpiConfig& config) {
    EMBER_TRY_VOID(validate(config));
    if (!memory.contains(kAcpiAreaStart, kAcpiAreaEnd - kAcpiAreaStart))
        return make_error(Errc::kInvalidArgument,
                          "ACPI tables: guest RAM does not cover [{:#x}, {:#x}); give the guest "
                          "at least 1 MiB",
                          kAcpiAreaStart, kAcpiAreaEnd);

    const std::array<GuestAddr, 2> xsdt_entries{kFadtAddr, kMadtAddr};
    struct Placed {
        GuestAddr addr;
        GuestAddr limit;
        std::vector<std::byte> bytes;
    };
    const std::array<Placed, 5> tables{{
        {kRsdpAddr, kXsdtAddr, build_rsdp(kXsdtAddr)},
        {kXsdtAddr, kFadtAddr, build_xsdt(xsdt_entries)},
        {kFadtAddr, kMadtAddr, build_fadt(kDsdtAddr)},
        {kMadtAddr, kDsdtAddr, build_madt(config.vcpus)},
        {kDsdtAddr, kAcpiAreaEnd, build_dsdt(config.devices)},
    }};
    for (const Placed& t : tables)
        if (t.addr + t.bytes.size() > t.limit)
            return make_error(Errc::kInvalidArgument,
                              "ACPI tables: the table at {:#x} takes {} bytes, over its slot "
                              "ending at {:#x}; describe fewer devices",
                              t.addr, t.bytes.size(), t.limit);
    for (const Placed& t : tables)
        EMBER_TRY_VOID(memory.write(t.addr, t.bytes));
    return AcpiTables{.rsdp = kRsdpAddr,
                      .xsdt = kXsdtAddr,
                      .fadt = kFadtAddr,
                      .madt = kMadtAddr,
                      .dsdt = kDsdtAddr,
                      .dsdt_size = tables[4].bytes.size()};
}

} // namespace ember::boot::acpi
