// DriveConfig: one virtio-blk drive as the user describes it (--drive, and the API's /drives), and
// open_drive(): the disk and I/O engine it names, ready for a BlockDevice.
#pragma once

#include "virtio/block/io_engine.hpp"
#include "vmm/core/rate_limiter.hpp"

#include <memory>
#include <optional>
#include <string>

namespace ember::virtio::block {

struct DriveConfig {
    std::string id;   // drive id: GET_ID bytes (at most 20) and logs; empty: derived from the file
    std::string path; // the raw image; with `overlay`, the read-only base
    bool read_only = false;
    bool root = false; // the root device: first on the bus (/dev/vda), root= on the cmdline
    CacheMode cache_mode = CacheMode::kUnsafe;
    // Sync by default, as Firecracker: on page-cache I/O it beats io_uring here (docs/virtio.md).
    EngineKind engine = EngineKind::kSync;
    std::optional<std::string> overlay; // copy-on-write overlay file (created if missing)
    RateLimiterConfig rate_limiter;
};

// Requests the io_uring engine may have in flight per drive.
inline constexpr uint32_t kIoUringDepth = 128;

// Opens the image (and overlay) and picks the engine: kAuto takes io_uring when the host has it
// and the drive is a plain image (an overlay runs on the sync engine), else sync with a log line
// saying why; an explicit kIoUring that cannot be had is an error.
Result<std::unique_ptr<IoEngine>> open_drive(const DriveConfig& drive);

// "drive 'id'" or "drive 'path'", for messages.
[[nodiscard]] std::string drive_name(const DriveConfig& drive);

} // namespace ember::virtio::block
