#include "api/controller.hpp"

#include "jail/seccomp_violation.hpp"
#include "vmm/sys/logger.hpp"

#include <fmt/format.h>

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <type_traits>

namespace ember::api {
namespace {

using http::Response;
using http::Status;

Response bad_request(std::string_view message) {
    return Response::fault(Status::kBadRequest, message);
}

Response from_result(const Result<void>& r) {
    return r ? Response::no_content() : bad_request(r.error().message());
}

// Firecracker's phase rules, with the request named so the message says what to do.
Response not_after_boot(std::string_view what) {
    return bad_request(fmt::format(
        "The requested operation is not supported after starting the microVM: {} configures a "
        "microVM before InstanceStart",
        what));
}

Response not_before_boot(std::string_view what) {
    return bad_request(fmt::format(
        "The requested operation is not supported before starting the microVM: {} acts on a "
        "running microVM; send InstanceStart first",
        what));
}

} // namespace

Controller::Controller(model::VmConfigBuilder builder, std::string instance_id, Timings& timings)
    : builder_(std::move(builder)), instance_id_(std::move(instance_id)), timings_(timings) {}

Controller::~Controller() {
    // The log fd closes with the controller: later lines go to stderr again.
    if (log_fd_) log::set_fd(STDERR_FILENO);
}

VmmResponse Controller::handle(const VmmAction& action) {
    VmmResponse response = dispatch(action);
    ActionCount& count = actions_[std::string(action_name(action))];
    ++count.count;
    if (http::code(response.status) >= 400) {
        ++count.fails;
        log::info("API: {} refused ({}): {}", action_name(action), http::code(response.status),
                  response.body);
    }
    return response;
}

VmmResponse Controller::dispatch(const VmmAction& action) {
    if (std::holds_alternative<action::GetInstanceInfo>(action)) return instance_info();
    if (std::holds_alternative<action::GetVmConfig>(action))
        return Response::json(Status::kOk, builder_.vm_config_json());
    if (std::holds_alternative<action::GetMachineConfig>(action))
        return Response::json(Status::kOk, builder_.machine_config_json());
    if (const auto* a = std::get_if<action::Instance>(&action)) return instance_action(a->type);
    return started() ? postboot(action) : preboot(action);
}

VmmResponse Controller::preboot(const VmmAction& action) {
    return std::visit(
        [this](const auto& a) -> VmmResponse {
            using A = std::decay_t<decltype(a)>;
            if constexpr (std::is_same_v<A, action::PutBootSource>) {
                return from_result(builder_.set_boot_source(a.source));
            } else if constexpr (std::is_same_v<A, action::PutMachineConfig>) {
                return from_result(builder_.set_machine_config(a.config));
            } else if constexpr (std::is_same_v<A, action::PatchMachineConfig>) {
                return from_result(builder_.update_machine_config(a.update));
            } else if constexpr (std::is_same_v<A, action::PutDrive>) {
                return from_result(builder_.put_drive(a.id, a.drive));
            } else if constexpr (std::is_same_v<A, action::PutNetworkInterface>) {
                return from_result(builder_.put_network_interface(a.id, a.iface));
            } else if constexpr (std::is_same_v<A, action::PutVsock>) {
                return from_result(builder_.set_vsock(a.vsock));
            } else if constexpr (std::is_same_v<A, action::PutEntropy>) {
                return from_result(builder_.set_entropy(a.entropy));
            } else if constexpr (std::is_same_v<A, action::PutLogger>) {
                return from_result(configure_logger(a.logger));
            } else if constexpr (std::is_same_v<A, action::PutMetrics>) {
                return from_result(configure_metrics(a.metrics));
            } else if constexpr (std::is_same_v<A, action::PutSerial>) {
                builder_.set_serial(a.serial);
                return Response::no_content();
            } else if constexpr (std::is_same_v<A, action::PatchDrive>) {
                return not_before_boot("PATCH /drives");
            } else if constexpr (std::is_same_v<A, action::PatchNetworkInterface>) {
                return not_before_boot("PATCH /network-interfaces");
            } else if constexpr (std::is_same_v<A, action::PatchVm>) {
                return not_before_boot("PATCH /vm");
            } else {
                return Response::fault(Status::kInternalServerError, "unrouted action");
            }
        },
        action);
}

VmmResponse Controller::postboot(const VmmAction& action) {
    if (const auto* a = std::get_if<action::PatchDrive>(&action)) return patch_drive(*a);
    if (const auto* a = std::get_if<action::PatchVm>(&action)) {
        if (a->state == model::VmState::kPaused) {
            vmm_->pause();
            log::info("microVM paused");
        } else {
            vmm_->resume();
            log::info("microVM resumed");
        }
        return Response::no_content();
    }
    if (const auto* a = std::get_if<action::PatchNetworkInterface>(&action)) {
        auto update = builder_.check_network_interface_update(a->id, a->iface);
        if (!update) return bad_request(update.error().message());
        if (auto r = vmm_->update_net(update->iface_id, update->rx_rate_limiter,
                                      update->tx_rate_limiter);
            !r)
            return bad_request(
                fmt::format("network-interfaces/{}: {}", a->id, r.error().describe()));
        builder_.commit(*update);
        return Response::no_content();
    }
    static constexpr std::array<std::string_view, std::variant_size_v<VmmAction>> kPaths{
        "",
        "",
        "",
        "PUT /boot-source",
        "PUT /machine-config",
        "PATCH /machine-config",
        "PUT /drives",
        "",
        "PUT /network-interfaces",
        "",
        "PUT /vsock",
        "PUT /entropy",
        "PUT /logger",
        "PUT /metrics",
        "PUT /serial",
        "",
        ""};
    return not_after_boot(kPaths.at(action.index()));
}

VmmResponse Controller::patch_drive(const action::PatchDrive& patch) {
    auto update = builder_.check_drive_update(patch.id, patch.drive);
    if (!update) return bad_request(update.error().message());
    if (auto r = vmm_->update_drive(update->drive_id, update->path_on_host, update->rate_limiter);
        !r)
        return bad_request(fmt::format("drives/{}: {}", patch.id, r.error().describe()));
    builder_.commit(*update);
    return Response::no_content();
}

VmmResponse Controller::instance_action(model::ActionType type) {
    switch (type) {
    case model::ActionType::kInstanceStart: {
        if (started()) return not_after_boot("InstanceStart");
        if (!builder_.has_kernel())
            return bad_request("Cannot start microvm without kernel configuration: PUT "
                               "/boot-source with a kernel_image_path first");
        // Under the API the boot is timed from this request (as Firecracker's boot timer is).
        timings_ = Timings{};
        timings_.start = monotonic_ns();
        if (auto r = start_instance(); !r)
            return bad_request(fmt::format("Failed to start microVM: {}", r.error().describe()));
        return Response::no_content();
    }
    case model::ActionType::kSendCtrlAltDel:
        if (!started()) return not_before_boot("SendCtrlAltDel");
        vmm_->send_ctrl_alt_del();
        return Response::no_content();
    case model::ActionType::kFlushMetrics:
        if (!metrics_)
            return bad_request("FlushMetrics: metrics are not configured; PUT /metrics "
                               "with a metrics_path (or start with --metrics-path)");
        return from_result(flush_metrics());
    }
    return Response::fault(Status::kInternalServerError, "unknown action");
}

Result<void> Controller::start_instance() {
    const VmConfig config = builder_.build();
    auto vmm = Vmm::create(config, timings_);
    if (!vmm) return tl::unexpected(std::move(vmm.error()));
    vmm_ = std::move(*vmm);
    // Before start(): from then on the VMM thread's seccomp filter allows no new timerfd.
    if (metrics_) {
        if (auto r = watch_metrics_timer(); !r) {
            vmm_.reset();
            return r;
        }
    }
    if (auto r = vmm_->start(); !r) {
        vmm_.reset();
        return r;
    }
    log::info("microVM started");
    return {};
}

Result<void> Controller::watch_metrics_timer() {
    const int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) return sys_error(Errc::kOsError, "timerfd_create (metrics)");
    metrics_timer_.reset(fd);
    itimerspec period{};
    period.it_interval.tv_sec = kMetricsPeriod.count();
    period.it_value.tv_sec = kMetricsPeriod.count();
    if (::timerfd_settime(fd, 0, &period, nullptr) != 0)
        return sys_error(Errc::kOsError, "timerfd_settime (metrics)");
    return vmm_->watch(fd, [this] {
        uint64_t expirations = 0;
        if (::read(metrics_timer_.get(), &expirations, sizeof expirations) < 0) return;
        if (auto r = flush_metrics(); !r) log::warn("{}", r.error().describe());
    });
}

