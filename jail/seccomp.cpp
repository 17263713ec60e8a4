#include "jail/seccomp.hpp"

#include "jail/seccomp_json.hpp"
#include "jail/seccomp_violation.hpp"
#include "vmm/sys/logger.hpp"

namespace ember::jail {

Result<SeccompFilters> SeccompFilters::prepare(const SeccompConfig& config,
                                               const FilterParams& params,
                                               std::initializer_list<ThreadKind> kinds) {
    SeccompFilters out;
    if (config.mode == SeccompConfig::Mode::kOff) {
        if (kSeccompByDefault)
            log::warn("seccomp is off (--no-seccomp): ember's threads may make any system call");
        return out;
    }
    FilterSet set;
    if (config.mode == SeccompConfig::Mode::kFile) {
        auto loaded = load_filter_file(config.path);
        if (!loaded) return tl::unexpected(std::move(loaded.error()));
        set = std::move(*loaded);
    } else {
        set = default_filters(params);
    }
    // Now, on the preparing thread: the first apply() would otherwise resolve the syscall
    // names (~0.1 ms) on a vCPU thread.
    EMBER_TRY_VOID(install_violation_handler());
    for (const ThreadKind kind : kinds) {
        auto filter = SeccompFilter::compile(kind, set[kind]);
        if (!filter) return tl::unexpected(std::move(filter.error()));
        out.filters_.at(static_cast<size_t>(kind)).emplace(std::move(*filter));
    }
    out.enabled_ = true;
    return out;
}

Result<void> SeccompFilters::apply(ThreadKind kind) const {
    if (!enabled_) return {};
    const auto& filter = filters_.at(static_cast<size_t>(kind));
    if (!filter)
        return make_error(Errc::kInternal, "seccomp: the {} thread's filter was not prepared",
                          thread_kind_name(kind));
    return filter->apply();
}

} // namespace ember::jail
