// PUT and PATCH /drives/{drive_id}, and the config file's "drives" array: virtio-blk drives.
//
//   {"drive_id": "rootfs", "path_on_host": "rootfs.ext4", "is_root_device": true,
//    "is_read_only": false, "partuuid": "...", "cache_type": "Unsafe", "io_engine": "Sync",
//    "rate_limiter": {...}, "overlay_path": "/run/vm1.ovl"}
//
// Firecracker's fields, as ember honours them:
// - drive_id: 1 to 20 ASCII letters, digits or '_' (ember hands it to the guest as the
//   virtio-blk serial, VIRTIO_BLK_T_GET_ID, which holds 20 bytes).
// - path_on_host: required (ember has no vhost-user-block, so `socket` is refused).
// - is_root_device: required; the root drive is /dev/vda, and the command line gets
//   `root=/dev/vda` (or `root=PARTUUID=<partuuid>` when given) and `rw`/`ro`.
// - partuuid: hex digits and '-', at most 36 characters (it goes onto the command line).
// - cache_type: "Unsafe" (default: flushes are ignored) or "Writeback".
// - io_engine: "Sync" (preadv/pwritev) or "Async" (io_uring). Absent: ember picks io_uring when
//   the host has it, else sync (Firecracker's default is Sync).
// - overlay_path (ember): a copy-on-write overlay file, created if missing; path_on_host is
//   then a read-only base that is never written. Not with io_engine "Async".
#pragma once

#include "api/model/rate_limiter.hpp"
#include "virtio/block/drive.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ember::api::model {

struct Drive {
    std::string drive_id;
    std::string path_on_host;
    bool is_root_device = false;
    std::optional<bool> is_read_only; // absent: false
    std::optional<std::string> partuuid;
    std::optional<virtio::block::CacheMode> cache_type; // absent: Unsafe
    std::optional<virtio::block::EngineKind> io_engine; // kSync or kIoUring; absent: auto
    std::optional<RateLimiter> rate_limiter;
    std::optional<std::string> overlay_path; // ember

    bool operator==(const Drive&) const = default;
};

// PATCH /drives/{id} (after boot in Firecracker): a new image, a new rate limiter, or both.
struct PartialDrive {
    std::string drive_id;
    std::optional<std::string> path_on_host;
    std::optional<RateLimiter> rate_limiter;

    bool operator==(const PartialDrive&) const = default;
};

Result<Drive> parse_drive(std::string_view body);
Result<PartialDrive> parse_partial_drive(std::string_view body);
[[nodiscard]] std::string to_json(const Drive& drive);
[[nodiscard]] std::string to_json(const PartialDrive& drive);

// The drive as the block device takes it.
[[nodiscard]] virtio::block::DriveConfig to_drive_config(const Drive& drive);
// Back to the API's shape, every value spelt out (GET /vm/config).
[[nodiscard]] Drive from_drive_config(const virtio::block::DriveConfig& config,
                                      std::optional<std::string> partuuid);

} // namespace ember::api::model
