#include "api/model/serial.hpp"

#include "api/model/codec.hpp"

namespace ember::api::model {

Result<Serial> decode_serial(const Json& value, const std::string& where) {
    ObjectReader r(value, where, {"serial_out_path", "rate_limiter"});
    Serial serial;
    serial.serial_out_path = r.optional_string("serial_out_path");
    if (r.present("rate_limiter"))
        r.fail("rate_limiter is not supported by ember's serial port yet; leave it out");
    EMBER_TRY_VOID(r.finish());
    return serial;
}

Json encode(const Serial& serial) {
    Json j = Json::object();
    if (serial.serial_out_path) j["serial_out_path"] = *serial.serial_out_path;
    return j;
}

Result<Serial> parse_serial(std::string_view body) {
    return decode_body(body, "serial", decode_serial);
}

std::string to_json(const Serial& serial) {
    return dump(encode(serial));
}

SerialConfig to_serial_config(const Serial& serial) {
    if (serial.serial_out_path)
        return SerialConfig{SerialConfig::Mode::kFile, *serial.serial_out_path};
    return SerialConfig{SerialConfig::Mode::kStdout, {}};
}

} // namespace ember::api::model
