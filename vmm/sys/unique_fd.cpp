#include "vmm/sys/unique_fd.hpp"

#include <unistd.h>

namespace ember {

void UniqueFd::reset(int fd) {
    if (fd_ >= 0) {
        // close() releases the descriptor even when it reports EINTR; never retry.
        (void)::close(fd_);
    }
    fd_ = fd;
}

} // namespace ember
