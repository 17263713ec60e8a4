// setup_cgroups: the half of cgroup.hpp that changes the host.
#include "jail/jailer/cgroup.hpp"

#include <algorithm>

namespace ember::jailer {
namespace {

std::string trim(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text;
}

// A new v1 cpuset cgroup has empty cpuset.cpus/mems, and a process cannot join it until both
// are set: inherit the parent's, as the kernel's cgroup.clone_children would.
Result<void> inherit_cpuset(Os& os, const std::string& parent, const std::string& dir) {
    for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
        auto mine = os.read_file(dir + "/" + file);
        if (!mine) return tl::unexpected(std::move(mine.error()));
        if (!trim(*mine).empty()) continue;
        auto theirs = os.read_file(parent + "/" + file);
        if (!theirs) return tl::unexpected(std::move(theirs.error()));
        EMBER_TRY_VOID(os.write_file(dir + "/" + file, trim(*theirs), false));
    }
    return {};
}

// v2: a controller's files appear in a cgroup only when every ancestor enables it in
// cgroup.subtree_control. Enable what is missing, and undo it on rollback.
Result<void> enable_controllers(Os& os, const std::string& dir,
                                const std::vector<std::string>& controllers, Rollback& rollback) {
    const std::string control = dir + "/cgroup.subtree_control";
    auto current = os.read_file(control);
    if (!current) return tl::unexpected(std::move(current.error()));
    const std::string padded = " " + trim(*current) + " ";
    for (const auto& c : controllers) {
        if (padded.find(" " + c + " ") != std::string::npos) continue;
        EMBER_TRY_VOID(os.write_file(control, "+" + c, false));
        rollback.write(control, "-" + c);
    }
    return {};
}

// Makes every missing directory from the mount point down to the target's dir.
Result<void> make_dirs(Os& os, const CgroupTarget& t, Rollback& rollback) {
    std::string path = t.mount_point;
    const std::string rest = t.dir.substr(t.mount_point.size() + 1);
    size_t start = 0;
    while (start <= rest.size()) {
        size_t slash = rest.find('/', start);
        if (slash == std::string::npos) slash = rest.size();
        const std::string parent = path;
        if (t.version == 2) EMBER_TRY_VOID(enable_controllers(os, parent, t.controllers, rollback));
        path += "/" + rest.substr(start, slash - start);
        start = slash + 1;
        if (os.stat(path).kind == FileKind::kDirectory) continue;
        EMBER_TRY_VOID(os.mkdir(path, 0755));
        rollback.rmdir(path);
        if (t.copy_cpuset) EMBER_TRY_VOID(inherit_cpuset(os, parent, path));
    }
    return {};
}

Result<void> setup_one(Os& os, const CgroupTarget& t, pid_t pid, Rollback& rollback) {
    EMBER_TRY_VOID(make_dirs(os, t, rollback));
    for (const auto& s : t.settings) {
        const std::string file = t.dir + "/" + s.file;
        if (os.stat(file).kind != FileKind::kRegular)
            return make_error(Errc::kInvalidArgument,
                              "--cgroup {}: the '{}' controller has no file '{}' (see the files "
                              "in {}); fix the name",
                              s.file, s.controller, s.file, t.dir);
        auto written = os.write_file(file, s.value, false);
        if (!written)
            return tl::unexpected(
                std::move(written.error())
                    .with_context(fmt::format("--cgroup {}={}: the kernel refused the value (check "
                                              "its format and range)",
                                              s.file, s.value)));
    }
    rollback.evacuate_cgroup(t.dir, t.origin_procs);
    return os.write_file(t.dir + "/cgroup.procs", std::to_string(pid), false);
}

} // namespace

Result<void> setup_cgroups(Os& os, const std::vector<CgroupTarget>& targets, pid_t pid,
                           Rollback& rollback) {
    for (const auto& t : targets)
        EMBER_TRY_VOID(setup_one(os, t, pid, rollback));
    return {};
}

} // namespace ember::jailer
