// Request: one parsed HTTP/1.1 request (RequestParser makes them), with its method, target,
// version, headers and body.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::api::http {

// The methods of RFC 9110. Method names are case-sensitive: "get" is not GET.
enum class Method { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kTrace, kConnect };

[[nodiscard]] std::string_view method_name(Method method);
// The method named by a request line's token; nullopt for a name we do not know (→ 501).
[[nodiscard]] std::optional<Method> method_from_name(std::string_view name);

enum class Version { kHttp10, kHttp11 };

[[nodiscard]] bool iequals(std::string_view a, std::string_view b);

// Header fields in arrival order. Names compare case-insensitively (RFC 9110 §5.1); the parser
// has already checked that names are tokens and values hold no control characters.
class Headers final {
public:
    void add(std::string name, std::string value) {
        fields_.emplace_back(std::move(name), std::move(value));
    }
    // The value of the first field called `name`, if any.
    [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const;
    [[nodiscard]] size_t count(std::string_view name) const;
    [[nodiscard]] size_t size() const { return fields_.size(); }
    [[nodiscard]] const std::vector<std::pair<std::string, std::string>>& fields() const {
        return fields_;
    }

private:
    std::vector<std::pair<std::string, std::string>> fields_;
};

struct Request {
    Method method = Method::kGet;
    // The path of the target ("/drives/rootfs"), never empty; an absolute-form target
    // ("http://localhost/vm") is reduced to its path. No percent-decoding: Firecracker's paths
    // and ids are plain ASCII.
    std::string path;
    // What followed '?' in the target, without the '?'; empty when there was none.
    std::string query;
    Version version = Version::kHttp11;
    Headers headers;
    std::string body;
    // Whether the connection stays open after the reply: HTTP/1.1 unless "Connection: close",
    // HTTP/1.0 only with "Connection: keep-alive".
    bool keep_alive = true;
};

} // namespace ember::api::http
