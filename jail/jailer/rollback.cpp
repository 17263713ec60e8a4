#include "jail/jailer/rollback.hpp"

#include "vmm/sys/logger.hpp"

#include <algorithm>
#include <cerrno>

namespace ember::jailer {
namespace {

// A cgroup can only be removed once it is empty: move its processes (the jailer, the watcher,
// a PID-namespace child) back to where the jailer started.
Result<void> evacuate(Os& os, const std::string& cgroup_dir, const std::string& origin_procs) {
    auto procs = os.read_file(cgroup_dir + "/cgroup.procs");
    if (!procs) return tl::unexpected(std::move(procs.error()));
    size_t start = 0;
    while (start < procs->size()) {
        size_t nl = procs->find('\n', start);
        if (nl == std::string::npos) nl = procs->size();
        const std::string pid = procs->substr(start, nl - start);
        start = nl + 1;
        if (pid.empty()) continue;
        EMBER_TRY_VOID(os.write_file(origin_procs, pid, false));
    }
    return {};
}

Result<void> undo(Os& os, const Rollback::Action& a) {
    switch (a.kind) {
    case Rollback::Kind::kRemoveTree:
        return os.remove_tree(a.path);
    case Rollback::Kind::kRmdir:
        return os.rmdir(a.path);
    case Rollback::Kind::kWrite:
        return os.write_file(a.path, a.data, false);
    case Rollback::Kind::kEvacuateCgroup:
        return evacuate(os, a.path, a.data);
    }
    return {};
}

} // namespace

void Rollback::run(Os& os) const {
    // Newest first: a cgroup is emptied before it is removed, a dir before its parent.
    std::for_each(actions_.rbegin(), actions_.rend(), [&](const Action& a) {
        const auto r = undo(os, a);
        // A shared parent (<base>/<exec>) that another jail now uses stays, silently.
        if (!r && !(a.kind == Kind::kRmdir && r.error().sys_errno() == ENOTEMPTY))
            log::warn("jailer: cleanup: {}; remove it by hand", r.error().describe());
    });
}

} // namespace ember::jailer
