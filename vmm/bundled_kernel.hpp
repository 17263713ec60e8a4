// The bundled default guest ('hello', resources/guests), embedded in the ember binary so that
// `ember` with no --kernel boots something without any file.
#pragma once

#include <cstddef>
#include <span>

namespace ember {

[[nodiscard]] std::span<const std::byte> bundled_kernel();
inline constexpr const char* kBundledKernelName = "bundled:hello";

} // namespace ember
