// Builds small bzImages in memory for the Linux boot tests: a valid header (protocol 2.15,
// relocatable, 64-bit, pref_address 16 MiB) and a protected-mode part of recognizable bytes.
#pragma once

#include "tests/unit/boot/elf_builder.hpp"

#include <asm/bootparam.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace ember::boot::testing {

struct BzImageBuilder {
    setup_header header{};
    size_t pm_size = 0x3000;

    BzImageBuilder() {
        header.setup_sects = 4;
        header.boot_flag = 0xaa55;
        header.jump = 0x6aeb; // jmp to 0x26c: the whole 2.15 header
        header.header = 0x5372'6448;
        header.version = 0x020f;
        header.loadflags = LOADED_HIGH;
        header.initrd_addr_max = 0x7fff'ffff;
        header.kernel_alignment = 0x20'0000;
        header.relocatable_kernel = 1;
        header.xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
        header.cmdline_size = 2047;
        header.pref_address = 0x100'0000;
        header.init_size = 0x40'0000;
        header.syssize = static_cast<uint32_t>(pm_size / 16);
    }

    [[nodiscard]] std::vector<std::byte> build() const {
        const size_t sects = header.setup_sects == 0 ? 4 : header.setup_sects;
        std::vector<std::byte> out((sects + 1) * 512);
        std::memcpy(out.data() + 0x1f1, &header, sizeof header);
        const auto pm = pattern(pm_size, 3);
        out.insert(out.end(), pm.begin(), pm.end());
        return out;
    }
};

} // namespace ember::boot::testing
