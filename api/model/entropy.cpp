#include "api/model/entropy.hpp"

#include "api/model/codec.hpp"

namespace ember::api::model {

Result<Entropy> decode_entropy(const Json& value, const std::string& where) {
    ObjectReader r(value, where, {"rate_limiter"});
    Entropy entropy;
    entropy.rate_limiter = read_rate_limiter(r, "rate_limiter");
    EMBER_TRY_VOID(r.finish());
    return entropy;
}

Json encode(const Entropy& entropy) {
    Json j = Json::object();
    if (entropy.rate_limiter) j["rate_limiter"] = encode(*entropy.rate_limiter);
    return j;
}

Result<Entropy> parse_entropy(std::string_view body) {
    return decode_body(body, "entropy", decode_entropy);
}

std::string to_json(const Entropy& entropy) {
    return dump(encode(entropy));
}

} // namespace ember::api::model
