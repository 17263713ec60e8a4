// The logger and metrics configurations of the API (PUT /logger, PUT /metrics, the CLI's
// --log-path/--level/--show-level/--show-log-origin and --metrics-path) applied to ember.
//
// Metrics are JSON lines (one object per flush) appended to metrics_path: written on
// FlushMetrics, every kMetricsPeriod while the VM runs, and once when it ends. Each line:
//
//   {"utc_timestamp_ms": 1732190000000, "instance": {"id": "vm1", "state": "Running"},
//    "api_server": {"connections": 1, "requests": 7, "refused": 0, "latency_us_avg": 41,
//                   "latency_us_max": 880},
//    "api_requests": {"PutDrive": {"count": 1, "fails": 0}, ...},
//    "vcpu": {"exits": 12, "io_in": 0, "io_out": 11, "mmio_read": 0, "mmio_write": 1,
//             "kicks": 0, "unhandled_access": 0, "other": 0},
//    "block": {"rootfs": {"requests": 80, "reads": 60, "read_bytes": 245760, ...}},
//    "boot_timer": {"boot_time_us": 5321, "cpu_us": 2210},
//    "logger": {"suppressed_lines": 0}}
//
// Counters are totals since ember started (not deltas, unlike Firecracker's): a reader
// subtracts two lines to get a rate, and a lost line loses nothing.
#pragma once

#include "api/http/http_server.hpp"
#include "api/model/logger.hpp"
#include "vmm/sys/result.hpp"
#include "vmm/sys/unique_fd.hpp"
#include "vmm/vmm.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace ember::api {

inline constexpr std::chrono::seconds kMetricsPeriod{60};

// Applies `logger`: opens its log_path for appending (created 0600 if missing; a named pipe is
// fine), and sets the level and show flags it names. Returns the opened fd, which must stay
// open while lines go there (an empty UniqueFd when log_path is absent).
Result<UniqueFd> apply_logger(const model::Logger& logger);

struct ActionCount {
    uint64_t count = 0;
    uint64_t fails = 0;
};

struct MetricsInputs {
    std::string instance_id;
    std::string state;             // "Not started", "Running", "Paused"
    std::optional<VmmMetrics> vmm; // after boot
    std::optional<http::ServerStats> api;
    std::map<std::string, ActionCount, std::less<>> actions;
};

[[nodiscard]] std::string metrics_line(const MetricsInputs& inputs);

// The metrics file: opened once (O_APPEND, non-blocking so a full pipe drops a line rather than
// stalling the VMM thread), one write(2) per line.
class MetricsSink final {
public:
    static Result<MetricsSink> open(const std::string& path);
    Result<void> write(const std::string& line) const;
    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] int fd() const { return fd_.get(); }

private:
    MetricsSink(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
    std::string path_;
    UniqueFd fd_;
};

} // namespace ember::api
