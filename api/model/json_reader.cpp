#include "api/model/json_reader.hpp"

#include <algorithm>
#include <unordered_set>
#include <vector>

namespace ember::api::model {
namespace {

constexpr size_t kShowChars = 48;
constexpr size_t kParseMessageChars = 200;

// nlohmann's what() starts with "[json.exception.parse_error.101] "; users need the rest.
std::string parse_message(const Json::exception& e) {
    std::string_view text = e.what();
    if (const size_t end = text.find("] ");
        text.starts_with("[json.") && end != std::string_view::npos)
        text.remove_prefix(end + 2);
    // "last read" quotes the input, which may not be UTF-8: keep printable ASCII only.
    std::string out;
    for (const char c : text.substr(0, kParseMessageChars)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f) {
            out += c;
        } else {
            out += fmt::format("\\x{:02x}", byte);
        }
    }
    if (text.size() > kParseMessageChars) out += "...";
    return out;
}

} // namespace

std::string dump(const Json& value) {
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string show(const Json& value) {
    std::string text = dump(value);
    if (text.size() > kShowChars) {
        text.resize(kShowChars);
        text += "...";
    }
    return text;
}

std::string_view type_name(const Json& value) {
    switch (value.type()) {
    case Json::value_t::null:
        return "null";
    case Json::value_t::object:
        return "an object";
    case Json::value_t::array:
        return "an array";
    case Json::value_t::string:
        return "a string";
    case Json::value_t::boolean:
        return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
        return "an integer";
    case Json::value_t::number_float:
        return "a number with a fraction or exponent";
    case Json::value_t::binary:
    case Json::value_t::discarded:
        break;
    }
    return "an unknown value";
}

Result<Json> parse_document(std::string_view text, std::string_view where) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
        return make_error(Errc::kInvalidArgument, "{}: the body is empty; send a JSON object",
                          where);
    // The callback sees every object's keys in order; it never discards anything, so that
    // start and end events stay paired, and only records the first problem.
    std::string problem;
    std::vector<std::unordered_set<std::string>> keys;
    size_t depth = 0;
    auto check = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
        switch (event) {
        case Json::parse_event_t::object_start:
        case Json::parse_event_t::array_start:
            if (++depth > kMaxJsonDepth && problem.empty())
                problem = fmt::format("nesting deeper than {} levels", kMaxJsonDepth);
            if (event == Json::parse_event_t::object_start) keys.emplace_back();
            break;
        case Json::parse_event_t::object_end:
        case Json::parse_event_t::array_end:
            --depth;
            if (event == Json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
            break;
        case Json::parse_event_t::key:
            if (!keys.empty() && parsed.is_string() &&
                !keys.back().insert(parsed.get_ref<const std::string&>()).second && problem.empty())
                problem = fmt::format("field {} appears twice", show(parsed));
            break;
        case Json::parse_event_t::value:
            break;
        }
        return true;
    };
    Json doc;
    try {
        doc = Json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/true,
                          /*ignore_comments=*/false);
    } catch (const Json::exception& e) {
        return make_error(Errc::kInvalidArgument, "{}: the body is not valid JSON: {}", where,
                          parse_message(e));
    }
    if (!problem.empty())
        return make_error(Errc::kInvalidArgument, "{}: the body is not accepted: {}", where,
                          problem);
    if (!doc.is_object())
        return make_error(Errc::kInvalidArgument, "{}: the body must be a JSON object, not {}",
                          where, type_name(doc));
    return doc;
}

// --- ObjectReader ---

ObjectReader::ObjectReader(const Json& value, std::string where,
                           std::span<const std::string_view> fields, std::string prefix)
    : object_(&value), where_(std::move(where)), prefix_(std::move(prefix)) {
    if (!value.is_object()) {
        if (prefix_.empty()) {
            fail("must be a JSON object, not {}", type_name(value));
        } else {
            std::string_view self = prefix_;
            self.remove_suffix(1); // the '.'
            fail("{} must be an object, not {}", self, type_name(value));
        }
        object_ = nullptr;
        return;
    }
    for (const auto& item : value.items()) {
        const std::string& key = item.key();
        if (std::find(fields.begin(), fields.end(), key) != fields.end()) continue;
        std::string allowed;
        for (const auto field : fields)
            allowed += fmt::format("{}{}", allowed.empty() ? "" : ", ", field);
        fail("unknown field {}; the fields are {}", show(Json(prefix_ + key)), allowed);
        return;
    }
}

