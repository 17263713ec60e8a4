// Resource ids (drive_id, iface_id) as the API accepts them, in the path and in the body.
//
// Firecracker's rule (api_server checked_id): not empty, only alphanumerics and '_'. ember
// takes ASCII alphanumerics (Firecracker's Rust check also lets other Unicode letters through)
// and bounds the length: a drive id is what VIRTIO_BLK_T_GET_ID returns, 20 bytes at most;
// other ids are at most 64 bytes.
#pragma once

#include "vmm/sys/result.hpp"

#include <cstddef>
#include <string_view>

namespace ember::api::model {

inline constexpr size_t kMaxDriveIdBytes = 20; // virtio-blk GET_ID
inline constexpr size_t kMaxIdBytes = 64;

// Checks `id`; messages read "<where>: <field> 'x-y' is not valid: use 1 to 20 ASCII letters,
// digits or underscores". Errc::kInvalidArgument.
Result<void> check_id(std::string_view where, std::string_view field, std::string_view id,
                      size_t max_bytes);

// The PUT/PATCH rule: the id in the path must be the id in the body.
Result<void> check_path_id(std::string_view where, std::string_view field, std::string_view path_id,
                           std::string_view body_id);

} // namespace ember::api::model
