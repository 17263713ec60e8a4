#include "vmm/sys/mmap_region.hpp"

#include <sys/mman.h>

namespace ember {

Result<MmapRegion> MmapRegion::anonymous(size_t size) {
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (addr == MAP_FAILED) // NOLINT(performance-no-int-to-ptr): the libc constant
        return sys_error(Errc::kOsError, "cannot map {} bytes of anonymous memory", size);
    return MmapRegion(addr, size);
}

Result<MmapRegion> MmapRegion::shared(int fd, size_t size, off_t offset) {
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
    if (addr == MAP_FAILED) // NOLINT(performance-no-int-to-ptr): the libc constant
        return sys_error(Errc::kOsError, "cannot map {} bytes of fd {}", size, fd);
    return MmapRegion(addr, size);
}

void MmapRegion::reset() {
    if (addr_ != nullptr) (void)::munmap(addr_, size_);
    addr_ = nullptr;
    size_ = 0;
}

} // namespace ember
