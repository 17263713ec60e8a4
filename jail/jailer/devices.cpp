#include "jail/jailer/devices.hpp"

#include "vmm/sys/logger.hpp"

#include <array>
#include <cerrno>

namespace ember::jailer {
namespace {

struct DeviceSpec {
    const char* path;
    const char* why;
    mode_t mode;
};

// Each entry says which part of ember opens it.
constexpr std::array kDevices{
    DeviceSpec{"/dev/kvm", "the VM itself", 0600},
    DeviceSpec{"/dev/net/tun", "virtio-net tap devices", 0600},
    DeviceSpec{"/dev/urandom", "virtio-rng and random MAC addresses", 0600},
    DeviceSpec{"/dev/null", "--daemonize's stdio", 0666},
    DeviceSpec{"/dev/vhost-net", "the vhost-net data path", 0600},
    DeviceSpec{"/dev/userfaultfd", "snapshot restore with lazy memory", 0600},
};

std::string parent_of(const std::string& path) {
    return path.substr(0, path.rfind('/'));
}

} // namespace

std::vector<DeviceNode> plan_devices(Os& os, const std::vector<std::string>& vfio_groups) {
    std::vector<DeviceNode> nodes;
    auto add = [&](const std::string& path, const char* why, mode_t mode) {
        const FileInfo info = os.stat(path);
        if (info.kind != FileKind::kCharDevice) {
            log::info("jailer: host has no {} ({}): not creating it in the jail", path, why);
            return;
        }
        nodes.push_back({path, info.rdev, mode});
    };
    for (const auto& d : kDevices)
        add(d.path, d.why, d.mode);
    for (const auto& group : vfio_groups)
        add("/dev/vfio/" + group, "VFIO passthrough", 0600);
    return nodes;
}

Result<void> make_devices(Os& os, const std::vector<DeviceNode>& nodes, uid_t uid, gid_t gid) {
    for (const auto& node : nodes) {
        // /dev, then /dev/net or /dev/vfio: made once, root-owned and not writable by ember.
        for (const std::string& dir : {std::string("/dev"), parent_of(node.path)}) {
            if (os.stat(dir).kind == FileKind::kDirectory) continue;
            EMBER_TRY_VOID(os.mkdir(dir, 0755));
        }
        EMBER_TRY_VOID(os.mknod_char(node.path, node.mode, node.rdev));
        EMBER_TRY_VOID(os.chown(node.path, uid, gid));
    }
    return {};
}

} // namespace ember::jailer
