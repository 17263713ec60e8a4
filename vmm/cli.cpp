#include "vmm/cli.hpp"

#include "vmm/core/layout.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace ember {
namespace {

Result<SerialConfig> parse_serial(const std::string& value) {
    if (value == "stdout") return SerialConfig{SerialConfig::Mode::kStdout, {}};
    if (value == "none") return SerialConfig{SerialConfig::Mode::kNone, {}};
    constexpr std::string_view kFilePrefix = "file:";
    if (value.starts_with(kFilePrefix) && value.size() > kFilePrefix.size())
        return SerialConfig{SerialConfig::Mode::kFile, value.substr(kFilePrefix.size())};
    return make_error(Errc::kInvalidArgument,
                      "--serial: '{}' is not valid; use stdout, none or file:PATH", value);
}

// ember's names and Firecracker's (--level Warning, Trace), in any case.
Result<log::Level> parse_level(std::string value) {
    std::ranges::transform(value, value.begin(),
                           [](char c) { return static_cast<char>(std::tolower(c)); });
    if (value == "error") return log::Level::kError;
    if (value == "warn" || value == "warning") return log::Level::kWarn;
    if (value == "info") return log::Level::kInfo;
    if (value == "debug" || value == "trace") return log::Level::kDebug;
    return make_error(Errc::kInvalidArgument,
                      "--log-level: '{}' is not valid; use error, warn, info or debug (or "
                      "Firecracker's Error, Warning, Info, Debug, Trace)",
                      value);
}

// Firecracker's --id rule: 1 to 64 ASCII letters, digits and '-'.
Result<void> check_instance_id(const std::string& id) {
    const bool ok = !id.empty() && id.size() <= 64 && std::ranges::all_of(id, [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
    });
    if (ok) return {};
    return make_error(Errc::kInvalidArgument, "--id '{}': use 1 to 64 ASCII letters, digits or '-'",
                      id);
}

// The flags of the process around the VM: API socket, logs, metrics (Firecracker's names).
void add_process_options(CLI::App& app, ProcessOptions& p, VmConfig& cfg, std::string& log_path,
                         std::string& api_sock, std::string& metrics_path) {
    app.add_option("--id", p.instance_id, "the microVM's id (1 to 64 letters, digits or '-')")
        ->default_str(p.instance_id);
    app.add_option("--api-sock", api_sock,
                   "serve the Firecracker-compatible REST API on this Unix socket (without "
                   "--kernel or --config-file, wait for the configuration and InstanceStart)");
    app.add_flag("--no-api", p.no_api, "no API socket: boot from --config-file alone");
    app.add_option("--http-api-max-payload-size", p.api_max_payload,
                   "the largest API request body in bytes")
        ->check(CLI::Range(size_t{1}, size_t{1} << 20))
        ->default_val(ProcessOptions::kDefaultMaxPayload);
    app.add_option("--log-path", log_path, "append log lines to this file or named pipe");
    // Levels are always shown (ember's default), so the flag only needs accepting. Not bound to a
    // local: CLI11 writes a flag's variable during parse(), after this function has returned.
    app.add_flag("--show-level")->description("show each line's level (ember's default)");
    app.add_flag("--show-log-origin", p.show_log_origin, "show each line's source file and line");
    app.add_option("--metrics-path", metrics_path,
                   "append metrics (a JSON object per line) to this file or named pipe");
    app.add_flag("--boot-timer", cfg.boot_timer,
                 "log the guest's boot time when it writes 123 to 0xd0000000 (Firecracker's boot "
                 "timer; the virtio devices move up one 4 KiB window)");
}

Result<void> finish_process_options(VmConfig& cfg, const std::string& log_path,
                                    const std::string& api_sock, const std::string& metrics_path) {
    ProcessOptions& p = cfg.process;
    EMBER_TRY_VOID(check_instance_id(p.instance_id));
    if (!log_path.empty()) p.log_path = log_path;
    if (!metrics_path.empty()) p.metrics_path = metrics_path;
    if (!api_sock.empty()) p.api_sock = api_sock;
    if (p.no_api && p.api_sock)
        return make_error(Errc::kInvalidArgument, "--no-api and --api-sock: choose one");
    if (p.no_api && !cfg.config_file)
        return make_error(Errc::kInvalidArgument,
                          "--no-api needs --config-file: without an API the configuration must "
                          "come from a file");
    return {};
}

// "10485760", "10M", "64K", "1G": binary suffixes, as sizes in the docs are.
Result<uint64_t> parse_size(std::string_view flag, std::string_view what, std::string_view text) {
    uint64_t scale = 1;
    std::string digits(text);
    if (!digits.empty()) {
        switch (digits.back()) {
        case 'K':
        case 'k':
            scale = uint64_t{1} << 10;
            break;
        case 'M':
        case 'm':
            scale = uint64_t{1} << 20;
            break;
        case 'G':
        case 'g':
            scale = uint64_t{1} << 30;
            break;
        default:
            break;
        }
        if (scale != 1) digits.pop_back();
    }
    uint64_t value = 0;
    const auto* end = digits.data() + digits.size();
    const auto [ptr, ec] = std::from_chars(digits.data(), end, value);
    if (digits.empty() || ec != std::errc() || ptr != end || value > UINT64_MAX / scale)
        return make_error(Errc::kInvalidArgument,
                          "{} {}={}: not a number (digits with an optional K, M or G)", flag, what,
                          text);
    return value * scale;
}

// bw=SIZE[/MS][+BURST] and iops=OPS[/MS][+BURST]: a bucket of SIZE tokens refilled every MS
// milliseconds (default 1000, so SIZE is per second), with a one-time burst.
Result<TokenBucketConfig> parse_bucket(std::string_view flag, std::string_view what,
                                       std::string_view text) {
    TokenBucketConfig bucket;
    bucket.refill_time_ms = 1000;
    std::string_view rest = text;
    if (const size_t plus = rest.find('+'); plus != std::string_view::npos) {
        auto burst = parse_size(flag, what, rest.substr(plus + 1));
        if (!burst) return tl::unexpected(std::move(burst.error()));
        bucket.one_time_burst = *burst;
        rest = rest.substr(0, plus);
    }
    if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
        auto ms = parse_size(flag, what, rest.substr(slash + 1));
        if (!ms) return tl::unexpected(std::move(ms.error()));
        bucket.refill_time_ms = *ms;
        rest = rest.substr(0, slash);
    }
    auto size = parse_size(flag, what, rest);
    if (!size) return tl::unexpected(std::move(size.error()));
    bucket.size = *size;
    EMBER_TRY_VOID(validate(bucket, what).map_error([&](Error e) {
        return std::move(e).with_context(fmt::format("{} {}={}", flag, what, text));
    }));
    return bucket;
}

