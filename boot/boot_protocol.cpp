#include "boot/boot_protocol.hpp"

#include "boot/elf/elf64.hpp"
#include "boot/linux/bzimage.hpp"
#include "boot/x86_64/hvm_start_info.hpp"

#include <cstring>

namespace ember::boot {

std::string_view boot_protocol_name(BootProtocol protocol) {
    switch (protocol) {
    case BootProtocol::kAuto:
        return "auto";
    case BootProtocol::kPvh:
        return "pvh";
    case BootProtocol::kLinux:
        return "linux";
    }
    return "?";
}

std::string_view kernel_format_name(KernelFormat format) {
    switch (format) {
    case KernelFormat::kPvhElf:
        return "PVH ELF";
    case KernelFormat::kVmlinux:
        return "ELF vmlinux";
    case KernelFormat::kBzImage:
        return "bzImage";
    }
    return "?";
}

Result<BootProtocol> parse_boot_protocol(std::string_view text) {
    for (auto p : {BootProtocol::kAuto, BootProtocol::kPvh, BootProtocol::kLinux})
        if (text == boot_protocol_name(p)) return p;
    return make_error(Errc::kInvalidArgument, "boot protocol '{}' is not one of auto, pvh, linux",
                      text);
}

Result<KernelFormat> detect_kernel_format(const KernelImage& kernel) {
    const auto bytes = kernel.bytes();
    if (bytes.size() >= SELFMAG && std::memcmp(bytes.data(), ELFMAG, SELFMAG) == 0) {
        auto elf = Elf64::parse(bytes, kernel.context());
        if (!elf) return tl::unexpected(std::move(elf.error()));
        return elf->find_note("Xen", kXenElfnotePhys32Entry) != nullptr ? KernelFormat::kPvhElf
                                                                        : KernelFormat::kVmlinux;
    }
    if (has_setup_header(bytes)) return KernelFormat::kBzImage;
    return make_error(Errc::kInvalidInput,
                      "{}: not a kernel ember can boot; give a PVH ELF (an ELF with a "
                      "XEN_ELFNOTE_PHYS32_ENTRY note), an x86-64 ELF vmlinux, or a bzImage "
                      "(\"HdrS\" at offset 0x202)",
                      kernel.context());
}

Result<BootProtocol> choose_boot_protocol(const KernelImage& kernel, BootProtocol requested) {
    auto format = detect_kernel_format(kernel);
    if (!format) return tl::unexpected(std::move(format.error()));
    switch (requested) {
    case BootProtocol::kAuto:
        return *format == KernelFormat::kPvhElf ? BootProtocol::kPvh : BootProtocol::kLinux;
    case BootProtocol::kLinux:
        return BootProtocol::kLinux; // every format has a Linux 64-bit entry (a PVH ELF: e_entry)
    case BootProtocol::kPvh:
        if (*format == KernelFormat::kPvhElf) return BootProtocol::kPvh;
        return make_error(Errc::kInvalidArgument,
                          "{}: the PVH boot protocol was asked for, but this {} has no PVH "
                          "entry note (XEN_ELFNOTE_PHYS32_ENTRY); boot it with the Linux "
                          "protocol (auto or linux)",
                          kernel.context(), kernel_format_name(*format));
    }
    return make_error(Errc::kInternal, "unknown boot protocol");
}

} // namespace ember::boot
