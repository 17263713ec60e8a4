// JailerConfig: what ember-jailer's command line asks for, parsed and checked without touching
// the host (the checks that need the host live in jailer.cpp's validation step).
#pragma once

#include "vmm/sys/result.hpp"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ember::jailer {

// One --cgroup FILE=VALUE: `controller` is FILE up to its first dot (cpu.weight -> cpu).
struct CgroupSetting {
    std::string controller;
    std::string file;
    std::string value;
};

// One --resource-limit NAME=VALUE; `resource` is an RLIMIT_* constant.
struct ResourceLimit {
    std::string name;
    int resource = 0;
    uint64_t value = 0;
};

struct JailerConfig {
    static constexpr const char* kDefaultChrootBase = "/srv/jailer";
    // Firecracker's default for no-file: enough for ember, small enough to bound a runaway.
    static constexpr uint64_t kDefaultNoFile = 2048;

    std::string id;
    std::string exec_file;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string chroot_base = kDefaultChrootBase;
    std::optional<std::string> netns; // a path (/var/run/netns/NAME for a bare NAME)
    bool daemonize = false;
    bool new_pid_ns = false;
    std::vector<CgroupSetting> cgroups;
    int cgroup_version = 1;
    std::optional<std::string> parent_cgroup; // default: the exec file's name
    std::vector<ResourceLimit> limits;        // always holds no-file (the default or the flag)
    std::vector<std::string> exec_args;       // everything after `--`

    // The name of the binary in the jail: the basename of exec_file.
    [[nodiscard]] std::string exec_name() const;
    // <chroot_base>/<exec_name>/<id>/root
    [[nodiscard]] std::string jail_root() const;
    // The cgroup path below each hierarchy's mount: <parent_cgroup or exec_name>/<id>.
    [[nodiscard]] std::string cgroup_relative() const;
};

struct PrintAndExit {
    std::string text;
};
using JailerRequest = std::variant<JailerConfig, PrintAndExit>;

// Parses argv (argv[0] is the program name). Errors are Errc::kInvalidArgument and name the
// flag, the bad value and what the flag accepts.
Result<JailerRequest> parse_jailer_cli(const std::vector<std::string>& args);

// The pure checks, exposed for tests.
Result<void> validate_id(std::string_view id);
Result<uint32_t> parse_numeric_id(std::string_view flag, std::string_view text);
Result<CgroupSetting> parse_cgroup_setting(std::string_view text);
Result<ResourceLimit> parse_resource_limit(std::string_view text);
Result<void> validate_parent_cgroup(std::string_view path);

} // namespace ember::jailer