Result<void> Controller::configure_logger(const model::Logger& logger) {
    auto fd = apply_logger(logger);
    if (!fd) return tl::unexpected(std::move(fd.error()));
    EMBER_TRY_VOID(builder_.set_logger(logger));
    if (*fd) {
        // Another thread may be writing a line to the old fd right now: keep it open.
        if (log_fd_) retired_log_fds_.push_back(std::move(log_fd_));
        log_fd_ = std::move(*fd);
    }
    return {};
}

Result<void> Controller::configure_metrics(const model::Metrics& metrics) {
    if (metrics_)
        return make_error(Errc::kInvalidArgument,
                          "metrics: already configured (metrics_path '{}'); they can be set once",
                          metrics_->path());
    auto sink = MetricsSink::open(metrics.metrics_path);
    if (!sink) return tl::unexpected(std::move(sink.error()));
    metrics_.emplace(std::move(*sink));
    builder_.set_metrics(metrics);
    // A seccomp violation ends ember from a signal handler: it writes its own last line there.
    jail::set_violation_metrics_fd(metrics_->fd());
    return {};
}

Result<void> Controller::flush_metrics() {
    if (!metrics_) return {};
    MetricsInputs in{instance_id_, state(), std::nullopt, std::nullopt, actions_};
    if (vmm_) in.vmm = vmm_->metrics();
    if (api_stats_) in.api = api_stats_();
    return metrics_->write(metrics_line(in));
}

std::string Controller::state() const {
    if (!vmm_) return "Not started";
    return vmm_->paused() ? "Paused" : "Running";
}

VmmResponse Controller::instance_info() const {
    return Response::json(
        Status::kOk,
        fmt::format(R"({{"app_name":"ember","id":"{}","state":"{}","vmm_version":"{}"}})",
                    instance_id_, state(), EMBER_VERSION));
}

} // namespace ember::api
