// PUT /vsock and the config file's "vsock": a virtio-vsock device proxied to Unix sockets.
// (The model only; the device itself is another issue.)
//
//   {"guest_cid": 3, "uds_path": "/tmp/v.sock"}
//
// guest_cid: 3..4294967294 (0-2 are the hypervisor, local and host; 2^32-1 is "any").
// uds_path: 1 to 107 bytes (sun_path). vsock_id: deprecated by Firecracker; accepted, unused.
#pragma once

#include "vmm/sys/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ember::api::model {

inline constexpr size_t kMaxUdsPathBytes = 107;

struct Vsock {
    uint32_t guest_cid = 3;
    std::string uds_path;
    std::optional<std::string> vsock_id; // deprecated

    bool operator==(const Vsock&) const = default;
};

Result<Vsock> parse_vsock(std::string_view body);
[[nodiscard]] std::string to_json(const Vsock& vsock);

} // namespace ember::api::model
