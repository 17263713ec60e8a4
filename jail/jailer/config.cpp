#include "jail/jailer/config.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <charconv>

namespace ember::jailer {
namespace {

constexpr size_t kMaxIdLength = 64;

bool is_id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// Cgroup file names are lower-case words joined by dots and underscores; nothing else may reach
// a path we build under /sys/fs/cgroup (no '/', no "..").
bool is_cgroup_file_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           (c >= 'A' && c <= 'Z');
}

Result<uint64_t> parse_u64(std::string_view text) {
    uint64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end)
        return make_error(Errc::kInvalidArgument, "not a number");
    return value;
}

} // namespace

std::string JailerConfig::exec_name() const {
    const size_t slash = exec_file.rfind('/');
    return slash == std::string::npos ? exec_file : exec_file.substr(slash + 1);
}

std::string JailerConfig::jail_root() const {
    return fmt::format("{}/{}/{}/root", chroot_base, exec_name(), id);
}

std::string JailerConfig::cgroup_relative() const {
    return fmt::format("{}/{}", parent_cgroup.value_or(exec_name()), id);
}

Result<void> validate_id(std::string_view id) {
    if (id.empty() || id.size() > kMaxIdLength || !std::all_of(id.begin(), id.end(), is_id_char))
        return make_error(Errc::kInvalidArgument,
                          "--id '{}': use 1 to 64 letters, digits and '-' (e.g. --id vm-42)", id);
    return {};
}

Result<uint32_t> parse_numeric_id(std::string_view flag, std::string_view text) {
    auto value = parse_u64(text);
    if (!value || *value >= UINT32_MAX)
        return make_error(Errc::kInvalidArgument,
                          "{} '{}': not a number; give a numeric id (e.g. {} 1000), not a name",
                          flag, text, flag);
    return static_cast<uint32_t>(*value);
}

Result<CgroupSetting> parse_cgroup_setting(std::string_view text) {
    const size_t eq = text.find('=');
    const std::string_view file = text.substr(0, eq);
    const size_t dot = file.find('.');
    if (eq == std::string_view::npos || eq + 1 == text.size() || dot == 0 ||
        dot == std::string_view::npos || dot + 1 == file.size() ||
        !std::all_of(file.begin(), file.end(), is_cgroup_file_char))
        return make_error(Errc::kInvalidArgument,
                          "--cgroup '{}': use FILE=VALUE with a cgroup file such as "
                          "cpu.weight=100, memory.max=256M or cpuset.cpus=0",
                          text);
    const std::string_view value = text.substr(eq + 1);
    if (value.find('\n') != std::string_view::npos)
        return make_error(Errc::kInvalidArgument, "--cgroup '{}': the value has a newline", file);
    return CgroupSetting{std::string(file.substr(0, dot)), std::string(file), std::string(value)};
}

Result<ResourceLimit> parse_resource_limit(std::string_view text) {
    const size_t eq = text.find('=');
    const std::string_view name = text.substr(0, eq);
    int resource = -1;
    if (name == "fsize") resource = RLIMIT_FSIZE;
    if (name == "no-file") resource = RLIMIT_NOFILE;
    if (eq == std::string_view::npos || resource < 0)
        return make_error(Errc::kInvalidArgument,
                          "--resource-limit '{}': use fsize=BYTES or no-file=COUNT", text);
    auto value = parse_u64(text.substr(eq + 1));
    if (!value)
        return make_error(Errc::kInvalidArgument,
                          "--resource-limit {}: '{}' is not a number (e.g. {}=1024)", name,
                          text.substr(eq + 1), name);
    return ResourceLimit{std::string(name), resource, *value};
}

Result<void> validate_parent_cgroup(std::string_view path) {
    bool ok = !path.empty() && path.front() != '/' && path.back() != '/';
    size_t start = 0;
    while (ok && start <= path.size()) {
        size_t slash = path.find('/', start);
        if (slash == std::string_view::npos) slash = path.size();
        const std::string_view part = path.substr(start, slash - start);
        ok =
            !part.empty() && part != "." && part != ".." &&
            std::all_of(part.begin(), part.end(), [](char c) { return is_id_char(c) || c == '_'; });
        start = slash + 1;
    }
    if (!ok)
        return make_error(Errc::kInvalidArgument,
                          "--parent-cgroup '{}': use a relative path of names made of letters, "
                          "digits, '-' and '_' (e.g. microvms/tenant-1)",
                          path);
    return {};
}

} // namespace ember::jailer
