// libFuzzer target: a hostile virtio-net driver. The input becomes guest RAM holding both rings
// (descriptor tables, avail rings, buffers), the features the driver negotiates, and frames the
// host sends through the "tap" (a SOCK_SEQPACKET socket pair). The device runs its receive and
// transmit paths over it; every frame it writes to the tap must keep the device's promises (a
// header and 1..65562 bytes, a header check_tx_header accepts). Anything else (a crash, a
// sanitizer report, a hang) is a bug.
#include "virtio/net/net_device.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using namespace ember;
using namespace ember::virtio;

constexpr uint64_t kRamSize = 0x10000;
constexpr uint16_t kQueueSize = 8;

class NullIrq final : public IrqLine {
public:
    void trigger() override {}
};

void check(bool ok) {
    if (!ok) std::abort();
}

void run(const uint8_t* data, size_t size) {
    if (size < 8) return;
    auto memory = GuestMemory::create(std::array{GuestRegion{0, kRamSize}});
    if (!memory) return;
    const size_t ram_bytes = std::min<size_t>(size, 0xe000);
    (void)memory->write(0, std::as_bytes(std::span(data, ram_bytes)));
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return;
    UniqueFd host(fds[1]);
    auto device = net::NetDevice::create(net::Tap::from_fd(UniqueFd(fds[0]), "fuzz"),
                                         net::NetOptions{.name = "fuzz", .queue_size = kQueueSize});
    auto loop = EventLoop::create();
    std::vector<EventFd> events;
    for (int i = 0; i < 2; ++i)
        if (auto e = EventFd::create()) events.push_back(std::move(*e));
    if (!device || !loop || events.size() != 2) return;
    check((*device)->attach(*loop, events).has_value());
    // Rings: rx avail at 0x0 / descriptors at 0x100, tx avail at 0x80 / descriptors at 0x200;
    // the used rings, which only the device writes, at the top.
    const std::array<QueueConfig, 2> queues{
        QueueConfig{kQueueSize, kQueueSize, true, 0x100, 0x0, 0xe000},
        QueueConfig{kQueueSize, kQueueSize, true, 0x200, 0x80, 0xf000}};
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
    // Two frames from the host, cut from the end of the input.
    for (size_t len : {size / 3, size / 5}) {
        if (len == 0 || len > size) continue;
        (void)::send(host.get(), data + size - len, len, 0);
    }
    for (int i = 0; i < 8; ++i)
        if (loop->run_once(0).value_or(0) == 0) break;
    std::vector<uint8_t> frame(70000);
    for (;;) {
        const ssize_t n = ::recv(host.get(), frame.data(), frame.size(), 0);
        if (n < 0) break;
        const auto len = static_cast<size_t>(n);
        check(len > net::kVnetHeaderSize && len <= net::kVnetHeaderSize + net::kMaxFrameBytes);
        net::VnetHeader header{};
        std::memcpy(&header, frame.data(), sizeof header);
        check(net::check_tx_header(header, features, len - net::kVnetHeaderSize).empty());
    }
    (*device)->detach();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    run(data, size);
    return 0;
}
