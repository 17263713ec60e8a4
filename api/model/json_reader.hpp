// Strict JSON reading for the API models (internal to api/model; only .cpp files include it, so
// nlohmann's large header stays out of the rest of ember).
//
// parse_document() turns a request body or config file into a JSON object: standard JSON, no
// comments, no key twice in one object (Firecracker's serde rejects duplicate fields), at most
// kMaxJsonDepth levels of nesting (Firecracker's deepest shape has 5; the limit also bounds the
// recursion of nlohmann's dump()). ObjectReader then takes the fields of one object with the
// checks every resource needs: unknown fields, types, required fields, ranges, enums. It keeps
// the first error and hands it back from finish(), so a decoder reads like the shape it decodes.
//
// Messages name the resource, the field, the value and what is allowed:
//   "machine-config: vcpu_count 0 is out of range; use 1..32"
// Every error is Errc::kInvalidArgument (an HTTP 400). nlohmann's exceptions never leave this
// layer: decode_body() catches them.
#pragma once

#include "vmm/sys/result.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ember::api::model {

using Json = nlohmann::json;

inline constexpr size_t kMaxJsonDepth = 16;

// Parses `text` as one JSON object. `where` prefixes messages ("boot-source").
Result<Json> parse_document(std::string_view text, std::string_view where);

// A short rendering of `value` for messages: JSON text, cut at about 48 characters.
[[nodiscard]] std::string show(const Json& value);
// The name of a JSON type for messages: "a string", "an integer", "null", ...
[[nodiscard]] std::string_view type_name(const Json& value);

// Rules for a string field.
struct StringRule {
    size_t max_bytes = 4096; // PATH_MAX
    bool allow_empty = false;
};
inline constexpr StringRule kPathRule{};

struct UintRange {
    uint64_t min = 0;
    uint64_t max = UINT64_MAX;
};

template <class T> struct EnumName {
    std::string_view name;
    T value;
};

// The name of `value` in `names` (empty if it has none).
template <class T, size_t N>
[[nodiscard]] std::string_view enum_name(const std::array<EnumName<T>, N>& names, T value) {
    for (const auto& n : names)
        if (n.value == value) return n.name;
    return {};
}

class ObjectReader final {
public:
    // `where` is the resource ("drives"); `prefix` the path to this object inside it
    // ("rate_limiter.bandwidth."). A value that is not an object, or has a field outside
    // `fields`, is an error.
    ObjectReader(const Json& value, std::string where, std::span<const std::string_view> fields,
                 std::string prefix = {});
    ObjectReader(const Json& value, std::string where,
                 std::initializer_list<std::string_view> fields, std::string prefix = {})
        : ObjectReader(value, std::move(where), std::span(fields.begin(), fields.size()),
                       std::move(prefix)) {}

    std::string required_string(std::string_view key, const StringRule& rule = kPathRule);
    std::optional<std::string> optional_string(std::string_view key,
                                               const StringRule& rule = kPathRule);
    bool required_bool(std::string_view key);
    std::optional<bool> optional_bool(std::string_view key);
    uint64_t required_uint(std::string_view key, UintRange range);
    std::optional<uint64_t> optional_uint(std::string_view key, UintRange range);

    template <class T, size_t N>
    std::optional<T> optional_enum(std::string_view key, const std::array<EnumName<T>, N>& names) {
        const Json* v = find(key);
        if (v == nullptr) return std::nullopt;
        if (v->is_string()) {
            for (const auto& n : names)
                if (v->get_ref<const std::string&>() == n.name) return n.value;
        }
        std::string allowed;
        size_t i = 0;
        for (const auto& n : names) {
            const char* separator = i == 0 ? "" : i + 1 == N ? " or " : ", ";
            allowed += fmt::format("{}\"{}\"", separator, n.name);
            ++i;
        }
        fail("{} {} is not valid; use {}", name(key), show(*v), allowed);
        return std::nullopt;
    }
    template <class T, size_t N>
    T required_enum(std::string_view key, const std::array<EnumName<T>, N>& names) {
        if (!present(key)) {
            missing(key);
            return names.front().value;
        }
        return optional_enum(key, names).value_or(names.front().value);
    }

    // The object under `key` (nullptr when absent, null or wrong, the latter an error).
    const Json* optional_object(std::string_view key);
    // The array under `key` (nullptr when absent, null or wrong, the latter an error).
    const Json* optional_array(std::string_view key);
    // A reader for `value`, an object found under `key`; its errors are its own until take().
    [[nodiscard]] ObjectReader nested(std::string_view key, const Json& value,
                                      std::initializer_list<std::string_view> fields) const;

    // Keeps the value of `r`, or its error if this reader has none yet.
    template <class T> std::optional<T> take(Result<T>&& r) {
        if (r) return std::move(*r);
        if (!error_) error_ = std::move(r.error());
        return std::nullopt;
    }
    void take(Result<void>&& r) {
        if (!r && !error_) error_ = std::move(r.error());
    }

    // Records an error (the first one wins); the message gets the resource prefix.
    template <class... Args> void fail(fmt::format_string<Args...> format, Args&&... args) {
        if (!error_)
            error_.emplace(
                Errc::kInvalidArgument,
                fmt::format("{}: {}", where_, fmt::format(format, std::forward<Args>(args)...)));
    }

    // True when `key` holds something other than null.
    [[nodiscard]] bool present(std::string_view key) const { return find(key) != nullptr; }
    // Fields holding something other than null.
    [[nodiscard]] size_t present_count() const;
    // The field's name in messages: prefix + key.
    [[nodiscard]] std::string name(std::string_view key) const;
    [[nodiscard]] const std::string& where() const { return where_; }
    [[nodiscard]] bool ok() const { return !error_.has_value(); }
    // The first error, if any.
    Result<void> finish();

private:
    [[nodiscard]] const Json* find(std::string_view key) const;
    void missing(std::string_view key);
    void wrong_type(std::string_view key, const Json& value, std::string_view expected);

    const Json* object_;
    std::string where_;
    std::string prefix_;
    std::optional<Error> error_;
};

// Parses `body` and decodes it with `decode`; catches nlohmann's exceptions.
template <class T>
Result<T> decode_body(std::string_view body, const std::string& where,
                      Result<T> (*decode)(const Json&, const std::string&)) {
    try {
        auto doc = parse_document(body, where);
        if (!doc) return tl::unexpected(std::move(doc.error()));
        return decode(*doc, where);
    } catch (const Json::exception& e) {
        return make_error(Errc::kInvalidArgument, "{}: {}", where, e.what());
    }
}

// `value`'s JSON text, compact; never throws on odd UTF-8 (it is replaced).
[[nodiscard]] std::string dump(const Json& value);

} // namespace ember::api::model
