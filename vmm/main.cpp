// ember: entry point. Parses the command line, builds the VM, runs it, and exits with the
// guest's status or one of ember's documented codes (vmm/sys/exit_code.hpp).
#include "api/api_server.hpp"
#include "api/controller.hpp"
#include "api/model/config_file.hpp"
#include "jail/seccomp.hpp"
#include "vmm/cli.hpp"
#include "vmm/sys/exit_code.hpp"
#include "vmm/sys/logger.hpp"
#include "vmm/teardown.hpp"
#include "vmm/vmm.hpp"

#include <malloc.h>
#include <unistd.h>

#include <pthread.h>

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

void print_timings(const ember::Timings& timings, const ember::VcpuExitStats& stats,
                   const std::vector<std::string>& device_lines, int status) {
    std::string line = fmt::format(
        "ember: timings: {}\nember: exits: {} (pio out {}, pio in {}, mmio {}, kicks {}), "
        "unhandled accesses {}; guest status {}\n",
        timings.summary(), stats.total(), stats.io_out, stats.io_in,
        stats.mmio_read + stats.mmio_write, stats.interrupted, stats.unhandled_access, status);
    for (const auto& d : device_lines)
        line += fmt::format("ember: {}\n", d);
    [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, line.data(), line.size());
}

// The configuration to start from: the flags, with --config-file applied on top.
ember::Result<ember::api::model::VmConfigBuilder> initial_config(const ember::VmConfig& cli) {
    if (!cli.config_file) return ember::api::model::VmConfigBuilder(cli);
    return ember::api::model::load_config_file(*cli.config_file, cli);
}

// Logger and metrics from the flags and the config file (the file's settings win).
ember::Result<void> configure_observability(ember::api::Controller& controller,
                                            const ember::VmConfig& cli) {
    namespace model = ember::api::model;
    if (cli.process.log_path || cli.process.show_log_origin) {
        model::Logger logger;
        logger.log_path = cli.process.log_path;
        if (cli.process.show_log_origin) logger.show_log_origin = true;
        EMBER_TRY_VOID(controller.configure_logger(logger));
    }
    if (const auto& from_file = controller.builder().logger())
        EMBER_TRY_VOID(controller.configure_logger(*from_file));
    ember::log::set_level(controller.builder().config().log_level);
    std::optional<model::Metrics> metrics = controller.builder().metrics();
    if (!metrics && cli.process.metrics_path) metrics = model::Metrics{*cli.process.metrics_path};
    if (metrics) EMBER_TRY_VOID(controller.configure_metrics(*metrics));
    return {};
}

// SIGINT, SIGTERM and SIGHUP go to the VMM thread's signalfd, never to the API thread: block
// them before that thread starts (it inherits the mask).
void block_termination_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGINT, SIGTERM, SIGHUP})
        sigaddset(&set, s);
    (void)::pthread_sigmask(SIG_BLOCK, &set, nullptr);
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
    const ember::VmConfig cli = std::get<ember::VmConfig>(*request);
    ember::log::set_level(cli.log_level);
    auto builder = initial_config(cli);
    if (!builder) return fail(builder.error());
    ember::api::Controller controller(std::move(*builder), cli.process.instance_id, timings);
    if (auto r = configure_observability(controller, cli); !r) return fail(r.error());

    std::unique_ptr<ember::api::ApiServer> api;
    if (cli.process.api_sock) {
        block_termination_signals();
        ember::api::http::ServerOptions options;
        options.max_payload = cli.process.api_max_payload;
        if (cli.seccomp.mode != ember::jail::SeccompConfig::Mode::kOff) {
            // Compiled on the API thread itself: the socket listens before create() returns,
            // so clients can connect while the filter is being built (~0.2 ms).
            options.thread_start_hook = [config = cli.seccomp]() -> ember::Result<void> {
                auto filters = ember::jail::SeccompFilters::prepare(
                    config, ember::jail::FilterParams{ember::VcpuThread::kick_signal()},
                    {ember::jail::ThreadKind::kApi});
                if (!filters) return tl::unexpected(std::move(filters.error()));
                return filters->apply(ember::jail::ThreadKind::kApi);
            };
        }
        auto started = ember::api::ApiServer::start(*cli.process.api_sock, options);
        if (!started) return fail(started.error());
        api = std::move(*started);
        controller.set_api_stats([raw = api.get()] { return raw->stats(); });
    }
    // With an API socket and nothing to boot yet, the configuration comes over the API.
    if (api && !cli.config_file && !cli.kernel_path) {
        auto signo = api->serve_until_started(controller);
        if (!signo) return fail(signo.error());
        if (*signo != 0) {
            ember::log::info("stopped by signal {} before InstanceStart", *signo);
            return 128 + *signo;
        }
    } else if (auto r = controller.start_instance(); !r) {
        return fail(r.error());
    }
    ember::Vmm& vmm = *controller.vmm();
    if (api) {
        if (auto r = api->serve_in(vmm, controller); !r) return fail(r.error());
    }
    auto exit = vmm.run(timings);
    if (api) api->stop(); // requests from now on would find no VM
    if (auto r = controller.flush_metrics(); !r) ember::log::warn("{}", r.error().describe());
    if (!exit) return fail(exit.error());
    const ember::VcpuExitStats stats = vmm.exit_stats();
    const std::vector<std::string> device_lines = vmm.device_metrics();
    if (!cli.sync_teardown) {
        if (auto handed = ember::hand_off_teardown(vmm.kvm_fds()); !handed)
            ember::log::warn("destroying the VM in the foreground: {}", handed.error().describe());
    }
    controller.release_vm();
    timings.end = ember::monotonic_ns();

    log_exit(*exit);
    if (cli.print_timings) print_timings(timings, stats, device_lines, exit->status);
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
