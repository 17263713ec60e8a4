#include "jail/jailer/cgroup.hpp"

#include <fmt/ranges.h>

#include <algorithm>

namespace ember::jailer {
namespace {

std::vector<std::string_view> split(std::string_view text, char sep) {
    std::vector<std::string_view> parts;
    size_t start = 0;
    while (start <= text.size()) {
        size_t end = text.find(sep, start);
        if (end == std::string_view::npos) end = text.size();
        parts.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
    return std::find(list.begin(), list.end(), item) != list.end();
}

// The cgroup.procs of the cgroup this process is in, in the hierarchy of `mount`.
// /proc/self/cgroup lines are "ID:CONTROLLERS:PATH"; v2's is "0::PATH".
std::string origin_procs(const CgroupMount& mount, std::string_view self_cgroup) {
    for (const auto line : split(self_cgroup, '\n')) {
        const auto fields = split(line, ':');
        if (fields.size() != 3) continue;
        const auto ctrls = split(fields[1], ',');
        const bool match =
            mount.version == 2
                ? fields[1].empty()
                : !mount.controllers.empty() && std::find(ctrls.begin(), ctrls.end(),
                                                          mount.controllers.front()) != ctrls.end();
        if (!match) continue;
        std::string_view path = fields[2];
        if (mount.root != "/" && path.starts_with(mount.root))
            path.remove_prefix(mount.root.size());
        if (path == "/") path = "";
        return fmt::format("{}{}/cgroup.procs", mount.mount_point, path);
    }
    return mount.mount_point + "/cgroup.procs";
}

std::string available(const std::vector<CgroupMount>& mounts) {
    std::vector<std::string> names;
    for (const auto& m : mounts)
        if (m.version == 1) names.insert(names.end(), m.controllers.begin(), m.controllers.end());
    return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}

Result<void> plan_v1(const std::vector<CgroupMount>& mounts, const JailerConfig& cfg,
                     std::vector<CgroupTarget>& targets) {
    for (const auto& s : cfg.cgroups) {
        const auto m = std::find_if(mounts.begin(), mounts.end(), [&](const CgroupMount& c) {
            return c.version == 1 && contains(c.controllers, s.controller);
        });
        if (m == mounts.end())
            return make_error(Errc::kInvalidArgument,
                              "--cgroup {}: no cgroup v1 hierarchy has the '{}' controller "
                              "(mounted: {}); fix the file name or try --cgroup-version 2",
                              s.file, s.controller, available(mounts));
        auto t = std::find_if(targets.begin(), targets.end(), [&](const CgroupTarget& x) {
            return x.mount_point == m->mount_point;
        });
        if (t == targets.end()) {
            targets.push_back({1,
                               m->mount_point,
                               m->mount_point + "/" + cfg.cgroup_relative(),
                               {},
                               contains(m->controllers, "cpuset"),
                               {},
                               {}});
            t = targets.end() - 1;
        }
        if (!contains(t->controllers, s.controller)) t->controllers.push_back(s.controller);
        t->settings.push_back(s);
    }
    return {};
}

Result<void> plan_v2(Os& os, const std::vector<CgroupMount>& mounts, const JailerConfig& cfg,
                     std::vector<CgroupTarget>& targets) {
    const auto m = std::find_if(mounts.begin(), mounts.end(),
                                [](const CgroupMount& c) { return c.version == 2; });
    if (m == mounts.end())
        return make_error(Errc::kInvalidArgument,
                          "--cgroup-version 2: no cgroup2 file system is mounted; mount one "
                          "(mount -t cgroup2 none /sys/fs/cgroup) or use --cgroup-version 1");
    auto text = os.read_file(m->mount_point + "/cgroup.controllers");
    if (!text) return tl::unexpected(std::move(text.error()));
    std::vector<std::string> offered;
    for (const auto c : split(*text, ' '))
        if (!c.empty()) offered.emplace_back(c.back() == '\n' ? c.substr(0, c.size() - 1) : c);
    CgroupTarget t{2,  m->mount_point, m->mount_point + "/" + cfg.cgroup_relative(), {}, false,
                   {}, cfg.cgroups};
    for (const auto& s : cfg.cgroups) {
        if (!contains(offered, s.controller))
            return make_error(Errc::kInvalidArgument,
                              "--cgroup {}: the cgroup v2 hierarchy at {} has no '{}' controller "
                              "(it offers: {}); a controller bound to a v1 hierarchy needs "
                              "--cgroup-version 1",
                              s.file, m->mount_point, s.controller,
                              offered.empty() ? "none"
                                              : fmt::format("{}", fmt::join(offered, " ")));
        if (!contains(t.controllers, s.controller)) t.controllers.push_back(s.controller);
    }
    targets.push_back(std::move(t));
    return {};
}

} // namespace

std::vector<CgroupMount> parse_mountinfo(std::string_view text) {
    std::vector<CgroupMount> mounts;
    for (const auto line : split(text, '\n')) {
        // "ID PARENT MAJ:MIN ROOT MOUNT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS"
        const auto fields = split(line, ' ');
        const auto dash = std::find(fields.begin(), fields.end(), "-");
        if (fields.size() < 5 || dash == fields.end() || fields.end() - dash < 4) continue;
        const std::string_view fstype = *(dash + 1);
        if (fstype != "cgroup" && fstype != "cgroup2") continue;
        CgroupMount m{
            fstype == "cgroup2" ? 2 : 1, std::string(fields[4]), std::string(fields[3]), {}};
        if (m.version == 1)
            for (const auto opt : split(*(dash + 3), ','))
                if (opt != "rw" && opt != "ro" && !opt.starts_with("name=") &&
                    opt.find('=') == std::string_view::npos && opt != "noprefix" &&
                    opt != "clone_children" && opt != "xattr")
                    m.controllers.emplace_back(opt);
        mounts.push_back(std::move(m));
    }
    return mounts;
}

Result<std::vector<CgroupTarget>> plan_cgroups(Os& os, const JailerConfig& cfg,
                                               std::string_view mountinfo,
                                               std::string_view self_cgroup) {
    std::vector<CgroupTarget> targets;
    if (cfg.cgroups.empty()) return targets;
    const auto mounts = parse_mountinfo(mountinfo);
    EMBER_TRY_VOID(cfg.cgroup_version == 2 ? plan_v2(os, mounts, cfg, targets)
                                           : plan_v1(mounts, cfg, targets));
    for (auto& t : targets) {
        const auto m = std::find_if(mounts.begin(), mounts.end(), [&](const CgroupMount& c) {
            return c.mount_point == t.mount_point;
        });
        t.origin_procs = origin_procs(*m, self_cgroup);
        if (os.stat(t.dir).kind != FileKind::kMissing)
            return make_error(Errc::kInvalidInput,
                              "cgroup {} already exists (left by an earlier jail with this id?): "
                              "remove it with rmdir, or pick another --id",
                              t.dir);
    }
    return targets;
}

} // namespace ember::jailer
