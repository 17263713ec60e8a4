#include "virtio/net/tap.hpp"

#include "virtio/net/vnet_header.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace ember::virtio::net {
namespace {

std::string how_to_create(const std::string& name) {
    return fmt::format("create it with `ip tuntap add dev {} mode tap` (add `user <name>` to let "
                       "an unprivileged ember open it) and `ip link set {} up`",
                       name, name);
}

tl::unexpected<Error> attach_error(const std::string& name, int err) {
    switch (err) {
    case EPERM:
    case EACCES:
        return tl::unexpected(Error(
            Errc::kUnavailable,
            fmt::format("tap '{}': not allowed to attach to it; create it for ember's user (`ip "
                        "tuntap add dev {} mode tap user <name>`) or run with CAP_NET_ADMIN",
                        name, name),
            err));
    case EINVAL:
        return tl::unexpected(
            Error(Errc::kInvalidArgument,
                  fmt::format("tap '{}': not a tap device (a tun, a multi_queue tap or another "
                              "kind of interface?); {}",
                              name, how_to_create(name)),
                  err));
    case EBUSY:
        return tl::unexpected(
            Error(Errc::kUnavailable,
                  fmt::format("tap '{}': busy: another process (another ember?) has it open", name),
                  err));
    default:
        return tl::unexpected(
            Error(Errc::kOsError, fmt::format("tap '{}': TUNSETIFF failed", name), err));
    }
}

} // namespace

Result<Tap> Tap::open(const std::string& name) {
    if (name.empty() || name.size() >= IFNAMSIZ)
        return make_error(Errc::kInvalidArgument,
                          "tap '{}': a Linux interface name has 1 to {} bytes", name, IFNAMSIZ - 1);
    // TUNSETIFF would create a missing interface (given CAP_NET_ADMIN): refuse instead, so a
    // typo is an error and not a fresh, unconnected tap.
    if (::if_nametoindex(name.c_str()) == 0)
        return make_error(Errc::kNotFound, "tap '{}' does not exist; {}", name,
                          how_to_create(name));
    const int raw = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (raw < 0)
        return sys_error(Errc::kUnavailable,
                         "tap '{}': cannot open /dev/net/tun (load the tun module: modprobe tun)",
                         name);
    UniqueFd fd(raw);
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.data(), name.size());
    ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return attach_error(name, errno);
    int header = static_cast<int>(kVnetHeaderSize);
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &header) < 0)
        return sys_error(Errc::kOsError, "tap '{}': TUNSETVNETHDRSZ {}", name, header);
    Tap tap(std::move(fd), name, true);
    EMBER_TRY_VOID(tap.set_offload(0));
    return tap;
}

Tap Tap::from_fd(UniqueFd fd, std::string name) {
    return Tap(std::move(fd), std::move(name), false);
}

Result<void> Tap::set_offload(unsigned tun_flags) {
    if (real_ && ::ioctl(fd_.get(), TUNSETOFFLOAD, static_cast<unsigned long>(tun_flags)) < 0) {
        if (errno != EINVAL || without_ufo(tun_flags) == tun_flags)
            return sys_error(Errc::kOsError, "tap '{}': TUNSETOFFLOAD {:#x}", name_, tun_flags);
        tun_flags = without_ufo(tun_flags);
        if (::ioctl(fd_.get(), TUNSETOFFLOAD, static_cast<unsigned long>(tun_flags)) < 0)
            return sys_error(Errc::kOsError, "tap '{}': TUNSETOFFLOAD {:#x}", name_, tun_flags);
    }
    offload_ = tun_flags;
    return {};
}

} // namespace ember::virtio::net