struct SpecItem {
    std::string_view key;
    std::string_view value;
    bool has_value = false;
};

// "a=1,b,c=2" → items; empty items are skipped.
std::vector<SpecItem> split_spec(std::string_view spec) {
    std::vector<SpecItem> items;
    size_t start = 0;
    while (start <= spec.size()) {
        size_t comma = spec.find(',', start);
        if (comma == std::string_view::npos) comma = spec.size();
        const std::string_view item = spec.substr(start, comma - start);
        start = comma + 1;
        if (item.empty()) continue;
        const size_t eq = item.find('=');
        if (eq == std::string_view::npos)
            items.push_back({item, {}, false});
        else
            items.push_back({item.substr(0, eq), item.substr(eq + 1), true});
    }
    return items;
}

Result<uint16_t> parse_mtu(std::string_view text) {
    unsigned value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || value < virtio::net::kMinMtu ||
        value > virtio::net::kMaxMtu)
        return make_error(Errc::kInvalidArgument, "--net mtu={}: use a number in {}..{}", text,
                          virtio::net::kMinMtu, virtio::net::kMaxMtu);
    return static_cast<uint16_t>(value);
}

} // namespace

Result<virtio::rng::EntropyConfig> parse_entropy(std::string_view spec) {
    virtio::rng::EntropyConfig entropy;
    for (const SpecItem& item : split_spec(spec)) {
        const bool bw = item.key == "bw";
        if (!bw && item.key != "ops" && item.key != "iops")
            return make_error(Errc::kInvalidArgument,
                              "--entropy: unknown key '{}'; use bw=BYTES[/MS][+BURST] or "
                              "ops=OPS[/MS][+BURST]",
                              item.key);
        if (item.value.empty())
            return make_error(Errc::kInvalidArgument, "--entropy {}: needs a value ({}=...)",
                              item.key, item.key);
        auto bucket = parse_bucket("--entropy", item.key, item.value);
        if (!bucket) return tl::unexpected(std::move(bucket.error()));
        (bw ? entropy.rate_limiter.bandwidth : entropy.rate_limiter.ops) = *bucket;
    }
    return entropy;
}

