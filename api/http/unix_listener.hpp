// UnixListener: the API's listening Unix stream socket, and the rules for its path.
//
// bind() refuses a path where a server answers ("another process serves PATH") and a path that
// holds anything but a socket (never unlinked: it may be a user's file); it removes a stale
// socket (connect() answers ECONNREFUSED: its server is gone). The socket is created mode 0600:
// whoever can connect controls the VM (it names kernels, disks and taps that ember opens with
// its own rights), so only the owner may.
#pragma once

#include "vmm/sys/result.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <sys/types.h>

#include <string>

namespace ember::api::http {

class UnixListener final {
public:
    // Binds and listens (non-blocking, close-on-exec) at `path`.
    static Result<UnixListener> bind(const std::string& path, int backlog);

    [[nodiscard]] int fd() const { return fd_.get(); }
    [[nodiscard]] const std::string& path() const { return path_; }

    // Closes the socket and removes its file if the path still holds the socket bound here
    // (never one that another process has put there since).
    void close_and_unlink();

private:
    UnixListener(UniqueFd fd, std::string path, dev_t dev, ino_t ino)
        : fd_(std::move(fd)), path_(std::move(path)), dev_(dev), ino_(ino) {}

    UniqueFd fd_;
    std::string path_;
    dev_t dev_;
    ino_t ino_;
};

} // namespace ember::api::http
