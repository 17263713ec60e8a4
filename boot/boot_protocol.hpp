// Which boot protocol starts a kernel: PVH (32-bit entry from an ELF note) or the Linux x86-64
// boot protocol (64-bit entry, struct boot_params). Detected from the image, or forced.
//
//   ELF with a XEN_ELFNOTE_PHYS32_ENTRY note  -> PVH       (boot/pvh/pvh_loader.hpp)
//   other x86-64 ELF (a vmlinux)              -> Linux     (boot/linux/linux_loader.hpp)
//   "HdrS" at 0x202 (a bzImage)               -> Linux
//
// PVH is preferred when a kernel offers both: it needs no page tables or GDT from the monitor
// and is what ember's other paths are tested with.
#pragma once

#include "boot/kernel_image.hpp"
#include "vmm/sys/result.hpp"

#include <string_view>

namespace ember::boot {

enum class BootProtocol { kAuto, kPvh, kLinux };
enum class KernelFormat { kPvhElf, kVmlinux, kBzImage };

[[nodiscard]] std::string_view boot_protocol_name(BootProtocol protocol); // "auto", "pvh", "linux"
[[nodiscard]] std::string_view kernel_format_name(KernelFormat format);

// "auto", "pvh" or "linux" (a flag or API value); kInvalidArgument otherwise, listing them.
[[nodiscard]] Result<BootProtocol> parse_boot_protocol(std::string_view text);

// What `kernel` is. An ELF is parsed (Elf64::parse errors pass through, kInvalidInput); neither
// ELF nor bzImage is kInvalidInput, naming the three accepted formats.
[[nodiscard]] Result<KernelFormat> detect_kernel_format(const KernelImage& kernel);

// The protocol to boot `kernel` with: kPvh or kLinux, never kAuto. kAuto picks PVH for a PVH
// ELF and Linux otherwise; a forced protocol the image cannot use is kInvalidArgument (a PVH
// request for a bzImage or an ELF without the note).
[[nodiscard]] Result<BootProtocol> choose_boot_protocol(const KernelImage& kernel,
                                                        BootProtocol requested);

} // namespace ember::boot
