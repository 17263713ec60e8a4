// Seccomp for ember's threads: the configuration (--no-seccomp, --seccomp-filter) and the
// compiled filters the Vmm and the API server install on their threads. docs/seccomp.md.
#pragma once

#include "jail/filters/allowlists.hpp"
#include "jail/seccomp_filter.hpp"

#include <initializer_list>
#include <optional>
#include <string>

namespace ember::jail {

// On by default; the sanitizer build (EMBER_SANITIZE) turns it off by default, as ASan and
// UBSan make system calls ember does not (docs/seccomp.md).
#ifdef EMBER_SECCOMP_DEFAULT_OFF
inline constexpr bool kSeccompByDefault = false;
#else
inline constexpr bool kSeccompByDefault = true;
#endif

struct SeccompConfig {
    enum class Mode {
        kBuiltIn, // the allowlists in jail/filters/
        kFile,    // --seccomp-filter FILE (jail/seccomp_json.hpp)
        kOff,     // --no-seccomp, or the build's default
    };
    Mode mode = kSeccompByDefault ? Mode::kBuiltIn : Mode::kOff;
    std::string path; // kFile
};

// The compiled filters of some thread kinds, or none when seccomp is off.
class SeccompFilters final {
public:
    // Loads the allowlists the config names and compiles those of `kinds`. Logs a warning when
    // seccomp is off.
    static Result<SeccompFilters> prepare(const SeccompConfig& config, const FilterParams& params,
                                          std::initializer_list<ThreadKind> kinds);

    [[nodiscard]] bool enabled() const { return enabled_; }
    // Installs the filter of `kind` on the calling thread; nothing when seccomp is off.
    // A kind that was not prepared is an internal error.
    [[nodiscard]] Result<void> apply(ThreadKind kind) const;

private:
    bool enabled_ = false;
    std::array<std::optional<SeccompFilter>, kThreadKinds.size()> filters_;
};

} // namespace ember::jail
