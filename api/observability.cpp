#include "api/observability.hpp"

#include "vmm/sys/logger.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace ember::api {
namespace {

using Json = nlohmann::ordered_json;

Result<UniqueFd> open_append(const std::string& path, std::string_view what) {
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0)
        return sys_error(errno == ENOENT ? Errc::kNotFound : Errc::kInvalidArgument,
                         "{} '{}': cannot open for appending (does its directory exist, and may "
                         "ember write there?)",
                         what, path);
    return UniqueFd(fd);
}

Json exits_json(const VcpuExitStats& e) {
    return Json{{"exits", e.total()},
                {"io_in", e.io_in},
                {"io_out", e.io_out},
                {"mmio_read", e.mmio_read},
                {"mmio_write", e.mmio_write},
                {"kicks", e.interrupted},
                {"unhandled_access", e.unhandled_access},
                {"other", e.other}};
}

Json drive_json(const DriveMetrics& d) {
    const auto& m = d.block;
    return Json{{"requests", m.requests},
                {"reads", m.reads},
                {"writes", m.writes},
                {"flushes", m.flushes},
                {"discards", m.discards},
                {"write_zeroes", m.write_zeroes},
                {"get_ids", m.get_ids},
                {"read_bytes", m.read_bytes},
                {"write_bytes", m.write_bytes},
                {"io_errors", m.io_errors},
                {"unsupported", m.unsupported},
                {"throttled", m.throttled},
                {"kicks", m.notifications},
                {"interrupts", m.interrupts},
                {"polled", m.polled},
                {"needs_reset", m.broken},
                {"notifies_exited", d.transport.notifies},
                {"resets", d.transport.resets}};
}

Json net_json(const virtio::net::NetMetrics& m) {
    return Json{{"rx_frames", m.rx_frames},       {"rx_bytes", m.rx_bytes},
                {"rx_dropped", m.rx_dropped},     {"rx_bad_buffers", m.rx_bad_buffers},
                {"rx_waits", m.rx_waits},         {"rx_throttled", m.rx_throttled},
                {"tx_frames", m.tx_frames},       {"tx_bytes", m.tx_bytes},
                {"tx_dropped", m.tx_dropped},     {"tx_errors", m.tx_errors},
                {"tx_throttled", m.tx_throttled}, {"rx_kicks", m.rx_kicks},
                {"tx_kicks", m.tx_kicks},         {"interrupts", m.interrupts},
                {"needs_reset", m.broken}};
}

Json entropy_json(const virtio::rng::RngMetrics& m) {
    return Json{{"requests", m.requests},         {"bytes", m.bytes},
                {"bad_requests", m.bad_requests}, {"source_errors", m.source_errors},
                {"throttled", m.throttled},       {"kicks", m.notifications},
                {"interrupts", m.interrupts},     {"needs_reset", m.broken}};
}

Json vsock_json(const virtio::vsock::VsockMetrics& m) {
    return Json{{"rx_packets", m.rx_packets},
                {"rx_bytes", m.rx_bytes},
                {"rx_bad_buffers", m.rx_bad_buffers},
                {"tx_packets", m.tx_packets},
                {"tx_bytes", m.tx_bytes},
                {"tx_bad_packets", m.tx_bad_packets},
                {"host_connects", m.host_connects},
                {"guest_connects", m.guest_connects},
                {"connect_refused", m.connect_refused},
                {"host_rejected", m.host_rejected},
                {"bad_connect_lines", m.bad_connect_lines},
                {"timeouts", m.timeouts},
                {"resets_to_guest", m.resets_to_guest},
                {"dropped_at_reset", m.dropped_at_reset},
                {"connections", m.connections},
                {"kicks", m.notifications},
                {"interrupts", m.interrupts},
                {"needs_reset", m.broken}};
}

} // namespace

Result<UniqueFd> apply_logger(const model::Logger& logger) {
    UniqueFd fd;
    if (logger.log_path) {
        auto opened = open_append(*logger.log_path, "log_path");
        if (!opened) return tl::unexpected(std::move(opened.error()));
        fd = std::move(*opened);
        log::set_fd(fd.get());
    }
    if (logger.level) log::set_level(model::to_log_level(*logger.level));
    if (logger.show_level) log::set_show_level(*logger.show_level);
    if (logger.show_log_origin) log::set_show_origin(*logger.show_log_origin);
    return fd;
}

std::string metrics_line(const MetricsInputs& in) {
    Json j;
    j["utc_timestamp_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    j["instance"] = Json{{"id", in.instance_id}, {"state", in.state}};
    if (in.api) {
        const auto& a = *in.api;
        j["api_server"] = Json{{"connections", a.connections},
                               {"requests", a.requests},
                               {"refused", a.refused},
                               {"latency_us_avg", a.requests ? a.latency_us_total / a.requests : 0},
                               {"latency_us_max", a.latency_us_max}};
    }
    Json actions = Json::object();
    for (const auto& [name, c] : in.actions)
        actions[name] = Json{{"count", c.count}, {"fails", c.fails}};
    j["api_requests"] = std::move(actions);
    if (in.vmm) {
        j["vcpu"] = exits_json(in.vmm->exits);
        Json block = Json::object();
        for (const auto& d : in.vmm->drives)
            block[d.id.empty() ? d.name : d.id] = drive_json(d);
        j["block"] = std::move(block);
        Json net = Json::object();
        for (const auto& [id, m] : in.vmm->nets)
            net[id] = net_json(m);
        j["net"] = std::move(net);
        if (in.vmm->entropy) j["entropy"] = entropy_json(*in.vmm->entropy);
        if (in.vmm->vsock) j["vsock"] = vsock_json(*in.vmm->vsock);
        if (in.vmm->boot_time)
            j["boot_timer"] = Json{{"boot_time_us", in.vmm->boot_time->wall_us},
                                   {"cpu_us", in.vmm->boot_time->cpu_us}};
    }
    j["logger"] = Json{{"suppressed_lines", log::suppressed_lines()}};
    return j.dump() + "\n";
}

Result<MetricsSink> MetricsSink::open(const std::string& path) {
    auto fd = open_append(path, "metrics_path");
    if (!fd) return tl::unexpected(std::move(fd.error()));
    return MetricsSink(path, std::move(*fd));
}

Result<void> MetricsSink::write(const std::string& line) const {
    const ssize_t n = ::write(fd_.get(), line.data(), line.size());
    if (n < 0) return sys_error(Errc::kOsError, "metrics '{}': write failed", path_);
    if (static_cast<size_t>(n) != line.size())
        return make_error(Errc::kOsError, "metrics '{}': short write ({} of {} bytes)", path_, n,
                          line.size());
    return {};
}

} // namespace ember::api
