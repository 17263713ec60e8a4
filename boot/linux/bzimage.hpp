// BzImage: a validated view of a Linux x86 bzImage (arch/x86/boot/bzImage), parsed from
// untrusted bytes.
//
// A bzImage is a real-mode setup part ((setup_sects + 1) sectors of 512 bytes, the first holding
// the setup header at 0x1f1) followed by the protected-mode kernel: the decompressor and the
// compressed kernel. ember uses only the 64-bit entry (load address + 0x200), so it requires boot
// protocol 2.12 or newer, the first to say (xloadflags XLF_KERNEL_64) whether that entry exists.
//
// A BzImage points into the bytes it was parsed from: they must outlive it.
#pragma once

#include "vmm/sys/result.hpp"

#include <asm/bootparam.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace ember::boot {

inline constexpr size_t kSetupHeaderOffset = 0x1f1; // struct setup_header in the file and zero page
inline constexpr uint16_t kBootFlagMagic = 0xaa55;  // hdr.boot_flag at 0x1fe
inline constexpr uint32_t kHdrSMagic = 0x5372'6448; // hdr.header at 0x202: "HdrS"
inline constexpr size_t kHdrSOffset = 0x202;
inline constexpr uint16_t kMinBootProtocol = 0x020c;     // 2.12: xloadflags
inline constexpr uint64_t kBzImage64EntryOffset = 0x200; // startup_64 from the load address
static_assert(offsetof(boot_params, hdr) == kSetupHeaderOffset);
static_assert(kSetupHeaderOffset + offsetof(setup_header, header) == kHdrSOffset);

// True when `file` has "HdrS" at 0x202: a bzImage (or an older zImage), to be parsed as one.
[[nodiscard]] bool has_setup_header(std::span<const std::byte> file);

class BzImage final {
public:
    // `context` ("kernel 'bzImage'") prefixes every message. Errors are Errc::kInvalidInput.
    static Result<BzImage> parse(std::span<const std::byte> file, std::string context);

    [[nodiscard]] const std::string& context() const { return context_; }
    // The setup header as the file has it; fields past the header's own end are zero.
    [[nodiscard]] const setup_header& header() const { return header_; }
    [[nodiscard]] uint16_t version() const { return header_.version; }
    // The protected-mode kernel: the file after the setup sectors. Never empty.
    [[nodiscard]] std::span<const std::byte> protected_mode() const { return protected_mode_; }
    [[nodiscard]] bool relocatable() const { return header_.relocatable_kernel != 0; }

private:
    BzImage(std::string context, const setup_header& header, std::span<const std::byte> pm)
        : context_(std::move(context)), header_(header), protected_mode_(pm) {}

    std::string context_;
    setup_header header_;
    std::span<const std::byte> protected_mode_;
};

} // namespace ember::boot
