#include "api/http/http_request.hpp"

#include <algorithm>
#include <array>

namespace ember::api::http {
namespace {

struct MethodName {
    Method method;
    std::string_view name;
};

constexpr std::array kMethods{
    MethodName{Method::kGet, "GET"},         MethodName{Method::kHead, "HEAD"},
    MethodName{Method::kPost, "POST"},       MethodName{Method::kPut, "PUT"},
    MethodName{Method::kPatch, "PATCH"},     MethodName{Method::kDelete, "DELETE"},
    MethodName{Method::kOptions, "OPTIONS"}, MethodName{Method::kTrace, "TRACE"},
    MethodName{Method::kConnect, "CONNECT"},
};

char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

} // namespace

std::string_view method_name(Method method) {
    for (const auto& m : kMethods)
        if (m.method == method) return m.name;
    return "?";
}

std::optional<Method> method_from_name(std::string_view name) {
    for (const auto& m : kMethods)
        if (m.name == name) return m.method;
    return std::nullopt;
}

bool iequals(std::string_view a, std::string_view b) {
    return std::ranges::equal(a, b,
                              [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
    for (const auto& [n, v] : fields_)
        if (iequals(n, name)) return std::string_view(v);
    return std::nullopt;
}

size_t Headers::count(std::string_view name) const {
    return static_cast<size_t>(
        std::ranges::count_if(fields_, [&](const auto& f) { return iequals(f.first, name); }));
}

} // namespace ember::api::http