Result<virtio::vsock::VsockConfig> parse_vsock(std::string_view spec) {
    virtio::vsock::VsockConfig vsock;
    bool have_cid = false;
    for (const SpecItem& item : split_spec(spec)) {
        const std::string_view key = item.key;
        if (item.value.empty())
            return make_error(Errc::kInvalidArgument, "--vsock {}: needs a value ({}=...)", key,
                              key);
        if (key == "cid" || key == "guest_cid") {
            uint64_t cid = 0;
            const auto* end = item.value.data() + item.value.size();
            const auto [ptr, ec] = std::from_chars(item.value.data(), end, cid);
            if (ec != std::errc() || ptr != end || cid < virtio::vsock::kMinGuestCid ||
                cid > virtio::vsock::kMaxGuestCid)
                return make_error(Errc::kInvalidArgument,
                                  "--vsock cid={}: use a number in {}..{} (0-2 are reserved)",
                                  item.value, virtio::vsock::kMinGuestCid,
                                  virtio::vsock::kMaxGuestCid);
            vsock.guest_cid = static_cast<uint32_t>(cid);
            have_cid = true;
        } else if (key == "uds" || key == "uds_path") {
            if (item.value.size() > 107)
                return make_error(Errc::kInvalidArgument,
                                  "--vsock uds={}: a Unix socket path has at most 107 bytes",
                                  item.value);
            vsock.uds_path = item.value;
        } else {
            return make_error(Errc::kInvalidArgument,
                              "--vsock: unknown key '{}'; use cid=N,uds=PATH", key);
        }
    }
    if (!have_cid || vsock.uds_path.empty())
        return make_error(Errc::kInvalidArgument,
                          "--vsock '{}': needs cid=N and uds=PATH (e.g. --vsock "
                          "cid=3,uds=/tmp/v.sock)",
                          spec);
    return vsock;
}

Result<virtio::net::NetConfig> parse_net(std::string_view spec) {
    virtio::net::NetConfig net;
    for (const SpecItem& item : split_spec(spec)) {
        const std::string_view key = item.key;
        if (item.value.empty())
            return make_error(Errc::kInvalidArgument, "--net {}: needs a value ({}=...)", key, key);
        if (key == "tap") {
            if (item.value.size() > 15)
                return make_error(Errc::kInvalidArgument,
                                  "--net tap={}: a Linux interface name has at most 15 bytes",
                                  item.value);
            net.tap = item.value;
        } else if (key == "id") {
            net.id = item.value;
        } else if (key == "mac") {
            const auto mac = virtio::net::parse_mac(item.value);
            if (!mac)
                return make_error(Errc::kInvalidArgument,
                                  "--net mac={}: use six hex bytes like 06:00:ac:10:00:02",
                                  item.value);
            net.mac = *mac;
        } else if (key == "mtu") {
            auto mtu = parse_mtu(item.value);
            if (!mtu) return tl::unexpected(std::move(mtu.error()));
            net.mtu = *mtu;
        } else if (key == "rx-bw" || key == "rx-ops" || key == "tx-bw" || key == "tx-ops") {
            auto bucket = parse_bucket("--net", key, item.value);
            if (!bucket) return tl::unexpected(std::move(bucket.error()));
            RateLimiterConfig& limiter =
                key.starts_with("rx") ? net.rx_rate_limiter : net.tx_rate_limiter;
            (key.ends_with("bw") ? limiter.bandwidth : limiter.ops) = *bucket;
        } else {
            return make_error(Errc::kInvalidArgument,
                              "--net: unknown key '{}'; use tap, id, mac, mtu, rx-bw, rx-ops, "
                              "tx-bw, tx-ops",
                              key);
        }
    }
    if (net.tap.empty())
        return make_error(Errc::kInvalidArgument,
                          "--net '{}': tap=NAME is missing (e.g. --net tap=tap0; create the tap "
                          "with `ip tuntap add dev tap0 mode tap`)",
                          spec);
    return net;
}

