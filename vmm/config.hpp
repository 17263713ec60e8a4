// VmConfig: everything needed to build a VM. The CLI fills it today; the REST API and the
// config file (Firecracker's JSON shapes) will map onto the same struct.
#pragma once

#include "boot/boot_protocol.hpp"
#include "jail/seccomp.hpp"
#include "virtio/block/drive.hpp"
#include "virtio/net/net_config.hpp"
#include "virtio/rng/rng_device.hpp"
#include "virtio/vsock/vsock_device.hpp"
#include "vmm/sys/logger.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ember {

struct SerialConfig {
    enum class Mode { kStdout, kNone, kFile };
    Mode mode = Mode::kStdout;
    std::string path; // for kFile
};

// How ember runs around the VM: its API socket, logs and metrics (Firecracker's flags).
struct ProcessOptions {
    static constexpr size_t kDefaultMaxPayload = 51200; // Firecracker's default
    std::string instance_id = "anonymous-instance";     // --id: GET /'s id, the metrics' id
    std::optional<std::string> api_sock;                // --api-sock: serve the REST API there
    bool no_api = false;                                // --no-api (needs --config-file)
    size_t api_max_payload = kDefaultMaxPayload;        // --http-api-max-payload-size
    std::optional<std::string> log_path;                // --log-path
    bool show_log_origin = false;                       // --show-log-origin
    std::optional<std::string> metrics_path;            // --metrics-path
};

struct VmConfig {
    static constexpr uint64_t kDefaultMemMib = 128;
    static constexpr uint64_t kMinMemMib = 2;
    static constexpr uint32_t kMaxVcpus = 32;
    // Linux-friendly and harmless to unikernels, which ignore what they do not know: the console
    // on the UART, reboot through the keyboard controller (which ends ember), reboot at once on
    // panic, and no i8042 probing of a mouse, a multiplexer or the keyboard ember does not have
    // (each would cost Linux a timeout at boot). Not `i8042.nopnp`: ACPI's PNP0303 is how Linux
    // finds the keyboard's IRQ 1 (docs/devices.md).
    static constexpr const char* kDefaultCmdline =
        "console=ttyS0 reboot=k panic=1 i8042.noaux i8042.nomux i8042.dumbkbd";

    std::optional<std::string> kernel_path; // nullopt: the bundled hello guest
    std::string cmdline = kDefaultCmdline;
    std::optional<std::string> initrd_path;
    boot::BootProtocol boot_protocol = boot::BootProtocol::kAuto;
    uint64_t mem_mib = kDefaultMemMib;
    uint32_t vcpus = 1;
    SerialConfig serial;
    // virtio-blk drives, in the order given (the root drive goes first on the bus).
    std::vector<virtio::block::DriveConfig> drives;
    // virtio-net interfaces over host taps, after the drives on the bus.
    std::vector<virtio::net::NetConfig> nets;
    // A virtio-rng device (--entropy, /entropy), after the interfaces on the bus.
    std::optional<virtio::rng::EntropyConfig> entropy;
    // A virtio-vsock device proxied to Unix sockets (--vsock, /vsock), last on the bus.
    std::optional<virtio::vsock::VsockConfig> vsock;
    // --config-file: Firecracker's JSON document, applied on top of the flags (api/model).
    std::optional<std::string> config_file;
    // --boot-timer: the boot timer device (vmm/devices/boot_timer.hpp) at the first MMIO window.
    bool boot_timer = false;
    bool print_timings = false;
    bool sync_teardown = false; // destroy the VM before exiting (teardown.hpp)
    log::Level log_level = log::Level::kWarn;
    ProcessOptions process;
    // Per-thread seccomp filters: built in, --seccomp-filter FILE, or --no-seccomp.
    jail::SeccompConfig seccomp;
};

} // namespace ember
