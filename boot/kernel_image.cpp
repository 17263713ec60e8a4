#include "boot/kernel_image.hpp"

#include "vmm/sys/unique_fd.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <utility>

namespace ember::boot {
namespace {

// What the user should give instead; ends the "missing" and "wrong kind of file" messages.
std::string_view hint(ImageKind kind) {
    return kind == ImageKind::kKernel ? "give the path of a PVH ELF kernel"
                                      : "give the path of an initrd or initramfs image";
}

Result<UniqueFd> open_file(const std::string& path, ImageKind kind) {
    if (path.empty()) return make_error(Errc::kNotFound, "no path given ({})", hint(kind));
    // O_NONBLOCK: opening a FIFO by mistake must not hang the monitor waiting for a writer.
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd) return fd;
    if (errno == ENOENT || errno == ENOTDIR)
        return make_error(Errc::kNotFound, "no such file ({})", hint(kind));
    if (errno == EACCES || errno == EPERM)
        return sys_error(Errc::kNotFound, "cannot open it (check its permissions)");
    return sys_error(Errc::kNotFound, "cannot open it");
}

// Checks that the open file is something we can load, and returns its size.
Result<uint64_t> checked_size(int fd, ImageKind kind) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return sys_error(Errc::kOsError, "cannot stat it");
    if (S_ISDIR(st.st_mode))
        return make_error(Errc::kInvalidInput, "is a directory ({})", hint(kind));
    if (!S_ISREG(st.st_mode))
        return make_error(Errc::kInvalidInput,
                          "is not a regular file (a device, FIFO or socket?); {}", hint(kind));
    const auto size = static_cast<uint64_t>(st.st_size);
    if (size == 0) return make_error(Errc::kInvalidInput, "is empty (0 bytes); {}", hint(kind));
    if (size > kMaxImageSize)
        return make_error(Errc::kInvalidInput,
                          "is {} MiB; ember loads {} images of at most {} MiB (is it a disk "
                          "image?)",
                          (size + (1ULL << 20) - 1) >> 20, image_kind_name(kind),
                          kMaxImageSize >> 20);
    return size;
}

} // namespace

std::string_view image_kind_name(ImageKind kind) {
    return kind == ImageKind::kKernel ? "kernel" : "initrd";
}

Result<KernelImage> KernelImage::open(std::string path, ImageKind kind) {
    std::string context = fmt::format("{} '{}'", image_kind_name(kind), path);
    return with_context(map_file(std::move(path), kind), context);
}

Result<KernelImage> KernelImage::map_file(std::string path, ImageKind kind) {
    auto fd = open_file(path, kind);
    if (!fd) return tl::unexpected(std::move(fd.error()));
    auto size = checked_size(fd->get(), kind);
    if (!size) return tl::unexpected(std::move(size.error()));

    // Read-only and private: the guest gets copies, the file can never be written through us.
    void* addr = ::mmap(nullptr, *size, PROT_READ, MAP_PRIVATE, fd->get(), 0);
    if (addr == MAP_FAILED) // NOLINT(performance-no-int-to-ptr): the libc constant
        return sys_error(Errc::kOsError, "cannot map its {} bytes", *size);
    // The loader reads each page once, front to back.
    (void)::madvise(addr, *size, MADV_SEQUENTIAL);
    const std::span<const std::byte> bytes(static_cast<const std::byte*>(addr), *size);
    return KernelImage(std::move(path), kind, bytes, addr);
}

KernelImage KernelImage::from_bytes(std::string name, std::span<const std::byte> bytes,
                                    ImageKind kind) {
    return {std::move(name), kind, bytes, nullptr};
}

KernelImage::KernelImage(KernelImage&& other) noexcept
    : name_(std::move(other.name_)), kind_(other.kind_), bytes_(std::exchange(other.bytes_, {})),
      map_(std::exchange(other.map_, nullptr)) {}

KernelImage& KernelImage::operator=(KernelImage&& other) noexcept {
    if (this != &other) {
        unmap();
        name_ = std::move(other.name_);
        kind_ = other.kind_;
        bytes_ = std::exchange(other.bytes_, {});
        map_ = std::exchange(other.map_, nullptr);
    }
    return *this;
}

std::string KernelImage::context() const {
    return fmt::format("{} '{}'", image_kind_name(kind_), name_);
}

void KernelImage::unmap() {
    if (map_ != nullptr) (void)::munmap(map_, bytes_.size());
    map_ = nullptr;
    bytes_ = {};
}

} // namespace ember::boot
