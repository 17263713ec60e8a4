#include "boot/x86_64/mptable.hpp"

#include "boot/acpi/platform.hpp"

#include <algorithm>
#include <cstring>

namespace ember::boot {
namespace {

constexpr uint32_t kIsaIrqs = 16;
constexpr uint8_t kAllLocalApics = 0xFF;

template <size_t N> std::array<char, N - 1> chars(const char (&s)[N]) {
    std::array<char, N - 1> out{};
    std::copy_n(s, N - 1, out.begin());
    return out;
}

template <class T> void append(std::vector<std::byte>& out, const T& value) {
    const auto bytes = std::as_bytes(std::span(&value, 1));
    out.insert(out.end(), bytes.begin(), bytes.end());
}

uint8_t checksum(std::span<const std::byte> bytes) {
    unsigned sum = 0;
    for (std::byte b : bytes)
        sum += std::to_integer<unsigned>(b);
    return static_cast<uint8_t>((0x100 - (sum & 0xFF)) & 0xFF);
}

// ISA IRQs 0-15, then the extra GSIs (sorted, without duplicates).
std::vector<uint32_t> routed_pins(const MpTableConfig& config) {
    std::vector<uint32_t> pins;
    for (uint32_t irq = 0; irq < kIsaIrqs; ++irq)
        pins.push_back(irq);
    std::vector<uint32_t> extra;
    for (uint32_t gsi : config.extra_gsis)
        if (gsi >= kIsaIrqs) extra.push_back(gsi);
    std::sort(extra.begin(), extra.end());
    extra.erase(std::unique(extra.begin(), extra.end()), extra.end());
    pins.insert(pins.end(), extra.begin(), extra.end());
    return pins;
}

// The configuration table entries, in the order the specification asks for: processors,
// buses, I/O APICs, I/O interrupts, local interrupts.
std::vector<std::byte> entries(const MpTableConfig& config, uint16_t& count) {
    std::vector<std::byte> out;
    const uint8_t ioapic = ioapic_id(config.vcpus);
    count = 0;
    auto add = [&](const auto& entry) {
        append(out, entry);
        ++count;
    };
    for (uint32_t i = 0; i < config.vcpus; ++i) {
        MpProcessor p;
        p.local_apic_id = static_cast<uint8_t>(i);
        p.local_apic_version = kLocalApicVersion;
        p.cpu_flags = kMpCpuEnabled | (i == 0 ? kMpCpuBootProcessor : uint8_t{0});
        p.cpu_signature = kMpCpuSignature;
        p.feature_flags = kMpCpuFeatures;
        add(p);
    }
    add(MpBus{.type = MpEntryType::kBus, .bus_id = kMpIsaBusId, .bus_type = chars("ISA   ")});
    add(MpIoApic{.type = MpEntryType::kIoApic,
                 .id = ioapic,
                 .version = kIoapicVersion,
                 .flags = 1,
                 .address = kIoapicAddr});
    for (uint32_t pin : routed_pins(config))
        add(MpInterrupt{.type = MpEntryType::kIoInterrupt,
                        .interrupt = MpInterruptType::kInt,
                        .flags = 0,
                        .source_bus_id = kMpIsaBusId,
                        .source_bus_irq = static_cast<uint8_t>(pin),
                        .dest_apic_id = ioapic,
                        .dest_pin = static_cast<uint8_t>(pin)});
    // Virtual-wire mode: the 8259 reaches the BSP's LINT0 as ExtINT; NMI on every LINT1.
    add(MpInterrupt{.type = MpEntryType::kLocalInterrupt,
                    .interrupt = MpInterruptType::kExtInt,
                    .flags = 0,
                    .source_bus_id = kMpIsaBusId,
                    .source_bus_irq = 0,
                    .dest_apic_id = 0,
                    .dest_pin = 0});
    add(MpInterrupt{.type = MpEntryType::kLocalInterrupt,
                    .interrupt = MpInterruptType::kNmi,
                    .flags = 0,
                    .source_bus_id = kMpIsaBusId,
                    .source_bus_irq = 0,
                    .dest_apic_id = kAllLocalApics,
                    .dest_pin = 1});
    return out;
}

} // namespace

std::vector<std::byte> build_mptable(const MpTableConfig& config, GuestAddr base) {
    uint16_t count = 0;
    const std::vector<std::byte> body = entries(config, count);
    const GuestAddr table = base + sizeof(MpFloatingPointer);

    MpConfigHeader h;
    h.signature = chars("PCMP");
    h.base_table_length = static_cast<uint16_t>(sizeof(MpConfigHeader) + body.size());
    h.oem_id = chars("EMBER   ");
    h.product_id = chars("EMBERVM     ");
    h.entry_count = count;
    h.local_apic_address = kLocalApicAddr;
    std::vector<std::byte> config_table;
    append(config_table, h);
    config_table.insert(config_table.end(), body.begin(), body.end());
    config_table[offsetof(MpConfigHeader, checksum)] = std::byte{checksum(config_table)};

    MpFloatingPointer fp;
    fp.signature = chars("_MP_");
    fp.config_table = static_cast<uint32_t>(table);
    std::vector<std::byte> out;
    append(out, fp);
    out[offsetof(MpFloatingPointer, checksum)] = std::byte{checksum(out)};
    out.insert(out.end(), config_table.begin(), config_table.end());
    return out;
}

Result<GuestAddr> write_mptable(const GuestMemory& memory, const MpTableConfig& config) {
    if (config.vcpus == 0 || config.vcpus > kMaxTableVcpus)
        return make_error(Errc::kInvalidArgument,
                          "MP table: {} vCPUs; it describes 1 to {} (8-bit APIC IDs)", config.vcpus,
                          kMaxTableVcpus);
    for (uint32_t gsi : config.extra_gsis)
        if (gsi >= kIoapicPins)
            return make_error(Errc::kInvalidArgument,
                              "MP table: GSI {} is not an IOAPIC pin (0 to {})", gsi,
                              kIoapicPins - 1);
    const std::vector<std::byte> bytes = build_mptable(config, kMpTableAddr);
    if (kMpTableAddr + bytes.size() > kMpTableEnd)
        return make_error(Errc::kInvalidArgument,
                          "MP table: {} vCPUs need {} bytes, over the {} bytes of the EBDA at "
                          "{:#x}; use fewer vCPUs",
                          config.vcpus, bytes.size(), kMpTableEnd - kMpTableAddr, kMpTableAddr);
    EMBER_TRY_VOID(memory.write(kMpTableAddr, bytes));
    return kMpTableAddr;
}

} // namespace ember::boot
