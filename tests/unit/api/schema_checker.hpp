// A small checker for the OpenAPI 3.0 schema subset docs/openapi.json uses: $ref, anyOf,
// nullable, enum, type, required, properties, additionalProperties, min/maxProperties, items,
// minLength, maxLength, pattern, minimum, maximum. Enough to tell whether a sample body matches
// a schema, so the document can be checked against ember's parsers (openapi_test.cpp); not a
// general validator.
#pragma once

#include <nlohmann/json.hpp>

#include <regex>
#include <string>

namespace ember::api::testing {

class SchemaChecker final {
public:
    using Json = nlohmann::json;

    explicit SchemaChecker(const Json& doc) : doc_(doc) {}

    // The schema `schema` stands for: its $ref followed, or itself.
    [[nodiscard]] const Json& resolve(const Json& schema) const {
        if (!schema.contains("$ref")) return schema;
        const std::string ref = schema.at("$ref").get<std::string>();
        return resolve(doc_.at(Json::json_pointer(ref.substr(1))));
    }

    // The schema an optional field wraps ({"anyOf": [{"$ref": ...}, <null only>]}).
    [[nodiscard]] const Json& unwrap(const Json& schema) const {
        const Json& s = resolve(schema);
        if (s.contains("anyOf")) return unwrap(s.at("anyOf").at(0));
        return s;
    }

    // Empty when `value` matches `schema`, else the first reason it does not (`at` names where).
    [[nodiscard]] std::string check(const Json& schema, const Json& value,
                                    const std::string& at = "body") const {
        const Json& s = resolve(schema);
        if (s.contains("anyOf")) {
            for (const Json& part : s.at("anyOf"))
                if (check(part, value, at).empty()) return {};
            return at + ": " + value.dump() + " matches no schema of anyOf";
        }
        if (value.is_null())
            return s.value("nullable", false) ? std::string() : at + ": null is not allowed";
        if (s.contains("enum") && !contains(s.at("enum"), value))
            return at + ": " + value.dump() + " is not in the enum";
        if (s.contains("type")) {
            if (auto why = check_type(s.at("type").get<std::string>(), value, at); !why.empty())
                return why;
        }
        if (value.is_string()) return check_string(s, value.get<std::string>(), at);
        if (value.is_number()) return check_number(s, value.get<double>(), at);
        if (value.is_object()) return check_object(s, value, at);
        if (value.is_array() && s.contains("items")) {
            for (size_t i = 0; i < value.size(); ++i)
                if (auto why = check(s.at("items"), value[i], at + "/" + std::to_string(i));
                    !why.empty())
                    return why;
        }
        return {};
    }

private:
    static bool contains(const Json& list, const Json& value) {
        for (const Json& v : list)
            if (v == value) return true;
        return false;
    }

    static std::string check_type(const std::string& type, const Json& value,
                                  const std::string& at) {
        const bool ok =
            (type == "object" && value.is_object()) || (type == "array" && value.is_array()) ||
            (type == "string" && value.is_string()) || (type == "boolean" && value.is_boolean()) ||
            (type == "integer" && value.is_number_integer()) ||
            (type == "number" && value.is_number());
        return ok ? std::string() : at + ": " + value.dump() + " is not of type " + type;
    }

    static std::string check_string(const Json& s, const std::string& text, const std::string& at) {
        if (s.contains("minLength") && text.size() < s.at("minLength").get<size_t>())
            return at + ": shorter than minLength";
        if (s.contains("maxLength") && text.size() > s.at("maxLength").get<size_t>())
            return at + ": longer than maxLength";
        if (s.contains("pattern") &&
            !std::regex_search(text, std::regex(s.at("pattern").get<std::string>())))
            return at + ": '" + text + "' does not match " + s.at("pattern").get<std::string>();
        return {};
    }

    static std::string check_number(const Json& s, double v, const std::string& at) {
        if (s.contains("minimum") && v < s.at("minimum").get<double>())
            return at + ": below minimum";
        if (s.contains("maximum") && v > s.at("maximum").get<double>())
            return at + ": above maximum";
        return {};
    }

    std::string check_object(const Json& s, const Json& value, const std::string& at) const {
        if (s.contains("minProperties") && value.size() < s.at("minProperties").get<size_t>())
            return at + ": fewer properties than minProperties";
        if (s.contains("maxProperties") && value.size() > s.at("maxProperties").get<size_t>())
            return at + ": more properties than maxProperties";
        if (s.contains("required"))
            for (const Json& key : s.at("required"))
                if (!value.contains(key.get<std::string>()))
                    return at + ": " + key.get<std::string>() + " is required";
        const Json empty = Json::object();
        const Json& props = s.contains("properties") ? s.at("properties") : empty;
        for (const auto& [key, v] : value.items()) {
            const std::string where = at + "/" + key;
            if (props.contains(key)) {
                if (auto why = check(props.at(key), v, where); !why.empty()) return why;
                continue;
            }
            const Json extra = s.value("additionalProperties", Json(true));
            if (extra.is_boolean() && !extra.get<bool>()) return where + ": unknown field";
            if (extra.is_object())
                if (auto why = check(extra, v, where); !why.empty()) return why;
        }
        return {};
    }

    const Json& doc_;
};

} // namespace ember::api::testing
