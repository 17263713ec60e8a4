// The device nodes ember may need inside the jail, as data: a node is made only where the host
// has it (a host without /dev/vhost-net gets a log line, not an error), with the host's
// major:minor, mode 0600 and owned by the jail's uid/gid.
#pragma once

#include "jail/jailer/os.hpp"

#include <string>
#include <vector>

namespace ember::jailer {

struct DeviceNode {
    std::string path; // the same path in the host's /dev and in the jail
    dev_t rdev = 0;
    mode_t mode = 0600;
};

// Looks the table up on the host (before the jail hides it); /dev/vfio/* is listed by
// `vfio_groups` (the entries of the host's /dev/vfio, e.g. "vfio", "12").
std::vector<DeviceNode> plan_devices(Os& os, const std::vector<std::string>& vfio_groups);

// mknod + chown each node in the (already pivoted) jail, making /dev, /dev/net, /dev/vfio.
Result<void> make_devices(Os& os, const std::vector<DeviceNode>& nodes, uid_t uid, gid_t gid);

} // namespace ember::jailer
