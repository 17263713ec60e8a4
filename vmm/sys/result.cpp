#include "vmm/sys/result.hpp"

#include <cstring>

namespace ember {

std::string Error::describe() const {
    if (errno_ == 0) return message_;
    return fmt::format("{}: {}", message_, std::strerror(errno_));
}

} // namespace ember
