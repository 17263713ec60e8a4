// Cgroups for the jail: find the hierarchies in /proc/self/mountinfo (v1: one per controller
// group; v2: the unified mount), plan <mount>/<parent>/<id> per hierarchy, then create it,
// write the requested files and move the jailer in. Everything created goes on the Rollback.
#pragma once

#include "jail/jailer/config.hpp"
#include "jail/jailer/os.hpp"
#include "jail/jailer/rollback.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace ember::jailer {

struct CgroupMount {
    int version = 1;
    std::string mount_point;
    std::string root;                     // the part of the hierarchy mounted there ("/" usually)
    std::vector<std::string> controllers; // v1 only: from the super options ("cpu", "cpuacct")
};

// Lines of /proc/self/mountinfo with fstype cgroup or cgroup2.
std::vector<CgroupMount> parse_mountinfo(std::string_view text);

// One hierarchy the jail uses.
struct CgroupTarget {
    int version = 1;
    std::string mount_point;
    std::string dir;          // mount_point/<parent>/<id>
    std::string origin_procs; // the cgroup.procs the jailer started in (for the rollback)
    bool copy_cpuset = false; // v1 cpuset: a new cgroup starts with no cpus/mems
    std::vector<std::string> controllers; // requested controllers in this hierarchy
    std::vector<CgroupSetting> settings;
};

// Maps the requested settings onto hierarchies. Fails (Errc::kInvalidArgument) on a controller
// that no hierarchy of the requested version offers, and (Errc::kInvalidInput) when a target
// cgroup already exists. Reads v2's cgroup.controllers through os.
Result<std::vector<CgroupTarget>> plan_cgroups(Os& os, const JailerConfig& cfg,
                                               std::string_view mountinfo,
                                               std::string_view self_cgroup);

// Creates the cgroups, writes the settings, then moves `pid` in. A missing cgroup file fails
// here, after the directories were made: the caller runs the rollback.
Result<void> setup_cgroups(Os& os, const std::vector<CgroupTarget>& targets, pid_t pid,
                           Rollback& rollback);

} // namespace ember::jailer
