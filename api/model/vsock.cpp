#include "api/model/vsock.hpp"

#include "api/model/codec.hpp"

namespace ember::api::model {

Result<Vsock> decode_vsock(const Json& value, const std::string& where) {
    ObjectReader r(value, where, {"guest_cid", "uds_path", "vsock_id"});
    Vsock vsock;
    vsock.guest_cid = static_cast<uint32_t>(r.required_uint("guest_cid", {3, UINT32_MAX - 1}));
    vsock.uds_path =
        r.required_string("uds_path", {.max_bytes = kMaxUdsPathBytes, .allow_empty = false});
    vsock.vsock_id = r.optional_string("vsock_id", {.max_bytes = SIZE_MAX, .allow_empty = true});
    EMBER_TRY_VOID(r.finish());
    return vsock;
}

Json encode(const Vsock& vsock) {
    Json j{{"guest_cid", vsock.guest_cid}, {"uds_path", vsock.uds_path}};
    if (vsock.vsock_id) j["vsock_id"] = *vsock.vsock_id;
    return j;
}

Result<Vsock> parse_vsock(std::string_view body) {
    return decode_body(body, "vsock", decode_vsock);
}

std::string to_json(const Vsock& vsock) {
    return dump(encode(vsock));
}

} // namespace ember::api::model
