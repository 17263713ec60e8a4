// libFuzzer target: a hostile virtio-vsock driver. The input becomes guest RAM holding the three
// rings (descriptor tables, avail rings, packet headers and payloads); a host process connects
// to uds_path and sends a line cut from the input, and a host listener waits on
// `<uds_path>_52` (the input's REQUESTs to port 52 connect there). The device runs its transmit
// and receive paths over it several times, with the host sockets sending bytes in between. The
// guest may aim buffers anywhere, the used rings included, so what lands in guest RAM is not
// checked here (the unit tests check the packets); a crash, a sanitizer report, a hang or a
// stream count past the limit is a bug.
#include "virtio/vsock/vsock_device.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace {

using namespace ember;
using namespace ember::virtio;

constexpr uint64_t kRamSize = 0x10000;
constexpr uint16_t kQueueSize = 8;
constexpr uint64_t kCid = 3;

class NullIrq final : public IrqLine {
public:
    void trigger() override {}
};

void check(bool ok) {
    if (!ok) std::abort();
}

// The sockets' folder. A plain array, not a std::string: the exit handler that removes the
// folder runs after static objects are destroyed.
char g_socket_dir[] = "/tmp/ember-vsock-fuzz-XXXXXX";

std::string socket_dir() {
    static const bool made = [] {
        check(::mkdtemp(g_socket_dir) != nullptr);
        // libFuzzer ends with exit(): remove the folder and its sockets then.
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(g_socket_dir, ec);
        });
        return true;
    }();
    (void)made;
    return g_socket_dir;
}

UniqueFd unix_socket(const std::string& path, bool listen) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(&addr.sun_path[0], path.c_str(), path.size() + 1);
    // Safety: sockaddr_un is a sockaddr by the socket API's contract.
    const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
    if (listen) {
        ::unlink(path.c_str());
        if (::bind(fd.get(), sa, sizeof(addr)) != 0 || ::listen(fd.get(), 64) != 0) return {};
    } else if (::connect(fd.get(), sa, sizeof(addr)) != 0) {
        return {};
    }
    return fd;
}

void run(const uint8_t* data, size_t size) {
    if (size < 16) return;
    auto memory = GuestMemory::create(std::array{GuestRegion{0, kRamSize}});
    if (!memory) return;
    (void)memory->write(0, std::as_bytes(std::span(data, std::min<size_t>(size, 0xd000))));
    const std::string uds = socket_dir() + "/v.sock";
    static UniqueFd listener = unix_socket(uds + "_52", true);
    ::unlink(uds.c_str());
    auto device = vsock::VsockDevice::create(vsock::VsockOptions{
        .name = "fuzz", .queue_size = kQueueSize, .guest_cid = kCid, .uds_path = uds});
    auto loop = EventLoop::create();
    std::vector<EventFd> events;
    for (int i = 0; i < 3; ++i)
        if (auto e = EventFd::create()) events.push_back(std::move(*e));
    if (!device || !loop || events.size() != 3) return;
    check((*device)->attach(*loop, events).has_value());
    // Avail rings low, descriptor tables next, the used rings (device-written) at the top.
    const std::array<QueueConfig, 3> queues{
        QueueConfig{kQueueSize, kQueueSize, true, 0x100, 0x0, 0xd000},
        QueueConfig{kQueueSize, kQueueSize, true, 0x200, 0x40, 0xe000},
        QueueConfig{kQueueSize, kQueueSize, true, 0x300, 0x80, 0xf000}};
    uint64_t features = 0;
    std::memcpy(&features, data, sizeof features);
    features = (features & (*device)->available_features()) | kFeatureVersion1;
    NullIrq irq;
    VirtioInterrupt interrupt(irq);
    if (!(*device)->activate(ActivationContext{.memory = *memory,
                                               .features = features,
                                               .queues = queues,
                                               .queue_events = events,
                                               .interrupt = interrupt})) {
        (*device)->detach();
        return;
    }
    // A host process with a line from the input (often not a CONNECT line at all).
    UniqueFd host = unix_socket(uds, false);
    const size_t line = std::min<size_t>(data[8] % 40, size - 16);
    if (host.valid()) (void)::send(host.get(), data + 16, line, MSG_NOSIGNAL);
    for (int round = 0; round < 4; ++round) {
        for (auto& e : events)
            e.signal();
        for (int i = 0; i < 16; ++i)
            if (loop->run_once(0).value_or(0) == 0) break;
        // The host side of guest-initiated streams: accept, send a little, keep them open.
        for (;;) {
            UniqueFd peer(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK));
            if (!peer.valid()) break;
            (void)::send(peer.get(), data, std::min<size_t>(size, 64), MSG_NOSIGNAL);
        }
        if (host.valid()) (void)::send(host.get(), data, std::min<size_t>(size, 32), MSG_NOSIGNAL);
    }
    // The device's own books stay consistent whatever the guest did.
    const vsock::VsockMetrics m = (*device)->metrics();
    check(m.tx_bad_packets <= m.tx_bad_packets + m.tx_packets);
    check(m.connections <= 1024);
    (*device)->detach();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    run(data, size);
    return 0;
}
