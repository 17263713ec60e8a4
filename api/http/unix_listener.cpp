#include "api/http/unix_listener.hpp"

#include "vmm/sys/logger.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>

namespace ember::api::http {
namespace {

constexpr mode_t kSocketMode = 0600;

Result<sockaddr_un> address_of(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty()) return make_error(Errc::kInvalidArgument, "the API socket path is empty");
    if (path.size() >= sizeof(addr.sun_path))
        return make_error(Errc::kInvalidArgument,
                          "API socket path '{}' is {} bytes long; Unix sockets allow at most {}",
                          path, path.size(), sizeof(addr.sun_path) - 1);
    if (path.find('\0') != std::string::npos)
        return make_error(Errc::kInvalidArgument, "API socket path '{}' contains a NUL byte", path);
    std::ranges::copy(path, std::begin(addr.sun_path));
    return addr;
}

Result<UniqueFd> unix_socket() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return sys_error(Errc::kOsError, "socket(AF_UNIX)");
    return fd;
}

// Safety: sockaddr_un is one of the address types the socket calls take as a sockaddr.
const sockaddr* as_sockaddr(const sockaddr_un& addr) {
    return reinterpret_cast<const sockaddr*>(&addr);
}

// Clears the way for bind(): nothing at the path, or a stale socket that we remove.
Result<void> claim_path(const std::string& path, const sockaddr_un& addr) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};
        return sys_error(Errc::kInvalidArgument, "API socket path '{}'", path);
    }
    if (!S_ISSOCK(st.st_mode))
        return make_error(Errc::kInvalidArgument,
                          "API socket path '{}' exists and is not a socket; remove it or choose "
                          "another path",
                          path);
    auto probe = unix_socket();
    if (!probe) return tl::unexpected(std::move(probe.error()));
    // Non-blocking: a live server with a full backlog answers EAGAIN instead of blocking us.
    if (::connect(probe->get(), as_sockaddr(addr), sizeof(addr)) == 0 || errno == EAGAIN ||
        errno == EINPROGRESS)
        return make_error(Errc::kInvalidArgument,
                          "another process serves {}; stop it or choose another API socket path",
                          path);
    if (errno != ECONNREFUSED)
        return sys_error(Errc::kInvalidArgument, "cannot probe the existing socket '{}'", path);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        return sys_error(Errc::kInvalidArgument, "cannot remove the stale socket '{}'", path);
    log::info("api: removed the stale socket {}", path);
    return {};
}

} // namespace

Result<UnixListener> UnixListener::bind(const std::string& path, int backlog) {
    auto addr = address_of(path);
    if (!addr) return tl::unexpected(std::move(addr.error()));
    EMBER_TRY_VOID(claim_path(path, *addr));
    auto fd = unix_socket();
    if (!fd) return tl::unexpected(std::move(fd.error()));
    // The mode of a socket file is the socket inode's mode less the umask, taken at bind(): set
    // it first, so the file never exists with wider permissions (no process-wide umask change,
    // which would race with other threads creating files).
    if (::fchmod(fd->get(), kSocketMode) != 0)
        return sys_error(Errc::kOsError, "fchmod of the API socket");
    if (::bind(fd->get(), as_sockaddr(*addr), sizeof(*addr)) != 0) {
        if (errno == EADDRINUSE)
            return sys_error(Errc::kInvalidArgument,
                             "API socket path '{}' was taken while ember started", path);
        return sys_error(Errc::kInvalidArgument, "cannot bind the API socket '{}'", path);
    }
    struct stat st {};
    // A umask stricter than 0600 (say 0277) would lock the owner out too: restore exactly 0600.
    if (::chmod(path.c_str(), kSocketMode) != 0 || ::lstat(path.c_str(), &st) != 0) {
        const auto err = sys_error(Errc::kOsError, "cannot set the mode of '{}'", path);
        ::unlink(path.c_str());
        return err;
    }
    if (::listen(fd->get(), backlog) != 0) {
        const auto err = sys_error(Errc::kOsError, "listen on '{}'", path);
        ::unlink(path.c_str());
        return err;
    }
    return UnixListener(std::move(*fd), path, st.st_dev, st.st_ino);
}

void UnixListener::close_and_unlink() {
    if (!fd_) return;
    fd_.reset();
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_)
        ::unlink(path_.c_str());
}

} // namespace ember::api::http
