#include "boot/linux/boot_params.hpp"

#include "boot/linux/bzimage.hpp"
#include "vmm/core/layout.hpp"

#include <algorithm>
#include <cstring>

namespace ember::boot {
namespace {

uint32_t low32(uint64_t v) {
    return static_cast<uint32_t>(v & 0xffff'ffff);
}
uint32_t high32(uint64_t v) {
    return static_cast<uint32_t>(v >> 32);
}

} // namespace

setup_header default_setup_header(uint32_t cmdline_max) {
    setup_header h{};
    h.boot_flag = kBootFlagMagic;
    h.header = kHdrSMagic;
    h.version = kMinBootProtocol;
    h.loadflags = LOADED_HIGH;
    h.xloadflags = XLF_KERNEL_64;
    h.initrd_addr_max = kDefaultInitrdAddrMax;
    h.kernel_alignment = kDefaultKernelAlignment;
    h.cmdline_size = cmdline_max;
    return h;
}

Result<std::vector<boot_e820_entry>> build_e820(const GuestMemory& memory) {
    std::vector<boot_e820_entry> map;
    auto add = [&map](uint64_t lo, uint64_t hi, uint32_t type) {
        if (lo < hi) map.push_back({lo, hi - lo, type});
    };
    add(kE820LowRamEnd, layout::kHighMemoryStart, kE820Reserved);
    for (const auto& m : memory.mappings()) {
        add(m.region.start, std::min(m.region.end(), kE820LowRamEnd), kE820Ram);
        add(std::max(m.region.start, layout::kHighMemoryStart), m.region.end(), kE820Ram);
    }
    std::sort(map.begin(), map.end(), [](const auto& a, const auto& b) { return a.addr < b.addr; });
    if (map.size() > E820_MAX_ENTRIES_ZEROPAGE)
        return make_error(Errc::kInternal, "the E820 map needs {} entries, the zero page has {}",
                          map.size(), E820_MAX_ENTRIES_ZEROPAGE);
    return map;
}

boot_params make_zero_page(const setup_header& header, const ZeroPageConfig& config) {
    boot_params bp{};
    bp.hdr = header;
    bp.hdr.type_of_loader = kTypeOfLoaderUndefined;
    bp.hdr.vid_mode = kVidModeNormal;
    bp.hdr.cmd_line_ptr = low32(config.cmdline_addr);
    bp.ext_cmd_line_ptr = high32(config.cmdline_addr);
    bp.hdr.ramdisk_image = low32(config.initrd_addr);
    bp.ext_ramdisk_image = high32(config.initrd_addr);
    bp.hdr.ramdisk_size = low32(config.initrd_size);
    bp.ext_ramdisk_size = high32(config.initrd_size);
    // Fields a loader must not pass on: no setup_data chain, PC sub-architecture.
    bp.hdr.setup_data = 0;
    bp.hdr.hardware_subarch = 0;
    bp.hdr.hardware_subarch_data = 0;
    bp.acpi_rsdp_addr = config.rsdp_addr;
    const size_t n = std::min<size_t>(config.e820.size(), E820_MAX_ENTRIES_ZEROPAGE);
    bp.e820_entries = static_cast<uint8_t>(n);
    std::copy_n(config.e820.begin(), n, std::begin(bp.e820_table));
    return bp;
}

} // namespace ember::boot