Result<virtio::block::DriveConfig> parse_drive(std::string_view spec) {
    using virtio::block::CacheMode;
    virtio::block::DriveConfig drive;
    for (const SpecItem& item : split_spec(spec)) {
        // Plain names, not a structured binding: clang 14 cannot capture one in a lambda.
        const std::string_view key = item.key;
        const std::string_view value = item.value;
        const bool has_value = item.has_value;
        auto need_value = [&]() -> Result<void> {
            if (!has_value || value.empty())
                return make_error(Errc::kInvalidArgument, "--drive {}: needs a value ({}=...)", key,
                                  key);
            return {};
        };
        if (key == "path" || key == "id" || key == "overlay" || key == "cache" || key == "engine" ||
            key == "bw" || key == "iops") {
            EMBER_TRY_VOID(need_value());
        } else if ((key == "ro" || key == "root") && has_value) {
            return make_error(Errc::kInvalidArgument, "--drive {}: a flag, takes no value", key);
        }
        if (key == "path") {
            drive.path = value;
        } else if (key == "id") {
            drive.id = value;
        } else if (key == "overlay") {
            drive.overlay = std::string(value);
        } else if (key == "ro") {
            drive.read_only = true;
        } else if (key == "root") {
            drive.root = true;
        } else if (key == "cache") {
            if (value == "unsafe" || value == "Unsafe") {
                drive.cache_mode = CacheMode::kUnsafe;
            } else if (value == "writeback" || value == "Writeback") {
                drive.cache_mode = CacheMode::kWriteback;
            } else {
                return make_error(Errc::kInvalidArgument,
                                  "--drive cache={}: use unsafe (flushes ignored) or writeback "
                                  "(flushes reach the disk)",
                                  value);
            }
        } else if (key == "engine") {
            auto kind = virtio::block::parse_engine_kind(value);
            if (!kind) return tl::unexpected(std::move(kind.error()).with_context("--drive"));
            drive.engine = *kind;
        } else if (key == "bw" || key == "iops") {
            auto bucket = parse_bucket("--drive", key, value);
            if (!bucket) return tl::unexpected(std::move(bucket.error()));
            (key == "bw" ? drive.rate_limiter.bandwidth : drive.rate_limiter.ops) = *bucket;
        } else {
            return make_error(Errc::kInvalidArgument,
                              "--drive: unknown key '{}'; use path, id, ro, root, cache, engine, "
                              "overlay, bw, iops",
                              key);
        }
    }
    if (drive.path.empty())
        return make_error(
            Errc::kInvalidArgument,
            "--drive '{}': path=IMAGE is missing (e.g. --drive path=rootfs.ext4,root)", spec);
    return drive;
}

