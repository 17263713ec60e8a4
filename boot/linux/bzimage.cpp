#include "boot/linux/bzimage.hpp"

#include <algorithm>
#include <cstring>

namespace ember::boot {
namespace {

constexpr size_t kSectorSize = 512;
constexpr uint8_t kDefaultSetupSects = 4; // setup_sects 0 means 4 (boot.rst)
constexpr size_t kHeaderEnd = kSetupHeaderOffset + sizeof(setup_header);

template <class T> T read_at(std::span<const std::byte> file, size_t offset) {
    T value;
    std::memcpy(&value, file.data() + offset, sizeof value);
    return value;
}

// The setup header runs to 0x202 + the byte at 0x201 (the operand of the jump at 0x200); what a
// kernel does not have reads as zero, as boot.rst asks of a loader that copies it.
setup_header copy_header(std::span<const std::byte> file) {
    const size_t end = std::clamp<size_t>(
        kHdrSOffset + std::to_integer<size_t>(file[kHdrSOffset - 1]), kHdrSOffset, kHeaderEnd);
    setup_header header{};
    // Safety: setup_header is a packed struct of integers; we copy bytes into it.
    std::memcpy(static_cast<void*>(&header), file.data() + kSetupHeaderOffset,
                end - kSetupHeaderOffset);
    return header;
}

Result<void> check_signatures(std::span<const std::byte> file) {
    if (file.size() < kHeaderEnd)
        return make_error(Errc::kInvalidInput,
                          "file of {} bytes is too short for a bzImage (its setup header ends at "
                          "{:#x}); the file is truncated, or not a kernel",
                          file.size(), kHeaderEnd);
    if (const auto flag = read_at<uint16_t>(file, 0x1fe); flag != kBootFlagMagic)
        return make_error(Errc::kInvalidInput,
                          "no boot sector signature at offset 0x1fe (boot_flag {:#06x}, a bzImage "
                          "has {:#06x}); not a bzImage",
                          flag, kBootFlagMagic);
    if (read_at<uint32_t>(file, kHdrSOffset) != kHdrSMagic)
        return make_error(Errc::kInvalidInput,
                          "no \"HdrS\" setup header signature at offset {:#x}; not a bzImage, or "
                          "a kernel older than boot protocol 2.00",
                          kHdrSOffset);
    return {};
}

Result<void> check_header(const setup_header& h) {
    if (h.version < kMinBootProtocol)
        return make_error(Errc::kInvalidInput,
                          "boot protocol version {}.{:02} (header field version {:#06x}) is older "
                          "than 2.12, the first that says whether the kernel has a 64-bit entry; "
                          "boot a newer kernel (Linux 3.8 or later)",
                          h.version >> 8, h.version & 0xff, +h.version);
    if ((h.loadflags & LOADED_HIGH) == 0)
        return make_error(Errc::kInvalidInput,
                          "loadflags {:#04x} lacks LOADED_HIGH: a zImage that loads at 0x10000; "
                          "ember boots bzImages (make bzImage)",
                          +h.loadflags);
    if ((h.xloadflags & XLF_KERNEL_64) == 0)
        return make_error(Errc::kInvalidInput,
                          "xloadflags {:#06x} lacks XLF_KERNEL_64: the kernel has no 64-bit entry "
                          "point, and ember starts kernels in 64-bit mode; boot an x86-64 kernel "
                          "(CONFIG_X86_64=y)",
                          +h.xloadflags);
    if (h.relocatable_kernel != 0 &&
        (h.kernel_alignment == 0 || (h.kernel_alignment & (h.kernel_alignment - 1)) != 0))
        return make_error(Errc::kInvalidInput,
                          "kernel_alignment {:#x} is not a power of two; the header is corrupt",
                          +h.kernel_alignment);
    if (h.init_size == 0)
        return make_error(Errc::kInvalidInput,
                          "init_size is 0; the header is corrupt (every kernel since boot "
                          "protocol 2.10 sets it)");
    return {};
}

} // namespace

bool has_setup_header(std::span<const std::byte> file) {
    return file.size() >= kHdrSOffset + 4 && read_at<uint32_t>(file, kHdrSOffset) == kHdrSMagic;
}

Result<BzImage> BzImage::parse(std::span<const std::byte> file, std::string context) {
    auto fail = [&context](tl::unexpected<Error> e) -> Result<BzImage> {
        return tl::unexpected(std::move(e.value()).with_context(context));
    };
    if (auto r = check_signatures(file); !r) return fail(tl::unexpected(std::move(r.error())));
    const setup_header header = copy_header(file);
    if (auto r = check_header(header); !r) return fail(tl::unexpected(std::move(r.error())));

    const size_t sects = header.setup_sects == 0 ? kDefaultSetupSects : header.setup_sects;
    const size_t setup_size = (sects + 1) * kSectorSize;
    if (setup_size >= file.size())
        return fail(make_error(Errc::kInvalidInput,
                               "setup_sects {} puts the protected-mode kernel at offset {:#x}, "
                               "at or past the end of the {}-byte file; the file is truncated",
                               +header.setup_sects, setup_size, file.size()));
    const auto pm = file.subspan(setup_size);
    // syssize counts the protected-mode kernel in 16-byte paragraphs (rounded up).
    if (const uint64_t expected = uint64_t{header.syssize} * 16; pm.size() + 15 < expected)
        return fail(make_error(Errc::kInvalidInput,
                               "the protected-mode kernel has {} bytes, but syssize {:#x} says {}; "
                               "the file is truncated",
                               pm.size(), +header.syssize, expected));
    return BzImage(std::move(context), header, pm);
}

} // namespace ember::boot
