#include "api/model/ids.hpp"

#include <algorithm>

namespace ember::api::model {
namespace {

constexpr size_t kShowBytes = 80;

bool id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// The id as the message shows it: printable ASCII kept, other bytes as \xNN, cut short.
std::string printable(std::string_view id) {
    std::string out;
    for (const char c : id.substr(0, kShowBytes)) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && c != '\'' && c != '\\') {
            out += c;
        } else {
            out += fmt::format("\\x{:02x}", byte);
        }
    }
    if (id.size() > kShowBytes) out += "...";
    return out;
}

} // namespace

Result<void> check_id(std::string_view where, std::string_view field, std::string_view id,
                      size_t max_bytes) {
    if (!id.empty() && id.size() <= max_bytes && std::all_of(id.begin(), id.end(), id_char))
        return {};
    return make_error(Errc::kInvalidArgument,
                      "{}: {} '{}' is not valid: use 1 to {} ASCII letters, digits or underscores",
                      where, field, printable(id), max_bytes);
}

Result<void> check_path_id(std::string_view where, std::string_view field, std::string_view path_id,
                           std::string_view body_id) {
    if (path_id == body_id) return {};
    return make_error(Errc::kInvalidArgument,
                      "{}: the id in the path ('{}') differs from {} in the body ('{}'); they "
                      "must be the same",
                      where, printable(path_id), field, printable(body_id));
}

} // namespace ember::api::model
