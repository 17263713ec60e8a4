// Test helpers for the API server: unique socket paths under EMBER_TEST_TMPDIR, and a tiny
// raw-socket HTTP client that can send anything (malformed requests included) and reads replies
// with a timeout, so a server bug fails a test instead of hanging it.
#pragma once

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#ifndef EMBER_TEST_TMPDIR
#define EMBER_TEST_TMPDIR "/tmp"
#endif

namespace ember::api::http::testing {

// A socket path unique to this process and call, removed (if still there) at scope exit.
class TempSocketPath {
public:
    TempSocketPath() {
        static std::atomic<int> counter{0};
        ::mkdir(EMBER_TEST_TMPDIR, 0700); // may exist already
        path_ = std::string(EMBER_TEST_TMPDIR) + "/api-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++) + ".sock";
        ::unlink(path_.c_str());
    }
    ~TempSocketPath() { ::unlink(path_.c_str()); }
    TempSocketPath(const TempSocketPath&) = delete;
    TempSocketPath& operator=(const TempSocketPath&) = delete;
    TempSocketPath(TempSocketPath&&) = delete;
    TempSocketPath& operator=(TempSocketPath&&) = delete;

    [[nodiscard]] const std::string& str() const { return path_; }
    [[nodiscard]] bool exists() const {
        struct stat st {};
        return ::lstat(path_.c_str(), &st) == 0;
    }

private:
    std::string path_;
};

struct HttpReply {
    int status = 0;
    std::string head; // status line and fields
    std::string body;
    [[nodiscard]] bool has_field(std::string_view line) const {
        return head.find(std::string("\r\n") + std::string(line) + "\r\n") != std::string::npos;
    }
};

inline int connect_unix(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    // Safety: sockaddr_un is an address type connect() takes as a sockaddr.
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

class RawClient {
public:
    explicit RawClient(const std::string& path) : fd_(connect_unix(path)) {}
    ~RawClient() { close(); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;
    RawClient(RawClient&&) = delete;
    RawClient& operator=(RawClient&&) = delete;

    [[nodiscard]] bool connected() const { return fd_ >= 0; }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    void shutdown_write() const { ::shutdown(fd_, SHUT_WR); }

    bool send(std::string_view bytes) const {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<size_t>(n));
        }
        return true;
    }

    // Reads until `n` bytes are buffered; false on EOF, error or timeout.
    bool fill(size_t n, int timeout_ms = 5000) {
        std::array<char, 65536> chunk{};
        while (buffer_.size() < n) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, timeout_ms) != 1) return false;
            const ssize_t got = ::read(fd_, chunk.data(), chunk.size());
            if (got <= 0) return false;
            buffer_.append(chunk.data(), static_cast<size_t>(got));
        }
        return true;
    }

    // The next reply (framed by Content-Length; none means no body; `to_head`: a reply to HEAD,
    // never a body); nullopt on EOF or timeout.
    std::optional<HttpReply> read_reply(int timeout_ms = 5000, bool to_head = false) {
        size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
            if (!fill(buffer_.size() + 1, timeout_ms)) return std::nullopt;
        HttpReply reply;
        reply.head = buffer_.substr(0, end + 2);
        if (reply.head.size() < 12 || !reply.head.starts_with("HTTP/1.1 ")) return std::nullopt;
        reply.status = std::stoi(reply.head.substr(9, 3));
        size_t length = 0;
        if (const size_t at = reply.head.find("\r\nContent-Length: ");
            at != std::string::npos && !to_head)
            length = std::stoul(reply.head.substr(at + 18));
        if (!fill(end + 4 + length, timeout_ms)) return std::nullopt;
        reply.body = buffer_.substr(end + 4, length);
        buffer_.erase(0, end + 4 + length);
        return reply;
    }

    // True when the server closed the connection (EOF) with nothing more to read.
    bool at_eof(int timeout_ms = 5000) {
        if (!buffer_.empty()) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) != 1) return false;
        char c;
        return ::read(fd_, &c, 1) == 0;
    }

    // One request/reply on this connection.
    std::optional<HttpReply> request(std::string_view bytes) {
        if (!send(bytes)) return std::nullopt;
        return read_reply();
    }

private:
    int fd_;
    std::string buffer_;
};

inline std::string get(std::string_view path) {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
}

inline std::string put(std::string_view path, std::string_view body) {
    return "PUT " + std::string(path) +
           " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + std::string(body);
}

} // namespace ember::api::http::testing
