// Controller: the VMM thread's half of the API. It owns the configuration (VmConfigBuilder)
// until InstanceStart, then the running Vmm, and answers every VmmAction with Firecracker's
// status codes and rules:
//
//   before InstanceStart  PUT boot-source, machine-config (and PATCH), drives,
//                         network-interfaces, vsock, entropy, logger, metrics, serial;
//                         InstanceStart
//   after                 PATCH drives (path_on_host, rate_limiter), PATCH network-interfaces,
//                         PATCH /vm (Paused, Resumed), SendCtrlAltDel
//   always                GET /, /vm/config, /machine-config; FlushMetrics (ember: also before
//                         boot, Firecracker only after)
//
// A request in the wrong phase is a 400 saying which phase it belongs to. Every error is a 4xx
// with a fault_message naming the resource, the field and what is allowed.
#pragma once

#include "api/http/http_server.hpp"
#include "api/model/vm_config_builder.hpp"
#include "api/observability.hpp"
#include "api/vmm_action.hpp"
#include "vmm/timings.hpp"
#include "vmm/vmm.hpp"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ember::api {

class Controller final {
public:
    // `timings` outlives the controller; InstanceStart over the API restarts its clock (and the
    // boot timer's) at the request.
    Controller(model::VmConfigBuilder builder, std::string instance_id, Timings& timings);
    ~Controller();
    Controller(const Controller&) = delete;
    Controller& operator=(const Controller&) = delete;
    Controller(Controller&&) = delete;
    Controller& operator=(Controller&&) = delete;

    // VMM thread: answers one action.
    VmmResponse handle(const VmmAction& action);

    // Builds the VM from the configuration and starts its vCPUs (InstanceStart, or at once
    // when ember was started with a configuration to boot).
    Result<void> start_instance();
    [[nodiscard]] bool started() const { return vmm_ != nullptr; }
    [[nodiscard]] Vmm* vmm() { return vmm_.get(); }
    // Destroys the VM (after its run; the background teardown holds the KVM fds by then).
    void release_vm() { vmm_.reset(); }
    [[nodiscard]] const model::VmConfigBuilder& builder() const { return builder_; }

    // Logger and metrics as configured by the CLI or the config file (before any request).
    Result<void> configure_logger(const model::Logger& logger);
    Result<void> configure_metrics(const model::Metrics& metrics);
    // Where the API server's counters come from (set once the server runs).
    void set_api_stats(std::function<http::ServerStats()> stats) { api_stats_ = std::move(stats); }
    // Writes a metrics line, if metrics are configured (FlushMetrics, the period, the end).
    Result<void> flush_metrics();
    // "Not started", "Running" or "Paused" (GET /'s state).
    [[nodiscard]] std::string state() const;

private:
    VmmResponse dispatch(const VmmAction& action);
    VmmResponse preboot(const VmmAction& action);
    VmmResponse postboot(const VmmAction& action);
    VmmResponse instance_action(model::ActionType type);
    VmmResponse patch_drive(const action::PatchDrive& patch);
    [[nodiscard]] VmmResponse instance_info() const;
    Result<void> watch_metrics_timer();

    model::VmConfigBuilder builder_;
    std::string instance_id_;
    Timings& timings_;
    std::unique_ptr<Vmm> vmm_;
    UniqueFd log_fd_;
    std::vector<UniqueFd> retired_log_fds_; // earlier log files (a line may still be going there)
    std::optional<MetricsSink> metrics_;
    UniqueFd metrics_timer_;
    std::function<http::ServerStats()> api_stats_;
    std::map<std::string, ActionCount, std::less<>> actions_;
};

} // namespace ember::api
