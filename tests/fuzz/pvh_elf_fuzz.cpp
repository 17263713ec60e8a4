// libFuzzer target: an untrusted kernel image through the ELF64 parser, the PVH planner and the
// loader. Anything but a clean Result (a crash, a sanitizer report, a hang) is a bug.
#include "boot/elf/elf64.hpp"
#include "boot/pvh/pvh_loader.hpp"
#include "vmm/core/guest_memory.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // 8 MiB of guest RAM, made once: plan_pvh reads nothing from it and load_pvh only writes.
    static auto memory = ember::GuestMemory::create(ember::GuestMemory::x86_regions(8 << 20));
    if (!memory) return 0;
    const auto bytes = std::as_bytes(std::span(data, size));
    auto elf = ember::boot::Elf64::parse(bytes, "fuzz");
    if (!elf) return 0;
    ember::boot::PvhConfig config;
    config.cmdline = "console=ttyS0";
    auto plan = ember::boot::plan_pvh(*elf, *memory, config);
    if (!plan) return 0;
    (void)ember::boot::load_pvh(*plan, *memory);
    return 0;
}
