// Result/Error: the error type used everywhere below api/.
//
// An Error carries a category (which maps onto a documented process exit code), the errno of
// the failing system call when there is one, and a message written for the user: what failed
// and, where we know it, what to do about it.
#pragma once

#include <fmt/format.h>
#include <tl/expected.hpp>

#include <cerrno>
#include <string>
#include <utility>

namespace ember {

// Categories of failure. Each maps onto one process exit code (vmm/sys/exit_code.hpp).
enum class Errc {
    kInvalidArgument, // a command-line flag or API value out of range
    kInvalidInput,    // a malformed kernel, initrd, config or image
    kNotFound,        // a file the user named does not exist or cannot be read
    kUnavailable,     // the host lacks something we need (/dev/kvm, a KVM capability)
    kOsError,         // a system call failed for reasons outside the user's input
    kInternal,        // a bug in ember
};

class Error final {
public:
    Error(Errc code, std::string message, int sys_errno = 0)
        : code_(code), errno_(sys_errno), message_(std::move(message)) {}

    [[nodiscard]] Errc code() const { return code_; }
    [[nodiscard]] int sys_errno() const { return errno_; }
    [[nodiscard]] const std::string& message() const { return message_; }

    // Prefixes the message with where it happened: "kernel 'x.elf': " + message.
    [[nodiscard]] Error with_context(std::string_view context) && {
        message_ = fmt::format("{}: {}", context, message_);
        return std::move(*this);
    }

    // The message plus the errno text, if any: what to show the user.
    [[nodiscard]] std::string describe() const;

private:
    Errc code_;
    int errno_;
    std::string message_;
};

template <class T> using Result = tl::expected<T, Error>;

// Builds an unexpected Error with a formatted message.
template <class... Args>
[[nodiscard]] tl::unexpected<Error> make_error(Errc code, fmt::format_string<Args...> format,
                                               Args&&... args) {
    return tl::unexpected<Error>(Error(code, fmt::format(format, std::forward<Args>(args)...)));
}

// Builds an unexpected Error for a failed system call; captures errno at the call site.
template <class... Args>
[[nodiscard]] tl::unexpected<Error> sys_error(Errc code, fmt::format_string<Args...> format,
                                              Args&&... args) {
    const int saved = errno;
    return tl::unexpected<Error>(
        Error(code, fmt::format(format, std::forward<Args>(args)...), saved));
}

// Adds context to the error of a Result, leaving a value untouched.
template <class T> Result<T> with_context(Result<T>&& r, std::string_view context) {
    if (r) return std::move(r);
    return tl::unexpected<Error>(std::move(r.error()).with_context(context));
}

} // namespace ember

// Propagates an error from an expression of type Result<T>; yields nothing.
#define EMBER_TRY_VOID(expr)                                                                       \
    do {                                                                                           \
        if (auto ember_try_r_ = (expr); !ember_try_r_)                                             \
            return tl::unexpected<::ember::Error>(std::move(ember_try_r_.error()));                \
    } while (false)
