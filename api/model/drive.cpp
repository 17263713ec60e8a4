#include "api/model/drive.hpp"

#include "api/model/codec.hpp"
#include "api/model/ids.hpp"

#include <algorithm>
#include <array>

namespace ember::api::model {
namespace {

using virtio::block::CacheMode;
using virtio::block::EngineKind;

constexpr const char* kWhere = "drives";
constexpr size_t kMaxPartuuidChars = 36;

constexpr std::array<EnumName<CacheMode>, 2> kCacheTypes{{
    {"Unsafe", CacheMode::kUnsafe},
    {"Writeback", CacheMode::kWriteback},
}};
constexpr std::array<EnumName<EngineKind>, 2> kIoEngines{{
    {"Sync", EngineKind::kSync},
    {"Async", EngineKind::kIoUring},
}};

std::string read_drive_id(ObjectReader& r) {
    std::string id = r.required_string("drive_id", {.max_bytes = SIZE_MAX, .allow_empty = true});
    if (r.ok()) r.take(check_id(r.where(), "drive_id", id, kMaxDriveIdBytes));
    return id;
}

bool partuuid_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
}

} // namespace

Result<Drive> decode_drive(const Json& value, const std::string& where) {
    ObjectReader r(value, where,
                   {"drive_id", "path_on_host", "is_root_device", "is_read_only", "partuuid",
                    "cache_type", "io_engine", "rate_limiter", "socket", "overlay_path"});
    Drive drive;
    drive.drive_id = read_drive_id(r);
    if (r.present("socket"))
        r.fail("socket (a vhost-user-block back end) is not supported by ember; give "
               "path_on_host instead");
    drive.path_on_host = r.required_string("path_on_host");
    drive.is_root_device = r.required_bool("is_root_device");
    drive.is_read_only = r.optional_bool("is_read_only");
    drive.partuuid =
        r.optional_string("partuuid", {.max_bytes = kMaxPartuuidChars, .allow_empty = false});
    if (drive.partuuid &&
        !std::all_of(drive.partuuid->begin(), drive.partuuid->end(), partuuid_char))
        r.fail("partuuid {} is not valid; use hex digits and '-' (a partition UUID such as "
               "\"0eaa91a0-01\")",
               show(Json(*drive.partuuid)));
    drive.cache_type = r.optional_enum("cache_type", kCacheTypes);
    drive.io_engine = r.optional_enum("io_engine", kIoEngines);
    drive.rate_limiter = read_rate_limiter(r, "rate_limiter");
    drive.overlay_path = r.optional_string("overlay_path");
    if (drive.overlay_path && drive.io_engine == EngineKind::kIoUring)
        r.fail("io_engine \"Async\" does not support overlay_path yet; use \"Sync\" or leave "
               "io_engine out");
    EMBER_TRY_VOID(r.finish());
    return drive;
}

Result<PartialDrive> decode_partial_drive(const Json& value, const std::string& where) {
    ObjectReader r(value, where, {"drive_id", "path_on_host", "rate_limiter"});
    PartialDrive drive;
    drive.drive_id = read_drive_id(r);
    drive.path_on_host = r.optional_string("path_on_host");
    drive.rate_limiter = read_rate_limiter(r, "rate_limiter");
    EMBER_TRY_VOID(r.finish());
    return drive;
}

Json encode(const Drive& drive) {
    Json j{{"drive_id", drive.drive_id},
           {"path_on_host", drive.path_on_host},
           {"is_root_device", drive.is_root_device}};
    if (drive.is_read_only) j["is_read_only"] = *drive.is_read_only;
    if (drive.partuuid) j["partuuid"] = *drive.partuuid;
    if (drive.cache_type) j["cache_type"] = enum_name(kCacheTypes, *drive.cache_type);
    if (drive.io_engine) j["io_engine"] = enum_name(kIoEngines, *drive.io_engine);
    if (drive.rate_limiter) j["rate_limiter"] = encode(*drive.rate_limiter);
    if (drive.overlay_path) j["overlay_path"] = *drive.overlay_path;
    return j;
}

Json encode(const PartialDrive& drive) {
    Json j{{"drive_id", drive.drive_id}};
    if (drive.path_on_host) j["path_on_host"] = *drive.path_on_host;
    if (drive.rate_limiter) j["rate_limiter"] = encode(*drive.rate_limiter);
    return j;
}

Result<Drive> parse_drive(std::string_view body) {
    return decode_body(body, kWhere, decode_drive);
}

Result<PartialDrive> parse_partial_drive(std::string_view body) {
    return decode_body(body, kWhere, decode_partial_drive);
}

std::string to_json(const Drive& drive) {
    return dump(encode(drive));
}

std::string to_json(const PartialDrive& drive) {
    return dump(encode(drive));
}

virtio::block::DriveConfig to_drive_config(const Drive& drive) {
    virtio::block::DriveConfig config;
    config.id = drive.drive_id;
    config.path = drive.path_on_host;
    config.read_only = drive.is_read_only.value_or(false);
    config.root = drive.is_root_device;
    config.cache_mode = drive.cache_type.value_or(CacheMode::kUnsafe);
    config.engine = drive.io_engine.value_or(EngineKind::kSync); // Firecracker's default
    config.overlay = drive.overlay_path;
    config.rate_limiter = to_config(drive.rate_limiter);
    return config;
}

Drive from_drive_config(const virtio::block::DriveConfig& config,
                        std::optional<std::string> partuuid) {
    Drive drive;
    drive.drive_id = config.id;
    drive.path_on_host = config.path;
    drive.is_root_device = config.root;
    drive.is_read_only = config.read_only;
    drive.partuuid = std::move(partuuid);
    drive.cache_type = config.cache_mode;
    if (config.engine != EngineKind::kAuto) drive.io_engine = config.engine;
    drive.rate_limiter = from_config(config.rate_limiter);
    drive.overlay_path = config.overlay;
    return drive;
}

} // namespace ember::api::model
