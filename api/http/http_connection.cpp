#include "api/http/http_connection.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace ember::api::http {

Connection::Io Connection::read_once(std::span<char> scratch) {
    for (;;) {
        const ssize_t n = ::read(fd_.get(), scratch.data(), scratch.size());
        if (n > 0) {
            parser_.feed(std::string_view(scratch.data(), static_cast<size_t>(n)));
            return Io::kOk;
        }
        if (n == 0) return Io::kPeerClosed;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return Io::kWouldBlock;
        return Io::kError;
    }
}

Connection::Io Connection::flush() {
    while (has_output()) {
        // MSG_NOSIGNAL: a client gone away must cost an EPIPE, not the process (SIGPIPE).
        const ssize_t n = ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
        if (n >= 0) {
            sent_ += static_cast<size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return Io::kWouldBlock;
        return Io::kError;
    }
    out_.clear();
    sent_ = 0;
    return Io::kOk;
}

} // namespace ember::api::http
