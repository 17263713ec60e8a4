// Helpers for the router and controller tests: requests built by hand, the fault_message of a
// reply, a reply's header field, and a directory under EMBER_TEST_TMPDIR removed with its files.
#pragma once

#include "api/http/http_request.hpp"
#include "api/http/http_response.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#ifndef EMBER_TEST_TMPDIR
#define EMBER_TEST_TMPDIR "/tmp"
#endif

namespace ember::api::testing {

inline http::Request request(http::Method method, std::string path, std::string body = {}) {
    http::Request r;
    r.method = method;
    r.path = std::move(path);
    r.body = std::move(body);
    return r;
}

// The reply's fault_message; fails the test when the body is not a fault.
inline std::string fault_of(const http::Response& response) {
    const auto json = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(json.is_object() && json.size() == 1 && json.contains("fault_message") &&
                json["fault_message"].is_string())
        << "not a fault body: " << response.body;
    if (!json.is_object() || !json.contains("fault_message") || !json["fault_message"].is_string())
        return {};
    return json["fault_message"].get<std::string>();
}

inline std::optional<std::string> header_of(const http::Response& response, std::string_view name) {
    for (const auto& [field, value] : response.headers)
        if (http::iequals(field, name)) return value;
    return std::nullopt;
}

// A fresh directory under EMBER_TEST_TMPDIR; it and the files in it are removed at the end.
class TempDir {
public:
    TempDir() {
        ::mkdir(EMBER_TEST_TMPDIR, 0700); // may exist already
        std::string pattern = std::string(EMBER_TEST_TMPDIR) + "/api-XXXXXX";
        EXPECT_NE(::mkdtemp(pattern.data()), nullptr) << "mkdtemp in " << EMBER_TEST_TMPDIR;
        path_ = pattern;
    }
    ~TempDir() {
        if (DIR* dir = ::opendir(path_.c_str())) {
            while (const dirent* entry = ::readdir(dir)) {
                const std::string name = entry->d_name;
                if (name != "." && name != "..") ::unlink((path_ + "/" + name).c_str());
            }
            ::closedir(dir);
        }
        ::rmdir(path_.c_str());
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&&) = delete;
    TempDir& operator=(TempDir&&) = delete;

    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] std::string file(std::string_view name) const {
        return path_ + "/" + std::string(name);
    }

private:
    std::string path_;
};

// The whole content of a file ("" when it does not exist).
inline std::string read_file(const std::string& path) {
    std::string out;
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return out;
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
        out.append(buf.data(), n);
    std::fclose(f);
    return out;
}

} // namespace ember::api::testing
