// PUT /boot-source and the config file's "boot-source": the kernel, its command line and the
// initrd. Firecracker's shape plus one ember field:
//
//   {"kernel_image_path": "vmlinux", "boot_args": "console=ttyS0 reboot=k panic=1",
//    "initrd_path": "initrd.img", "boot_protocol": "Auto"}
//
// boot_protocol (ember): "Auto" (default: a PVH note means PVH, another ELF the Linux boot
// protocol, anything else a bzImage), "Pvh" or "Linux"; the CLI's --boot-protocol.
#pragma once

#include "boot/boot_protocol.hpp"
#include "vmm/sys/result.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ember::api::model {

struct BootSource {
    std::string kernel_image_path;
    std::optional<std::string> boot_args; // absent: ember's default command line
    std::optional<std::string> initrd_path;
    std::optional<boot::BootProtocol> boot_protocol; // ember; absent: auto

    bool operator==(const BootSource&) const = default;
};

Result<BootSource> parse_boot_source(std::string_view body);
[[nodiscard]] std::string to_json(const BootSource& source);

} // namespace ember::api::model
