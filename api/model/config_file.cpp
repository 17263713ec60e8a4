#include "api/model/config_file.hpp"

#include "api/model/codec.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <set>

namespace ember::api::model {
namespace {

constexpr std::array<std::string_view, 14> kKeys{
    "boot-source", "machine-config", "drives",     "network-interfaces",
    "vsock",       "entropy",        "logger",     "metrics",
    "serial",      "balloon",        "cpu-config", "mmds-config",
    "pmem",        "memory-hotplug"};
constexpr std::array<std::string_view, 5> kUnsupported{"balloon", "cpu-config", "mmds-config",
                                                       "pmem", "memory-hotplug"};

// The object under `key`, decoded and handed to `apply`; absent or null does nothing.
template <class T, class Apply>
void apply_object(ObjectReader& doc, std::string_view key,
                  Result<T> (*decode)(const Json&, const std::string&), Apply apply) {
    const Json* value = doc.optional_object(key);
    if (value == nullptr || !doc.ok()) return;
    auto model = doc.take(decode(*value, std::string(key)));
    if (model) doc.take(apply(*model));
}

// Each element of the array under `key`; `id` gives an element's id, which must be unique.
template <class T, class Id, class Apply>
void apply_array(ObjectReader& doc, std::string_view key,
                 Result<T> (*decode)(const Json&, const std::string&), Id id, Apply apply) {
    const Json* array = doc.optional_array(key);
    if (array == nullptr) return;
    std::set<std::string, std::less<>> seen;
    for (size_t i = 0; i < array->size() && doc.ok(); ++i) {
        const std::string where = fmt::format("{}[{}]", key, i);
        auto model = doc.take(decode((*array)[i], where));
        if (!model) return;
        if (!seen.insert(id(*model)).second) {
            doc.take(make_error(Errc::kInvalidArgument,
                                "{}: id '{}' appears twice in {}; give each its own", where,
                                id(*model), key));
            return;
        }
        doc.take(apply(*model));
    }
}

void refuse_unsupported(ObjectReader& doc, const Json& value) {
    for (const auto key : kUnsupported) {
        const auto it = value.find(key);
        if (it == value.end() || it->is_null() || (key == "pmem" && it->is_array() && it->empty()))
            continue;
        doc.take(make_error(Errc::kInvalidArgument,
                            "{} is not supported by ember; leave it out (or null)", key));
    }
}

Result<void> apply_document(const Json& value, VmConfigBuilder& b) {
    ObjectReader doc(value, "config file", kKeys);
    // The message for an unknown key reads "unknown field"; the prefix says where.
    refuse_unsupported(doc, value);
    apply_object(doc, "boot-source", decode_boot_source,
                 [&](const BootSource& s) { return b.set_boot_source(s); });
    apply_object(doc, "machine-config", decode_machine_config,
                 [&](const MachineConfig& m) { return b.set_machine_config(m); });
    apply_array(
        doc, "drives", decode_drive, [](const Drive& d) { return d.drive_id; },
        [&](const Drive& d) { return b.put_drive(d.drive_id, d); });
    apply_array(
        doc, "network-interfaces", decode_network_interface,
        [](const NetworkInterface& n) { return n.iface_id; },
        [&](const NetworkInterface& n) { return b.put_network_interface(n.iface_id, n); });
    apply_object(doc, "vsock", decode_vsock, [&](const Vsock& v) { return b.set_vsock(v); });
    apply_object(doc, "entropy", decode_entropy,
                 [&](const Entropy& e) { return b.set_entropy(e); });
    apply_object(doc, "logger", decode_logger, [&](const Logger& l) { return b.set_logger(l); });
    apply_object(doc, "metrics", decode_metrics, [&](const Metrics& m) -> Result<void> {
        b.set_metrics(m);
        return {};
    });
    apply_object(doc, "serial", decode_serial, [&](const Serial& s) -> Result<void> {
        b.set_serial(s);
        return {};
    });
    return doc.finish();
}

Result<std::string> read_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return sys_error(Errc::kNotFound, "cannot open");
    std::string text;
    std::array<char, 16384> chunk{};
    for (;;) {
        const ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error(Errc::kNotFound, "cannot read");
        if (n == 0) return text;
        text.append(chunk.data(), static_cast<size_t>(n));
        if (text.size() > kMaxConfigFileBytes)
            return make_error(Errc::kInvalidInput, "larger than {} bytes; is it the right file?",
                              kMaxConfigFileBytes);
    }
}

} // namespace

Result<void> apply_config_document(std::string_view document, VmConfigBuilder& builder) {
    try {
        auto doc = parse_document(document, "config file");
        if (!doc) return tl::unexpected(std::move(doc.error()));
        return apply_document(*doc, builder);
    } catch (const Json::exception& e) {
        return make_error(Errc::kInvalidArgument, "config file: {}", e.what());
    }
}

Result<VmConfigBuilder> parse_config_document(std::string_view document, VmConfig base) {
    VmConfigBuilder builder(std::move(base));
    EMBER_TRY_VOID(apply_config_document(document, builder));
    return builder;
}

Result<VmConfigBuilder> load_config_file(const std::string& path, VmConfig base) {
    const std::string context = fmt::format("config file '{}'", path);
    auto text = read_file(path);
    if (!text) return tl::unexpected(std::move(text.error()).with_context(context));
    auto builder = parse_config_document(*text, std::move(base));
    if (!builder) {
        // Messages start with the key ("drives[0]: ..."), or "config file: " for the document.
        std::string_view message = builder.error().message();
        if (message.starts_with("config file: ")) message.remove_prefix(13);
        return tl::unexpected(Error(Errc::kInvalidInput, fmt::format("{}: {}", context, message)));
    }
    return builder;
}

} // namespace ember::api::model
