#include "vmm/cli.hpp"

#include "vmm/core/layout.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>

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

Result<log::Level> parse_level(const std::string& value) {
    if (value == "error") return log::Level::kError;
    if (value == "warn") return log::Level::kWarn;
    if (value == "info") return log::Level::kInfo;
    if (value == "debug") return log::Level::kDebug;
    return make_error(Errc::kInvalidArgument,
                      "--log-level: '{}' is not valid; use error, warn, info or debug", value);
}

} // namespace

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
    app.add_option("--log-level", level, "error, warn, info or debug")->default_str("warn");

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
    auto s = parse_serial(serial);
    if (!s) return tl::unexpected(std::move(s.error()));
    cfg.serial = *s;
    auto p = boot::parse_boot_protocol(protocol);
    if (!p) return tl::unexpected(std::move(p.error()).with_context("--boot-protocol"));
    cfg.boot_protocol = *p;
    auto l = parse_level(level);
    if (!l) return tl::unexpected(std::move(l.error()));
    cfg.log_level = *l;
    return CliRequest(std::move(cfg));
}

} // namespace ember
