#include "boot/acpi/aml.hpp"

#include "boot/acpi/layouts.hpp"
#include "boot/acpi/platform.hpp"
#include "boot/acpi/tables.hpp"
#include "tests/unit/boot/test_memory.hpp"
#include "vmm/core/layout.hpp"

#include "tests/unit/boot/table_bytes.hpp"
#include <gmock/gmock.h>

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

namespace ember::boot::acpi {
namespace {

using Bytes = std::vector<std::byte>;
using ::testing::HasSubstr;

Bytes bytes(std::initializer_list<int> values) {
    Bytes out;
    for (int v : values)
        out.push_back(static_cast<std::byte>(v));
    return out;
}
void add(Bytes& out, const Bytes& more) {
    out.insert(out.end(), more.begin(), more.end());
}
Bytes le32(uint32_t v) {
    return bytes({int(v & 0xFF), int((v >> 8) & 0xFF), int((v >> 16) & 0xFF), int(v >> 24)});
}

using testing::byte_sum;
using testing::read_at;
using testing::str;

// Every field of the common header, and the checksum.
void expect_header(const Bytes& t, const char* signature, uint8_t revision) {
    ASSERT_GE(t.size(), sizeof(TableHeader));
    EXPECT_EQ(str(t, 0, 4), signature);
    EXPECT_EQ(read_at<uint32_t>(t, 4), t.size());
    EXPECT_EQ(read_at<uint8_t>(t, 8), revision);
    EXPECT_EQ(byte_sum(t), 0U) << signature << " checksum";
    EXPECT_EQ(str(t, 10, 6), "EMBER ");
    EXPECT_EQ(str(t, 16, 8), "EMBERVM ");
    EXPECT_EQ(read_at<uint32_t>(t, 24), 1U);
    EXPECT_EQ(str(t, 28, 4), "EMBR");
    EXPECT_EQ(read_at<uint32_t>(t, 32), 1U);
}

// ---- AML writer ----

TEST(AmlTest, IntegersUseTheShortestEncoding) {
    EXPECT_EQ(aml::integer(0), bytes({0x00}));
    EXPECT_EQ(aml::integer(1), bytes({0x01}));
    EXPECT_EQ(aml::integer(5), bytes({0x0A, 0x05}));
    EXPECT_EQ(aml::integer(0xFF), bytes({0x0A, 0xFF}));
    EXPECT_EQ(aml::integer(0x100), bytes({0x0B, 0x00, 0x01}));
    EXPECT_EQ(aml::integer(0x12345678), bytes({0x0C, 0x78, 0x56, 0x34, 0x12}));
    EXPECT_EQ(aml::integer(0x1'0000'0000),
              bytes({0x0E, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00}));
    EXPECT_EQ(aml::integer(UINT64_MAX), bytes({0xFF}));
}

TEST(AmlTest, PkgLengthCountsItselfAndGrowsAtTheLimits) {
    EXPECT_EQ(aml::pkg_length(0), bytes({0x01}));
    EXPECT_EQ(aml::pkg_length(62), bytes({0x3F}));
    // 63 bytes of content: 65 in all with two length bytes = 0x41.
    EXPECT_EQ(aml::pkg_length(63), bytes({0x41, 0x04}));
    EXPECT_EQ(aml::pkg_length(0xFFD), bytes({0x4F, 0xFF}));       // 0xFFF in two bytes
    EXPECT_EQ(aml::pkg_length(0xFFE), bytes({0x81, 0x00, 0x01})); // 0x1001 in three
    EXPECT_EQ(aml::pkg_length(0xFFFFC), bytes({0x8F, 0xFF, 0xFF}));
    EXPECT_EQ(aml::pkg_length(0xFFFFD), bytes({0xC1, 0x00, 0x00, 0x01}));
}

TEST(AmlTest, NameStrings) {
    EXPECT_EQ(aml::name_string("_HID"), bytes({'_', 'H', 'I', 'D'}));
    EXPECT_EQ(aml::name_string("\\_SB_"), bytes({0x5C, '_', 'S', 'B', '_'}));
    EXPECT_EQ(aml::name_string("\\_SB"), bytes({0x5C, '_', 'S', 'B', '_'}));
    EXPECT_EQ(aml::name_string("_SB_.V000"), bytes({0x2E, '_', 'S', 'B', '_', 'V', '0', '0', '0'}));
    EXPECT_EQ(aml::name_string("\\A.B.C"),
              bytes({0x5C, 0x2F, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_'}));
    for (const char* ok : {"_HID", "_UID", "_CRS", "_S5_", "_SB_", "V000", "VFFF", "A"})
        EXPECT_TRUE(aml::valid_name_seg(ok)) << ok;
    for (const char* bad : {"", "0ABC", "abcd", "TOOLONG", "A-B"})
        EXPECT_FALSE(aml::valid_name_seg(bad)) << bad;
}

TEST(AmlTest, StringsPackagesAndResources) {
    EXPECT_EQ(aml::string("AB"), bytes({0x0D, 'A', 'B', 0x00}));
    const std::vector<Bytes> elems{aml::integer(5), aml::integer(0)};
    EXPECT_EQ(aml::package(elems), bytes({0x12, 0x05, 0x02, 0x0A, 0x05, 0x00}));
    EXPECT_EQ(aml::memory32_fixed(0xD000'0000, 0x1000, true),
              bytes({0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xD0, 0x00, 0x10, 0x00, 0x00}));
    EXPECT_EQ(aml::extended_interrupt(5, aml::Trigger::kEdge, aml::Polarity::kActiveHigh),
              bytes({0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00}));
    EXPECT_EQ(aml::extended_interrupt(9, aml::Trigger::kLevel, aml::Polarity::kActiveLow),
              bytes({0x89, 0x06, 0x00, 0x05, 0x01, 0x09, 0x00, 0x00, 0x00}));
    EXPECT_EQ(aml::resource_template({}), bytes({0x11, 0x05, 0x0A, 0x02, 0x79, 0x00}));
    EXPECT_EQ(aml::io_port(0x3F8, 8), bytes({0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08}));
    EXPECT_EQ(aml::irq_no_flags(4), bytes({0x22, 0x10, 0x00}));
    EXPECT_EQ(aml::irq_no_flags(12), bytes({0x22, 0x00, 0x10}));
}

TEST(AmlTest, EisaIdsAsIaslCompilesThem) {
    EXPECT_EQ(aml::eisa_id("PNP0501"), 0x0105D041U);
    EXPECT_EQ(aml::eisa_id("PNP0303"), 0x0303D041U);
    EXPECT_EQ(aml::eisa_id("PNP0C09"), 0x090CD041U);
    EXPECT_EQ(aml::eisa_id("PNP0a03"), 0x030AD041U);
}

// ---- checksum ----

TEST(AcpiChecksumTest, MakesTheSumZero) {
    Bytes b = bytes({1, 2, 3, 0});
    b[3] = std::byte{checksum(b)};
    EXPECT_EQ(byte_sum(b), 0U);
    EXPECT_EQ(checksum(bytes({0, 0})), 0);
    EXPECT_EQ(checksum(bytes({0xFF})), 1);
}

// ---- RSDP, XSDT, FADT, MADT ----

TEST(AcpiTablesTest, Rsdp) {
    const Bytes r = build_rsdp(0xE0040);
    ASSERT_EQ(r.size(), 36U);
    EXPECT_EQ(str(r, 0, 8), "RSD PTR ");
    EXPECT_EQ(byte_sum(std::span(r).first(20)), 0U) << "ACPI 1.0 checksum";
    EXPECT_EQ(byte_sum(r), 0U) << "extended checksum";
    EXPECT_EQ(str(r, 9, 6), "EMBER ");
    EXPECT_EQ(read_at<uint8_t>(r, 15), 2);
    EXPECT_EQ(read_at<uint32_t>(r, 16), 0U); // no RSDT
    EXPECT_EQ(read_at<uint32_t>(r, 20), 36U);
    EXPECT_EQ(read_at<uint64_t>(r, 24), 0xE0040U);
    EXPECT_EQ(str(r, 33, 3), std::string(3, '\0'));
}

TEST(AcpiTablesTest, Xsdt) {
    const std::vector<GuestAddr> entries{0xE0080, 0x1'2345'6789};
    const Bytes x = build_xsdt(entries);
    expect_header(x, "XSDT", 1);
    ASSERT_EQ(x.size(), 36U + 16U);
    EXPECT_EQ(read_at<uint64_t>(x, 36), 0xE0080U);
    EXPECT_EQ(read_at<uint64_t>(x, 44), 0x1'2345'6789U);
}

TEST(AcpiTablesTest, FadtIsHardwareReducedWithThePmPort) {
    const Bytes f = build_fadt(0xE1000);
    expect_header(f, "FACP", 6);
    ASSERT_EQ(f.size(), 276U);
    EXPECT_EQ(read_at<uint32_t>(f, 36), 0U); // FIRMWARE_CTRL: no FACS
    EXPECT_EQ(read_at<uint32_t>(f, 40), 0xE1000U);
    EXPECT_EQ(read_at<uint16_t>(f, 46), 0U); // SCI_INT
    EXPECT_EQ(read_at<uint32_t>(f, 48), 0U); // SMI_CMD
    for (size_t off = 56; off < 95; ++off)
        EXPECT_EQ(read_at<uint8_t>(f, off), 0) << off;
    EXPECT_EQ(read_at<uint16_t>(f, 109), 0x26); // 8042, no VGA, no CMOS RTC
    const auto flags = read_at<uint32_t>(f, 112);
    EXPECT_EQ(flags, (1U << 20) | (1U << 10) | (1U << 5) | (1U << 4));
    // RESET_REG, SLEEP_CONTROL_REG, SLEEP_STATUS_REG: System I/O, 8 bits, byte access, 0x600.
    for (size_t off : {116U, 244U, 256U}) {
        EXPECT_EQ(read_at<uint8_t>(f, off), 1) << off;
        EXPECT_EQ(read_at<uint8_t>(f, off + 1), 8) << off;
        EXPECT_EQ(read_at<uint8_t>(f, off + 2), 0) << off;
        EXPECT_EQ(read_at<uint8_t>(f, off + 3), 1) << off;
        EXPECT_EQ(read_at<uint64_t>(f, off + 4), 0x600U) << off;
    }
    EXPECT_EQ(read_at<uint8_t>(f, 128), 0x01); // RESET_VALUE
    EXPECT_EQ(read_at<uint16_t>(f, 129), 0U);  // ARM_BOOT_ARCH
    EXPECT_EQ(read_at<uint8_t>(f, 131), 5);    // ACPI 6.5
    EXPECT_EQ(read_at<uint64_t>(f, 132), 0U);
    EXPECT_EQ(read_at<uint64_t>(f, 140), 0xE1000U);
    for (size_t off = 148; off < 244; ++off)
        EXPECT_EQ(read_at<uint8_t>(f, off), 0) << off;
    EXPECT_EQ(read_at<uint64_t>(f, 268), 0U);
    EXPECT_EQ(kS5PowerOffValue, 0x34);
}

void expect_madt(uint32_t vcpus) {
    SCOPED_TRACE(vcpus);
    const Bytes m = build_madt(vcpus);
    expect_header(m, "APIC", 6);
    ASSERT_EQ(m.size(), 44U + 8U * vcpus + 12U);
    EXPECT_EQ(read_at<uint32_t>(m, 36), 0xFEE0'0000U);
    EXPECT_EQ(read_at<uint32_t>(m, 40), 0U);
    for (uint32_t i = 0; i < vcpus; ++i) {
        const size_t off = 44 + 8 * i;
        EXPECT_EQ(read_at<uint8_t>(m, off), 0);     // Processor Local APIC
        EXPECT_EQ(read_at<uint8_t>(m, off + 1), 8); // length
        EXPECT_EQ(read_at<uint8_t>(m, off + 2), i); // ACPI processor UID
        EXPECT_EQ(read_at<uint8_t>(m, off + 3), i); // APIC ID
        EXPECT_EQ(read_at<uint32_t>(m, off + 4), 1U);
    }
    const size_t io = 44 + 8 * vcpus;
    EXPECT_EQ(read_at<uint8_t>(m, io), 1);
    EXPECT_EQ(read_at<uint8_t>(m, io + 1), 12);
    EXPECT_EQ(read_at<uint8_t>(m, io + 2), vcpus); // IOAPIC ID after the CPUs
    EXPECT_EQ(read_at<uint8_t>(m, io + 3), 0);
    EXPECT_EQ(read_at<uint32_t>(m, io + 4), 0xFEC0'0000U);
    EXPECT_EQ(read_at<uint32_t>(m, io + 8), 0U);
}

TEST(AcpiTablesTest, MadtHasOneLocalApicPerVcpuAndTheIoapic) {
    expect_madt(1);
    expect_madt(32);
    expect_madt(254);
}

// ---- DSDT ----

const Bytes kS5 = bytes({0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0A, 0x05, 0x00, 0x00, 0x00});

// One device, assembled by hand: Device (Vxxx) { Name (_HID, "LNRO0005") Name (_UID, uid)
// Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, base, size)
// Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi} }) }
Bytes hand_device(const char (&name)[5], const Bytes& uid, uint32_t base, uint32_t size,
                  uint32_t gsi) {
    Bytes body = bytes({name[0], name[1], name[2], name[3]});
    add(body, bytes({0x08, '_', 'H', 'I', 'D', 0x0D, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0}));
    add(body, bytes({0x08, '_', 'U', 'I', 'D'}));
    add(body, uid);
    add(body, bytes({0x08, '_', 'C', 'R', 'S', 0x11, 0x1A, 0x0A, 0x17, 0x86, 0x09, 0x00, 0x01}));
    add(body, le32(base));
    add(body, le32(size));
    add(body, bytes({0x89, 0x06, 0x00, 0x03, 0x01}));
    add(body, le32(gsi));
    add(body, bytes({0x79, 0x00}));
    Bytes out = bytes({0x5B, 0x82, static_cast<int>(body.size() + 1)}); // < 63: one byte
    add(out, body);
    return out;
}

// The legacy devices every DSDT names first: COM1 (PNP0501, ports 0x3F8-0x3FF, IRQ 4) and the
// i8042 keyboard (PNP0303, ports 0x60 and 0x64, IRQ 1), written out by hand.
Bytes hand_legacy() {
    auto device = [](const char(&name)[5], const Bytes& body) {
        Bytes out = bytes({0x5B, 0x82, static_cast<int>(4 + body.size() + 1)}); // < 63
        add(out, bytes({name[0], name[1], name[2], name[3]}));
        add(out, body);
        return out;
    };
    auto crs = [](const Bytes& descriptors) {
        Bytes out = bytes({0x08, '_', 'C', 'R', 'S', 0x11,
                           static_cast<int>(descriptors.size() + 2 + 3), // PkgLength
                           0x0A, static_cast<int>(descriptors.size() + 2)});
        add(out, descriptors);
        add(out, bytes({0x79, 0x00}));
        return out;
    };
    Bytes com1 = bytes({0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x05, 0x01}); // PNP0501
    add(com1, bytes({0x08, '_', 'U', 'I', 'D', 0x01}));
    add(com1, crs(bytes({0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00})));
    Bytes kbd = bytes({0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x03, 0x03}); // PNP0303
    add(kbd, crs(bytes({0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01,          //
                        0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01,          //
                        0x22, 0x02, 0x00})));
    Bytes out = device("COM1", com1);
    add(out, device("PS2K", kbd));
    return out;
}

// Scope (\_SB_) { content } with a two-byte PkgLength (the content is always 63 bytes or more).
Bytes hand_sb_scope(const Bytes& content) {
    const size_t total = 2 + 5 + content.size();
    Bytes out = bytes({0x10, static_cast<int>(0x40 | (total & 0xF)), static_cast<int>(total >> 4),
                       0x5C, '_', 'S', 'B', '_'});
    add(out, content);
    return out;
}

TEST(AcpiDsdtTest, NoVirtioDevicesStillNamesTheLegacyDevices) {
    const Bytes d = build_dsdt({});
    expect_header(d, "DSDT", 2);
    ASSERT_EQ(hand_legacy().size(), 92U);
    Bytes expected = hand_sb_scope(hand_legacy());
    add(expected, kS5);
    EXPECT_EQ(Bytes(d.begin() + 36, d.end()), expected);
}

TEST(AcpiDsdtTest, OneDeviceByteExact) {
    const std::vector<VirtioMmioDevice> devs{{.base = 0xD000'0000, .size = 0x1000, .gsi = 5}};
    const Bytes d = build_dsdt(devs);
    expect_header(d, "DSDT", 2);
    const Bytes dev = hand_device("V000", bytes({0x00}), 0xD000'0000, 0x1000, 5);
    ASSERT_EQ(dev.size(), 60U);
    Bytes content = hand_legacy();
    add(content, dev);
    Bytes expected = hand_sb_scope(content);
    add(expected, kS5);
    EXPECT_EQ(Bytes(d.begin() + 36, d.end()), expected);
    EXPECT_EQ(d.size(), 36U + 8U + 92U + 60U + 13U);
}

TEST(AcpiDsdtTest, ThreeDevicesByteExact) {
    const std::vector<VirtioMmioDevice> devs{
        {.base = 0xD000'0000, .size = 0x1000, .gsi = 5},
        {.base = 0xD000'1000, .size = 0x1000, .gsi = 6},
        {.base = 0xD000'2000, .size = 0x200, .gsi = 23},
    };
    const Bytes d = build_dsdt(devs);
    expect_header(d, "DSDT", 2);
    Bytes content = hand_legacy();
    add(content, hand_device("V000", bytes({0x00}), 0xD000'0000, 0x1000, 5));
    add(content, hand_device("V001", bytes({0x01}), 0xD000'1000, 0x1000, 6));
    add(content, hand_device("V002", bytes({0x0A, 0x02}), 0xD000'2000, 0x200, 23));
    Bytes expected = hand_sb_scope(content);
    add(expected, kS5);
    EXPECT_EQ(Bytes(d.begin() + 36, d.end()), expected);
}

// ---- write_acpi_tables ----

Bytes read(const GuestMemory& memory, GuestAddr addr, size_t len) {
    Bytes out(len);
    EXPECT_TRUE(memory.read(addr, out));
    return out;
}

TEST(WriteAcpiTablesTest, WritesEveryTableWhereTheRsdpSaysAndTheChainIsConsistent) {
    const GuestMemory memory = make_memory(64 * layout::kMiB);
    AcpiConfig config{.vcpus = 4, .devices = {{0xD000'0000, 0x1000, 5}, {0xD000'1000, 0x1000, 6}}};
    auto t = write_acpi_tables(memory, config);
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(t->rsdp, 0xE0000U);
    const Bytes rsdp = read(memory, t->rsdp, 36);
    EXPECT_EQ(rsdp, build_rsdp(t->xsdt));
    EXPECT_EQ(read_at<uint64_t>(rsdp, 24), t->xsdt);
    const Bytes xsdt = read(memory, t->xsdt, 52);
    expect_header(xsdt, "XSDT", 1);
    EXPECT_EQ(read_at<uint64_t>(xsdt, 36), t->fadt);
    EXPECT_EQ(read_at<uint64_t>(xsdt, 44), t->madt);
    const Bytes fadt = read(memory, t->fadt, 276);
    EXPECT_EQ(fadt, build_fadt(t->dsdt));
    EXPECT_EQ(read(memory, t->madt, 44 + 32 + 12), build_madt(4));
    EXPECT_EQ(read(memory, t->dsdt, t->dsdt_size), build_dsdt(config.devices));
    // Ordered, 16-byte aligned, no overlaps, inside the BIOS area.
    const std::vector<std::pair<GuestAddr, size_t>> spans{
        {t->rsdp, 36}, {t->xsdt, 52}, {t->fadt, 276}, {t->madt, 88}, {t->dsdt, t->dsdt_size}};
    for (size_t i = 0; i < spans.size(); ++i) {
        EXPECT_EQ(spans[i].first % 16, 0U);
        if (i > 0) {
            EXPECT_GE(spans[i].first, spans[i - 1].first + spans[i - 1].second);
        }
    }
    EXPECT_LE(t->dsdt + t->dsdt_size, kAcpiAreaEnd);
}

TEST(WriteAcpiTablesTest, RefusesBadConfigsWithoutWriting) {
    const GuestMemory memory = make_memory(64 * layout::kMiB);
    const std::vector<std::pair<AcpiConfig, const char*>> bad{
        {{.vcpus = 0, .devices = {}}, "0 vCPUs"},
        {{.vcpus = 255, .devices = {}}, "255 vCPUs"},
        {{.vcpus = 1, .devices = {{0xD000'0000, 0x1000, 24}}}, "GSI 24"},
        {{.vcpus = 1, .devices = {{0xD000'0000, 0, 5}}}, "device 0 window"},
        {{.vcpus = 1, .devices = {{0xFFFF'F000, 0x2000, 5}}}, "below 4 GiB"},
        {{.vcpus = 1, .devices = {{0x1'0000'0000, 0x1000, 5}}}, "below 4 GiB"},
    };
    for (const auto& [config, what] : bad) {
        auto t = write_acpi_tables(memory, config);
        ASSERT_FALSE(t) << what;
        EXPECT_EQ(t.error().code(), Errc::kInvalidArgument);
        EXPECT_THAT(t.error().message(), HasSubstr(what));
    }
    EXPECT_EQ(read(memory, kAcpiAreaStart, 16), Bytes(16));
}

TEST(WriteAcpiTablesTest, ManyDevicesFitAndTooManyAreRefused) {
    const GuestMemory memory = make_memory(64 * layout::kMiB);
    AcpiConfig config{.vcpus = 254, .devices = {}};
    for (uint32_t i = 0; i < 1000; ++i)
        config.devices.push_back({0xD000'0000 + i * 0x1000, 0x1000, 5 + i % 19});
    auto t = write_acpi_tables(memory, config);
    ASSERT_TRUE(t) << t.error().message();
    EXPECT_EQ(byte_sum(read(memory, t->dsdt, t->dsdt_size)), 0U);
    EXPECT_EQ(byte_sum(read(memory, t->madt, 44 + 8 * 254 + 12)), 0U);
    config.devices.resize(0x1001, config.devices[0]);
    EXPECT_FALSE(write_acpi_tables(memory, config));
}

TEST(WriteAcpiTablesTest, NeedsTheBiosArea) {
    const GuestMemory memory = make_memory(512 * 1024); // ends below 0xE0000
    auto t = write_acpi_tables(memory, AcpiConfig{});
    ASSERT_FALSE(t);
    EXPECT_THAT(t.error().message(), HasSubstr("does not cover"));
}

// ---- the real disassembler ----

// Runs `iasl -d` on `table` written to a temporary directory; returns the exit status, and the
// tool's output plus the disassembly in `text`.
int disassemble(const Bytes& table, const std::string& stem, std::string& text) {
    char dir_template[] = "/tmp/ember-acpi-XXXXXX";
    const char* dir = ::mkdtemp(dir_template);
    if (dir == nullptr) return -1;
    const std::string file = std::string(dir) + "/" + stem + ".dat";
    {
        std::ofstream out(file, std::ios::binary);
        out.write(reinterpret_cast<const char*>(table.data()), // Safety: bytes as chars
                  static_cast<std::streamsize>(table.size()));
    }
    const std::string cmd = "cd " + std::string(dir) + " && iasl -d " + stem + ".dat 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (pipe == nullptr) return -1;
    std::array<char, 4096> buf{};
    while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe))
        text.append(buf.data(), n);
    const int status = ::pclose(pipe);
    std::ifstream dsl(std::string(dir) + "/" + stem + ".dsl");
    std::stringstream ss;
    ss << dsl.rdbuf();
    text += "\n----\n" + ss.str();
    for (const char* ext : {".dat", ".dsl"})
        std::remove((std::string(dir) + "/" + stem + ext).c_str());
    ::rmdir(dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool have_iasl() {
    return std::system("command -v iasl >/dev/null 2>&1") == 0;
}

TEST(AcpiIaslTest, EveryTableDisassemblesCleanly) {
    if (!have_iasl()) GTEST_SKIP() << "iasl not installed (apt-get install acpica-tools)";
    const std::vector<VirtioMmioDevice> devs{
        {0xD000'0000, 0x1000, 5}, {0xD000'1000, 0x1000, 6}, {0xD000'2000, 0x1000, 7}};
    const std::vector<GuestAddr> xsdt_entries{kFadtAddr, kMadtAddr};
    // The RSDP is not here: iasl 20200925 (Debian 12) refuses a standalone "RSD PTR " binary
    // ("does not contain a valid ACPI table"), whatever its contents; RsdpTest checks it.
    const std::vector<std::pair<std::string, Bytes>> tables{
        {"xsdt", build_xsdt(xsdt_entries)}, {"facp", build_fadt(kDsdtAddr)},
        {"apic1", build_madt(1)},           {"apic32", build_madt(32)},
        {"dsdt0", build_dsdt({})},          {"dsdt3", build_dsdt(devs)},
    };
    for (const auto& [stem, table] : tables) {
        std::string text;
        EXPECT_EQ(disassemble(table, stem, text), 0) << stem << ":\n" << text;
        EXPECT_THAT(text, HasSubstr("----\n/*")) << stem << ": no disassembly\n" << text;
        for (const char* bad : {"Error", "Invalid", "ncorrect", "Warning", "****"})
            EXPECT_THAT(text, ::testing::Not(HasSubstr(bad))) << stem << ":\n" << text;
        if (stem.starts_with("dsdt")) {
            EXPECT_THAT(text, HasSubstr("_S5_")) << text;
            EXPECT_THAT(text, HasSubstr("EisaId (\"PNP0501\")")) << text;
            EXPECT_THAT(text, HasSubstr("EisaId (\"PNP0303\")")) << text;
            EXPECT_THAT(text, HasSubstr("IO (Decode16,\n")) << text;
            EXPECT_THAT(text, HasSubstr("0x03F8,             // Range Minimum")) << text;
            EXPECT_THAT(text, HasSubstr("IRQNoFlags ()\n")) << text;
            EXPECT_THAT(text, HasSubstr("{4}")) << text;
            EXPECT_THAT(text, HasSubstr("{1}")) << text;
        }
        if (stem == "dsdt3") {
            EXPECT_THAT(text, HasSubstr("\"LNRO0005\"")) << text;
            EXPECT_THAT(text, HasSubstr("Device (V002)")) << text;
            EXPECT_THAT(text, HasSubstr("Memory32Fixed (ReadWrite,")) << text;
            EXPECT_THAT(text,
                        HasSubstr("Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )"))
                << text;
        }
        if (stem == "facp") {
            EXPECT_THAT(text, HasSubstr("Hardware Reduced (V5) : 1")) << text;
        }
    }
}

} // namespace
} // namespace ember::boot::acpi
