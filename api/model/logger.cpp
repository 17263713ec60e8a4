#include "api/model/logger.hpp"

#include "api/model/codec.hpp"

#include <algorithm>
#include <array>

namespace ember::api::model {
namespace {

constexpr std::array<EnumName<LogLevel>, 5> kLevels{{
    {"Error", LogLevel::kError},
    {"Warn", LogLevel::kWarn},
    {"Info", LogLevel::kInfo},
    {"Debug", LogLevel::kDebug},
    {"Trace", LogLevel::kTrace},
}};

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return text;
}

std::optional<LogLevel> read_level(ObjectReader& r) {
    const auto text = r.optional_string("level", {.max_bytes = SIZE_MAX, .allow_empty = true});
    if (!text) return std::nullopt;
    const std::string key = lower(*text);
    if (key == "warning") return LogLevel::kWarn;
    for (const auto& n : kLevels)
        if (key == lower(std::string(n.name))) return n.value;
    if (key == "off")
        r.fail("level \"Off\" is not supported by ember (it always logs errors); use \"Error\"");
    else
        r.fail("level {} is not valid; use \"Error\", \"Warning\", \"Info\", \"Debug\" or "
               "\"Trace\" (any case)",
               show(Json(*text)));
    return std::nullopt;
}

} // namespace

Result<Logger> decode_logger(const Json& value, const std::string& where) {
    ObjectReader r(value, where, {"log_path", "level", "show_level", "show_log_origin", "module"});
    Logger logger;
    logger.log_path = r.optional_string("log_path");
    logger.level = read_level(r);
    logger.show_level = r.optional_bool("show_level");
    logger.show_log_origin = r.optional_bool("show_log_origin");
    if (r.present("module"))
        r.fail("module is not supported by ember (its log lines carry no module paths to filter "
               "on); leave it out");
    EMBER_TRY_VOID(r.finish());
    return logger;
}

Json encode(const Logger& logger) {
    Json j = Json::object();
    if (logger.log_path) j["log_path"] = *logger.log_path;
    if (logger.level) j["level"] = enum_name(kLevels, *logger.level);
    if (logger.show_level) j["show_level"] = *logger.show_level;
    if (logger.show_log_origin) j["show_log_origin"] = *logger.show_log_origin;
    return j;
}

Result<Logger> parse_logger(std::string_view body) {
    return decode_body(body, "logger", decode_logger);
}

std::string to_json(const Logger& logger) {
    return dump(encode(logger));
}

log::Level to_log_level(LogLevel level) {
    switch (level) {
    case LogLevel::kError:
        return log::Level::kError;
    case LogLevel::kWarn:
        return log::Level::kWarn;
    case LogLevel::kInfo:
        return log::Level::kInfo;
    case LogLevel::kDebug:
    case LogLevel::kTrace:
        return log::Level::kDebug;
    }
    return log::Level::kDebug;
}

} // namespace ember::api::model