const Json* ObjectReader::find(std::string_view key) const {
    if (object_ == nullptr) return nullptr;
    const auto it = object_->find(key);
    if (it == object_->end() || it->is_null()) return nullptr;
    return &*it;
}

size_t ObjectReader::present_count() const {
    if (object_ == nullptr) return 0;
    return static_cast<size_t>(std::count_if(object_->begin(), object_->end(),
                                             [](const Json& v) { return !v.is_null(); }));
}

std::string ObjectReader::name(std::string_view key) const {
    return prefix_ + std::string(key);
}

void ObjectReader::missing(std::string_view key) {
    if (object_ == nullptr) return; // the object itself is wrong, already reported
    const auto it = object_->find(key);
    if (it != object_->end()) {
        fail("{} must not be null", name(key));
    } else {
        fail("{} is required", name(key));
    }
}

void ObjectReader::wrong_type(std::string_view key, const Json& value, std::string_view expected) {
    fail("{} must be {}, not {} ({})", name(key), expected, type_name(value), show(value));
}

std::optional<std::string> ObjectReader::optional_string(std::string_view key,
                                                         const StringRule& rule) {
    const Json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
        wrong_type(key, *v, "a string");
        return std::nullopt;
    }
    const auto& s = v->get_ref<const std::string&>();
    if (s.empty() && !rule.allow_empty) {
        fail("{} must not be empty", name(key));
        return std::nullopt;
    }
    if (s.size() > rule.max_bytes) {
        fail("{} is {} bytes long; at most {} are allowed", name(key), s.size(), rule.max_bytes);
        return std::nullopt;
    }
    if (s.find('\0') != std::string::npos) {
        fail("{} {} contains a NUL character", name(key), show(*v));
        return std::nullopt;
    }
    return s;
}

std::string ObjectReader::required_string(std::string_view key, const StringRule& rule) {
    if (!present(key)) {
        missing(key);
        return {};
    }
    return optional_string(key, rule).value_or(std::string{});
}

std::optional<bool> ObjectReader::optional_bool(std::string_view key) {
    const Json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) {
        wrong_type(key, *v, "a boolean (true or false)");
        return std::nullopt;
    }
    return v->get<bool>();
}

bool ObjectReader::required_bool(std::string_view key) {
    if (!present(key)) {
        missing(key);
        return false;
    }
    return optional_bool(key).value_or(false);
}

std::optional<uint64_t> ObjectReader::optional_uint(std::string_view key, UintRange range) {
    const Json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer()) {
        wrong_type(key, *v, "an integer");
        return std::nullopt;
    }
    if (v->is_number_unsigned() || v->get<int64_t>() >= 0) {
        const uint64_t n =
            v->is_number_unsigned() ? v->get<uint64_t>() : static_cast<uint64_t>(v->get<int64_t>());
        if (n >= range.min && n <= range.max) return n;
    }
    fail("{} {} is out of range; use {}..{}", name(key), show(*v), range.min, range.max);
    return std::nullopt;
}

uint64_t ObjectReader::required_uint(std::string_view key, UintRange range) {
    if (!present(key)) {
        missing(key);
        return range.min;
    }
    return optional_uint(key, range).value_or(range.min);
}

const Json* ObjectReader::optional_object(std::string_view key) {
    const Json* v = find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_object()) {
        wrong_type(key, *v, "an object");
        return nullptr;
    }
    return v;
}

const Json* ObjectReader::optional_array(std::string_view key) {
    const Json* v = find(key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) {
        wrong_type(key, *v, "an array");
        return nullptr;
    }
    return v;
}

ObjectReader ObjectReader::nested(std::string_view key, const Json& value,
                                  std::initializer_list<std::string_view> fields) const {
    return {value, where_, fields, name(key) + "."};
}

Result<void> ObjectReader::finish() {
    if (error_) return tl::unexpected(std::move(*error_));
    return {};
}

} // namespace ember::api::model
