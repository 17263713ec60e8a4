// Tap: the host end of a virtio-net interface, an existing tap device opened by name
// (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) with a 12-byte virtio-net header (TUNSETVNETHDRSZ), so
// every read is one frame behind a struct virtio_net_hdr_v1 and every write takes one.
// Non-blocking: the VMM thread's event loop watches fd().
#pragma once

#include "vmm/sys/result.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <string>

namespace ember::virtio::net {

class Tap final {
public:
    // Opens the tap `name`, which must exist: ember does not create interfaces (that needs
    // privileges the monitor should not hold). The errors say how to create or fix it.
    static Result<Tap> open(const std::string& name);
    // An fd that speaks the same framing (a SOCK_SEQPACKET socket in tests): TUNSETOFFLOAD is
    // recorded but not issued.
    static Tap from_fd(UniqueFd fd, std::string name);

    [[nodiscard]] int fd() const { return fd_.get(); }
    [[nodiscard]] const std::string& name() const { return name_; }

    // TUNSETOFFLOAD: which offloaded frames (TUN_F_*) the tap may hand us. Kernels that refuse
    // TUN_F_UFO get the rest.
    Result<void> set_offload(unsigned tun_flags);
    // The flags last applied.
    [[nodiscard]] unsigned offload() const { return offload_; }

private:
    Tap(UniqueFd fd, std::string name, bool real)
        : fd_(std::move(fd)), name_(std::move(name)), real_(real) {}

    UniqueFd fd_;
    std::string name_;
    bool real_;
    unsigned offload_ = 0;
};

} // namespace ember::virtio::net
