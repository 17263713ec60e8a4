// libFuzzer target: an untrusted kernel image through the Linux boot protocol: the bzImage
// setup-header parser or the vmlinux ELF path (plan_linux picks by content), the planner and the
// loader. Anything but a clean Result (a crash, a sanitizer report, a hang) is a bug.
#include "boot/kernel_image.hpp"
#include "boot/linux/linux_loader.hpp"
#include "vmm/core/guest_memory.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // 16 MiB of guest RAM, made once: plan_linux reads nothing from it, load_linux only writes.
    static auto memory = ember::GuestMemory::create(ember::GuestMemory::x86_regions(16 << 20));
    if (!memory) return 0;
    const auto kernel =
        ember::boot::KernelImage::from_bytes("fuzz", std::as_bytes(std::span(data, size)));
    ember::boot::LinuxConfig config;
    config.cmdline = "console=ttyS0";
    auto plan = ember::boot::plan_linux(kernel, *memory, config);
    if (!plan) return 0;
    (void)ember::boot::load_linux(*plan, *memory);
    return 0;
}
