#include "api/model/metrics.hpp"

#include "api/model/codec.hpp"

namespace ember::api::model {

Result<Metrics> decode_metrics(const Json& value, const std::string& where) {
    ObjectReader r(value, where, {"metrics_path", "emit_id", "properties"});
    Metrics metrics;
    metrics.metrics_path = r.required_string("metrics_path");
    if (r.optional_bool("emit_id").value_or(false))
        r.fail("emit_id true is not supported by ember (it has no instance id); set false or "
               "leave it out");
    if (const Json* properties = r.optional_object("properties");
        properties && !properties->empty())
        r.fail("properties is not supported by ember yet; leave it out or send {{}}");
    EMBER_TRY_VOID(r.finish());
    return metrics;
}

Json encode(const Metrics& metrics) {
    return Json{{"metrics_path", metrics.metrics_path}};
}

Result<Metrics> parse_metrics(std::string_view body) {
    return decode_body(body, "metrics", decode_metrics);
}

std::string to_json(const Metrics& metrics) {
    return dump(encode(metrics));
}

} // namespace ember::api::model
