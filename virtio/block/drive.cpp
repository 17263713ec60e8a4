#include "virtio/block/drive.hpp"

#include "virtio/block/overlay_disk.hpp"
#include "vmm/sys/logger.hpp"

namespace ember::virtio::block {

std::string drive_name(const DriveConfig& drive) {
    return fmt::format("drive '{}'", drive.id.empty() ? drive.path : drive.id);
}

Result<std::unique_ptr<IoEngine>> open_drive(const DriveConfig& drive) {
    const std::string name = drive_name(drive);
    const DiskOptions options{drive.read_only, drive.cache_mode, drive.id};
    if (drive.overlay) {
        if (drive.engine == EngineKind::kIoUring)
            return make_error(Errc::kInvalidArgument,
                              "{}: engine=io_uring does not support overlays yet; use engine=sync "
                              "(or leave engine out)",
                              name);
        auto disk = OverlayDisk::open(drive.path, *drive.overlay, OverlayOptions{options});
        if (!disk) return tl::unexpected(std::move(disk.error()).with_context(name));
        log::info("{}: copy-on-write overlay '{}' on '{}', sync engine", name, *drive.overlay,
                  drive.path);
        return make_sync_engine(std::move(*disk));
    }
    auto disk = SyncDisk::open(drive.path, options);
    if (!disk) return tl::unexpected(std::move(disk.error()).with_context(name));
    if (drive.engine == EngineKind::kSync) return make_sync_engine(std::move(*disk));

    auto engine = make_io_uring_engine(std::move(*disk), kIoUringDepth);
    if (engine) return std::move(*engine);
    if (drive.engine == EngineKind::kIoUring)
        return tl::unexpected(
            std::move(engine.error()).with_context(name + ": engine=io_uring (use engine=sync)"));
    log::warn("{}: io_uring is not available ({}); using the sync engine", name,
              engine.error().message());
    // The engine took the disk with it: open the image again (only on this rare path).
    auto again = SyncDisk::open(drive.path, options);
    if (!again) return tl::unexpected(std::move(again.error()).with_context(name));
    return make_sync_engine(std::move(*again));
}

} // namespace ember::virtio::block