Result<CliRequest> parse_cli(const std::vector<std::string>& args) {
    CLI::App app{"ember: a minimal KVM microVM monitor. Boots a PVH ELF kernel (without --kernel, "
                 "the bundled 'hello' guest) and exits with the guest's status.",
                 "ember"};
    app.set_version_flag("-V,--version", std::string("ember ") + EMBER_VERSION);
    VmConfig cfg;
    std::string kernel;
    std::string initrd;
    std::string serial = "stdout";
    std::string level = "warn";
    std::string protocol = "auto";
    app.add_option("--kernel", kernel,
                   "kernel to boot: a PVH ELF, a Linux vmlinux or a bzImage (default: the bundled "
                   "hello guest)");
    app.add_option("--cmdline", cfg.cmdline, "kernel command line")
        ->default_str(VmConfig::kDefaultCmdline);
    app.add_option("--initrd", initrd, "initial ramdisk (PVH module 0, or the Linux initrd)");
    app.add_option("--boot-protocol", protocol,
                   "auto (PVH note -> PVH, other ELF -> Linux vmlinux, else bzImage), pvh or linux "
                   "(the Linux 64-bit boot protocol)")
        ->default_str("auto");
    app.add_option("--mem-mib", cfg.mem_mib, "guest RAM in MiB")
        ->check(CLI::Range(VmConfig::kMinMemMib, layout::kMaxMemMib))
        ->default_val(VmConfig::kDefaultMemMib);
    app.add_option("--vcpus", cfg.vcpus, "number of vCPUs")
        ->check(CLI::Range(1U, VmConfig::kMaxVcpus))
        ->default_val(1);
    app.add_option("--serial", serial,
                   "where the guest's serial console goes: stdout, none or "
                   "file:PATH (input comes from stdin with stdout)")
        ->default_str("stdout");
    app.add_flag("--timings", cfg.print_timings,
                 "print start-up and run timings and the exit counts to stderr on exit");
    app.add_flag("--sync-teardown", cfg.sync_teardown,
                 "destroy the VM before exiting instead of handing it to a short-lived child "
                 "process (slower exit: the kernel takes 10-20 ms to destroy a VM)");
    std::vector<std::string> drives;
    app.add_option("--drive", drives,
                   "a virtio-blk drive (repeatable): path=IMAGE[,id=ID][,ro][,root]"
                   "[,cache=unsafe|writeback][,engine=auto|sync|io_uring][,overlay=FILE]"
                   "[,bw=BYTES[/MS][+BURST]][,iops=OPS[/MS][+BURST]] (docs/virtio.md)")
        ->allow_extra_args(false)
        ->take_all();
    std::vector<std::string> nets;
    app.add_option("--net", nets,
                   "a virtio-net interface over an existing tap (repeatable): tap=NAME[,id=ID]"
                   "[,mac=AA:BB:CC:DD:EE:FF][,mtu=N][,rx-bw=..][,rx-ops=..][,tx-bw=..][,tx-ops=..] "
                   "(docs/virtio.md)")
        ->allow_extra_args(false)
        ->take_all();
    std::string entropy;
    auto* entropy_opt = app.add_option("--entropy", entropy,
                                       "a virtio-rng device, optionally rate limited: "
                                       "[bw=BYTES[/MS][+BURST]][,ops=OPS[/MS][+BURST]]")
                            ->expected(0, 1);
    std::string vsock;
    auto* vsock_opt = app.add_option("--vsock", vsock,
                                     "a virtio-vsock device proxied to Unix sockets: "
                                     "cid=GUEST_CID,uds=PATH (host processes connect to PATH and "
                                     "send 'CONNECT <port>'; the guest reaches PATH_<port>; "
                                     "docs/virtio.md)");
    std::string config_file;
    app.add_option("--config-file", config_file,
                   "boot from Firecracker's JSON configuration: boot-source, machine-config, "
                   "drives, ... under kebab-case keys (docs/api-resources.md); applied on top of "
                   "the other flags");
    app.add_option("--log-level,--level", level, "error, warn, info or debug")->default_str("warn");
    std::string log_path;
    std::string api_sock;
    std::string metrics_path;
    add_process_options(app, cfg.process, cfg, log_path, api_sock, metrics_path);
    bool no_seccomp = false;
    std::string seccomp_filter;
    auto* no_seccomp_flag = app.add_flag(
        "--no-seccomp", no_seccomp,
        "run without the per-thread seccomp filters (debugging only; docs/seccomp.md)");
    app.add_option("--seccomp-filter", seccomp_filter,
                   "per-thread seccomp allowlists from a JSON file in Firecracker's seccompiler "
                   "format, instead of the built-in ones (docs/seccomp.md)")
        ->excludes(no_seccomp_flag);

    std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
    std::reverse(rest.begin(), rest.end()); // CLI11 consumes a reversed vector
    try {
        app.parse(rest);
    } catch (const CLI::CallForHelp&) {
        return CliRequest(PrintAndExit{app.help()});
    } catch (const CLI::CallForVersion&) {
        return CliRequest(PrintAndExit{std::string("ember ") + EMBER_VERSION + "\n"});
    } catch (const CLI::ParseError& e) {
        return make_error(Errc::kInvalidArgument, "{} (see ember --help)", e.what());
    }
    if (!kernel.empty()) cfg.kernel_path = kernel;
    if (!initrd.empty()) cfg.initrd_path = initrd;
    if (!config_file.empty()) cfg.config_file = config_file;
    EMBER_TRY_VOID(finish_process_options(cfg, log_path, api_sock, metrics_path));
    if (no_seccomp) cfg.seccomp.mode = jail::SeccompConfig::Mode::kOff;
    if (!seccomp_filter.empty())
        cfg.seccomp = jail::SeccompConfig{jail::SeccompConfig::Mode::kFile, seccomp_filter};
    auto s = parse_serial(serial);
    if (!s) return tl::unexpected(std::move(s.error()));
    cfg.serial = *s;
    auto p = boot::parse_boot_protocol(protocol);
    if (!p) return tl::unexpected(std::move(p.error()).with_context("--boot-protocol"));
    cfg.boot_protocol = *p;
    auto l = parse_level(level);
    if (!l) return tl::unexpected(std::move(l.error()));
    cfg.log_level = *l;
    for (const auto& spec : drives) {
        auto drive = parse_drive(spec);
        if (!drive) return tl::unexpected(std::move(drive.error()));
        cfg.drives.push_back(std::move(*drive));
    }
    for (const auto& spec : nets) {
        auto net = parse_net(spec);
        if (!net) return tl::unexpected(std::move(net.error()));
        cfg.nets.push_back(std::move(*net));
    }
    if (entropy_opt->count() > 0) {
        auto e = parse_entropy(entropy);
        if (!e) return tl::unexpected(std::move(e.error()));
        cfg.entropy = *e;
    }
    if (vsock_opt->count() > 0) {
        auto v = parse_vsock(vsock);
        if (!v) return tl::unexpected(std::move(v.error()));
        cfg.vsock = std::move(*v);
    }
    return CliRequest(std::move(cfg));
}

} // namespace ember
