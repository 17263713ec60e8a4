#include "api/model/boot_source.hpp"

#include "api/model/codec.hpp"
#include "vmm/core/layout.hpp"

#include <array>

namespace ember::api::model {
namespace {

constexpr std::array<EnumName<boot::BootProtocol>, 3> kProtocols{{
    {"Auto", boot::BootProtocol::kAuto},
    {"Pvh", boot::BootProtocol::kPvh},
    {"Linux", boot::BootProtocol::kLinux},
}};

// The command line must fit in its page of guest memory with the devices ember appends.
constexpr StringRule kBootArgsRule{.max_bytes = layout::kCmdlineMax / 2, .allow_empty = true};

} // namespace

Result<BootSource> decode_boot_source(const Json& value, const std::string& where) {
    ObjectReader r(value, where,
                   {"kernel_image_path", "boot_args", "initrd_path", "boot_protocol"});
    BootSource source;
    source.kernel_image_path = r.required_string("kernel_image_path");
    source.boot_args = r.optional_string("boot_args", kBootArgsRule);
    source.initrd_path = r.optional_string("initrd_path");
    source.boot_protocol = r.optional_enum("boot_protocol", kProtocols);
    EMBER_TRY_VOID(r.finish());
    return source;
}

Json encode(const BootSource& source) {
    Json j{{"kernel_image_path", source.kernel_image_path}};
    if (source.boot_args) j["boot_args"] = *source.boot_args;
    if (source.initrd_path) j["initrd_path"] = *source.initrd_path;
    if (source.boot_protocol) j["boot_protocol"] = enum_name(kProtocols, *source.boot_protocol);
    return j;
}

Result<BootSource> parse_boot_source(std::string_view body) {
    return decode_body(body, "boot-source", decode_boot_source);
}

std::string to_json(const BootSource& source) {
    return dump(encode(source));
}

} // namespace ember::api::model
