// Helpers for the api/model tests: the value of a Result that must succeed, the message of one
// that must fail with Errc::kInvalidArgument, and substring checks on messages.
#pragma once

#include "vmm/sys/result.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace ember::api::model::testing {

template <class T> T value_of(Result<T> r) {
    EXPECT_TRUE(r.has_value()) << r.error().describe();
    if (!r) return T{};
    return std::move(*r);
}

template <class T> std::string error_of(const Result<T>& r, Errc code = Errc::kInvalidArgument) {
    EXPECT_FALSE(r.has_value());
    if (r) return {};
    EXPECT_EQ(r.error().code(), code) << r.error().message();
    return r.error().message();
}

// True when `text` contains every one of `parts`; prints `text` otherwise.
inline ::testing::AssertionResult has_all(std::string_view text,
                                          std::initializer_list<std::string_view> parts) {
    for (const auto part : parts)
        if (text.find(part) == std::string_view::npos)
            return ::testing::AssertionFailure() << "'" << part << "' not in: " << text;
    return ::testing::AssertionSuccess();
}

} // namespace ember::api::model::testing
