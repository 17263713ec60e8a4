// parse_jailer_cli: Firecracker's jailer flags (docs/jailer.md) through CLI11.
#include "jail/jailer/config.hpp"

#include <CLI/CLI.hpp>
#include <sys/resource.h>

#include <algorithm>

namespace ember::jailer {
namespace {

struct RawFlags {
    std::string uid;
    std::string gid;
    std::string netns;
    std::string parent_cgroup;
    std::vector<std::string> cgroups;
    std::vector<std::string> limits;
};

void add_flags(CLI::App& app, JailerConfig& cfg, RawFlags& raw) {
    app.add_option("--id", cfg.id, "the microVM's id: 1 to 64 letters, digits and '-'")->required();
    app.add_option("--exec-file", cfg.exec_file, "the ember binary to copy into the jail and run")
        ->required();
    app.add_option("--uid", raw.uid, "numeric uid ember runs as")->required();
    app.add_option("--gid", raw.gid, "numeric gid ember runs as")->required();
    app.add_option("--chroot-base-dir", cfg.chroot_base,
                   "base of the jails: the jail is <base>/<exec-name>/<id>/root")
        ->default_str(JailerConfig::kDefaultChrootBase);
    app.add_option("--netns", raw.netns,
                   "network namespace to join: a NAME under /var/run/netns or a PATH");
    app.add_flag("--daemonize", cfg.daemonize,
                 "detach: setsid() and stdin/stdout/stderr on /dev/null before exec");
    app.add_flag("--new-pid-ns", cfg.new_pid_ns,
                 "run ember as PID 1 of a new PID namespace (the jailer waits for it)");
    app.add_option("--cgroup", raw.cgroups,
                   "FILE=VALUE to write in ember's cgroup (repeatable), e.g. cpu.weight=100")
        ->allow_extra_args(false)
        ->take_all();
    app.add_option("--cgroup-version", cfg.cgroup_version, "1 (per-controller hierarchies) or 2")
        ->check(CLI::IsMember({1, 2}))
        ->default_val(1);
    app.add_option("--parent-cgroup", raw.parent_cgroup,
                   "cgroup under which <id> is created (default: the exec file's name)");
    app.add_option("--resource-limit", raw.limits,
                   "fsize=BYTES or no-file=COUNT (repeatable; no-file defaults to 2048)")
        ->allow_extra_args(false)
        ->take_all();
}

Result<void> apply_raw(JailerConfig& cfg, const RawFlags& raw) {
    EMBER_TRY_VOID(validate_id(cfg.id));
    auto uid = parse_numeric_id("--uid", raw.uid);
    if (!uid) return tl::unexpected(std::move(uid.error()));
    auto gid = parse_numeric_id("--gid", raw.gid);
    if (!gid) return tl::unexpected(std::move(gid.error()));
    cfg.uid = *uid;
    cfg.gid = *gid;
    if (cfg.exec_file.empty() || cfg.exec_name().empty())
        return make_error(Errc::kInvalidArgument,
                          "--exec-file '{}': name the ember binary (e.g. build/vmm/ember)",
                          cfg.exec_file);
    if (cfg.chroot_base.empty() || cfg.chroot_base.front() != '/')
        return make_error(Errc::kInvalidArgument,
                          "--chroot-base-dir '{}': give an absolute path (e.g. /srv/jailer)",
                          cfg.chroot_base);
    if (!raw.netns.empty())
        cfg.netns =
            raw.netns.find('/') == std::string::npos ? "/var/run/netns/" + raw.netns : raw.netns;
    if (!raw.parent_cgroup.empty()) {
        EMBER_TRY_VOID(validate_parent_cgroup(raw.parent_cgroup));
        cfg.parent_cgroup = raw.parent_cgroup;
    }
    for (const auto& text : raw.cgroups) {
        auto setting = parse_cgroup_setting(text);
        if (!setting) return tl::unexpected(std::move(setting.error()));
        cfg.cgroups.push_back(std::move(*setting));
    }
    cfg.limits.push_back({"no-file", RLIMIT_NOFILE, JailerConfig::kDefaultNoFile});
    for (const auto& text : raw.limits) {
        auto limit = parse_resource_limit(text);
        if (!limit) return tl::unexpected(std::move(limit.error()));
        std::erase_if(cfg.limits, [&](const ResourceLimit& l) { return l.name == limit->name; });
        cfg.limits.push_back(*limit);
    }
    return {};
}

} // namespace

Result<JailerRequest> parse_jailer_cli(const std::vector<std::string>& args) {
    CLI::App app{"ember-jailer: prepares a jail (chroot, cgroups, namespaces, an unprivileged "
                 "uid/gid) and execs ember inside it. Arguments after -- go to ember.",
                 "ember-jailer"};
    app.set_version_flag("-V,--version", std::string("ember-jailer ") + EMBER_VERSION);
    JailerConfig cfg;
    RawFlags raw;
    add_flags(app, cfg, raw);
    auto [own, rest] = [&] {
        const auto dashes = std::find(args.begin(), args.end(), "--");
        std::vector<std::string> mine(args.begin() + (args.empty() ? 0 : 1), dashes);
        std::vector<std::string> theirs;
        if (dashes != args.end()) theirs.assign(dashes + 1, args.end());
        return std::pair{mine, theirs};
    }();
    std::reverse(own.begin(), own.end()); // CLI11 consumes a reversed vector
    try {
        app.parse(own);
    } catch (const CLI::CallForHelp&) {
        return JailerRequest(PrintAndExit{app.help()});
    } catch (const CLI::CallForVersion&) {
        return JailerRequest(PrintAndExit{std::string("ember-jailer ") + EMBER_VERSION + "\n"});
    } catch (const CLI::ParseError& e) {
        return make_error(Errc::kInvalidArgument, "{} (see ember-jailer --help)", e.what());
    }
    EMBER_TRY_VOID(apply_raw(cfg, raw));
    cfg.exec_args = std::move(rest);
    return JailerRequest(std::move(cfg));
}

} // namespace ember::jailer
