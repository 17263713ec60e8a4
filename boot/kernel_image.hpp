// KernelImage: the bytes of a boot image (a kernel or an initrd), read-only.
//
// A file is mapped read-only and private rather than read into a buffer: the loader copies each
// byte once, from the page cache into guest memory, and the process never holds a second
// anonymous copy of the image. Drop the KernelImage once the guest is loaded to unmap it.
//
// The mapping is only as stable as the file: truncating it while ember loads it makes the copy
// fault (SIGBUS). Boot images are the operator's own files, so this is documented, not defended.
#pragma once

#include "vmm/sys/result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace ember::boot {

// What an image is for; it picks the words of error messages.
enum class ImageKind { kKernel, kInitrd };

[[nodiscard]] std::string_view image_kind_name(ImageKind kind);

// Larger images are refused: no microVM kernel or initrd comes close, and a typo (a disk image
// given as the kernel) should fail fast with a clear message.
inline constexpr uint64_t kMaxImageSize = 1ULL << 30;

class KernelImage final {
public:
    // Maps the file at `path`. Errors (each message starts with "<kind> '<path>': "):
    // kNotFound for a missing or unreadable file, kInvalidInput for a directory, a non-regular
    // file, an empty file or one over kMaxImageSize, kOsError when mmap fails.
    static Result<KernelImage> open(std::string path, ImageKind kind = ImageKind::kKernel);
    // Wraps bytes that outlive the image (the guest embedded in the binary). Nothing is copied.
    static KernelImage from_bytes(std::string name, std::span<const std::byte> bytes,
                                  ImageKind kind = ImageKind::kKernel);

    ~KernelImage() { unmap(); }
    KernelImage(const KernelImage&) = delete;
    KernelImage& operator=(const KernelImage&) = delete;
    KernelImage(KernelImage&& other) noexcept;
    KernelImage& operator=(KernelImage&& other) noexcept;

    [[nodiscard]] const std::string& name() const { return name_; }
    [[nodiscard]] ImageKind kind() const { return kind_; }
    [[nodiscard]] std::span<const std::byte> bytes() const { return bytes_; }
    // "kernel 'x.elf'": the prefix of every error about this image.
    [[nodiscard]] std::string context() const;

private:
    KernelImage(std::string name, ImageKind kind, std::span<const std::byte> bytes, void* map)
        : name_(std::move(name)), kind_(kind), bytes_(bytes), map_(map) {}
    static Result<KernelImage> map_file(std::string path, ImageKind kind);
    void unmap();

    std::string name_;
    ImageKind kind_ = ImageKind::kKernel;
    std::span<const std::byte> bytes_;
    void* map_ = nullptr; // our mapping of bytes_ (nullptr: from_bytes), unmapped on destruction
};

} // namespace ember::boot
