// Rollback: what the jailer created on the host, undone in reverse order when a later step
// fails, so that bad input or a failed step leaves nothing behind.
#pragma once

#include "jail/jailer/os.hpp"

#include <string>
#include <vector>

namespace ember::jailer {

class Rollback final {
public:
    enum class Kind {
        kRemoveTree,     // a directory and everything in it (the jail's <id> dir)
        kRmdir,          // an empty directory (a cgroup, a parent dir we made)
        kWrite,          // write `data` to `path` (undo a cgroup.subtree_control change)
        kEvacuateCgroup, // move every process in `path`/cgroup.procs to `data` (a procs file)
    };
    struct Action {
        Kind kind;
        std::string path;
        std::string data;
    };

    void remove_tree(std::string path) {
        actions_.push_back({Kind::kRemoveTree, std::move(path), {}});
    }
    void rmdir(std::string path) { actions_.push_back({Kind::kRmdir, std::move(path), {}}); }
    void write(std::string path, std::string data) {
        actions_.push_back({Kind::kWrite, std::move(path), std::move(data)});
    }
    void evacuate_cgroup(std::string cgroup_dir, std::string origin_procs) {
        actions_.push_back({Kind::kEvacuateCgroup, std::move(cgroup_dir), std::move(origin_procs)});
    }

    // Runs every action, newest first; a failing action is logged and the rest still run.
    void run(Os& os) const;

    [[nodiscard]] const std::vector<Action>& actions() const { return actions_; }
    [[nodiscard]] bool empty() const { return actions_.empty(); }

private:
    std::vector<Action> actions_;
};

} // namespace ember::jailer
