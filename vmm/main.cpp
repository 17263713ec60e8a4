// ember: entry point. Parses the command line, builds the VM, runs it, and exits with the
// guest's status or one of ember's documented codes (vmm/sys/exit_code.hpp).
#include "api/model/config_file.hpp"
#include "vmm/cli.hpp"
#include "vmm/sys/exit_code.hpp"
#include "vmm/sys/logger.hpp"
#include "vmm/teardown.hpp"
#include "vmm/vmm.hpp"

#include <malloc.h>
#include <unistd.h>

#include <csignal>
#include <exception>
#include <new>

namespace {

using ember::ExitCode;
using ember::GuestExit;

int fail(const ember::Error& e) {
    ember::log::error("{}", e.describe());
    return ember::to_int(ember::exit_code_for(e.code()));
}

void log_exit(const GuestExit& exit) {
    switch (exit.kind) {
    case GuestExit::Kind::kStatus:
    case GuestExit::Kind::kReset:
    case GuestExit::Kind::kPowerOff:
        ember::log::info("{}", exit.detail);
        break;
    case GuestExit::Kind::kCrash:
    case GuestExit::Kind::kHostError:
        ember::log::error("{}", exit.detail);
        break;
    }
}

int run(int argc, char** argv) {
    ember::Timings timings;
    timings.start = ember::monotonic_ns();
    // A closed console pipe must not kill the VMM: writes report EPIPE instead.
    (void)std::signal(SIGPIPE, SIG_IGN);
    // One malloc arena: vCPU threads allocate only on rare paths (an exit's message), and a
    // per-thread arena costs a 128 MiB reservation and ~0.3 ms the first time.
    (void)::mallopt(M_ARENA_MAX, 1);

    auto request = ember::parse_cli(std::vector<std::string>(argv, argv + argc));
    if (!request) return fail(request.error());
    if (const auto* print = std::get_if<ember::PrintAndExit>(&*request)) {
        [[maybe_unused]] const ssize_t w =
            ::write(STDOUT_FILENO, print->text.data(), print->text.size());
        return ember::to_int(ExitCode::kSuccess);
    }
    ember::VmConfig config = std::get<ember::VmConfig>(*request);
    ember::log::set_level(config.log_level);
    if (config.config_file) {
        auto builder = ember::api::model::load_config_file(*config.config_file, config);
        if (!builder) return fail(builder.error());
        config = builder->build();
        ember::log::set_level(config.log_level);
    }

    auto vmm = ember::Vmm::create(config, timings);
    if (!vmm) return fail(vmm.error());
    auto exit = (*vmm)->run(timings);
    if (!exit) return fail(exit.error());
    const ember::VcpuExitStats stats = (*vmm)->exit_stats();
    const std::vector<std::string> device_lines = (*vmm)->device_metrics();
    if (!config.sync_teardown) {
        if (auto handed = ember::hand_off_teardown((*vmm)->kvm_fds()); !handed)
            ember::log::warn("destroying the VM in the foreground: {}", handed.error().describe());
    }
    vmm->reset();
    timings.end = ember::monotonic_ns();

    log_exit(*exit);
    if (config.print_timings) {
        std::string line = fmt::format(
            "ember: timings: {}\nember: exits: {} (pio out {}, pio in {}, mmio {}, kicks {}), "
            "unhandled accesses {}; guest status {}\n",
            timings.summary(), stats.total(), stats.io_out, stats.io_in,
            stats.mmio_read + stats.mmio_write, stats.interrupted, stats.unhandled_access,
            exit->status);
        for (const auto& d : device_lines)
            line += fmt::format("ember: {}\n", d);
        [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, line.data(), line.size());
    }
    return exit->status;
}

} // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::bad_alloc&) {
        ember::log::error("out of memory");
        return ember::to_int(ExitCode::kOsError);
    } catch (const std::exception& e) {
        ember::log::error("internal error: {}", e.what());
        return ember::to_int(ExitCode::kInternal);
    }
}
