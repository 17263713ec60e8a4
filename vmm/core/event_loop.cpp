#include "vmm/core/event_loop.hpp"

#include <array>

namespace ember {

Result<EventLoop> EventLoop::create() {
    const int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) return sys_error(Errc::kOsError, "epoll_create1");
    return EventLoop(UniqueFd(fd));
}

Result<void> EventLoop::add(int fd, uint32_t events, Handler handler) {
    if (ids_by_fd_.contains(fd))
        return make_error(Errc::kInternal, "event loop: fd {} is already watched", fd);
    const uint64_t id = next_id_++;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
        return sys_error(Errc::kOsError, "event loop: cannot watch fd {}", fd);
    handlers_.emplace(id, std::make_shared<Entry>(Entry{fd, std::move(handler)}));
    ids_by_fd_.emplace(fd, id);
    return {};
}

Result<void> EventLoop::modify(int fd, uint32_t events) {
    auto it = ids_by_fd_.find(fd);
    if (it == ids_by_fd_.end())
        return make_error(Errc::kInternal, "event loop: fd {} is not watched", fd);
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = it->second;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0)
        return sys_error(Errc::kOsError, "event loop: cannot modify fd {}", fd);
    return {};
}

void EventLoop::remove(int fd) {
    auto it = ids_by_fd_.find(fd);
    if (it == ids_by_fd_.end()) return;
    // The fd may already be closed (epoll dropped it then); nothing to report either way.
    (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    handlers_.erase(it->second);
    ids_by_fd_.erase(it);
}

Result<int> EventLoop::run_once(int timeout_ms) {
    std::array<epoll_event, 32> events{};
    const int n =
        ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return 0;
        return sys_error(Errc::kOsError, "epoll_wait");
    }
    int ran = 0;
    for (int i = 0; i < n; ++i) {
        // Copies: epoll_event is packed on x86_64, so its u64 is not aligned for a reference.
        const uint64_t id = events.at(static_cast<size_t>(i)).data.u64;
        const uint32_t mask = events.at(static_cast<size_t>(i)).events;
        auto it = handlers_.find(id);
        if (it == handlers_.end()) continue; // removed by an earlier handler in this batch
        // Hold a reference: the handler may remove itself while it runs.
        const std::shared_ptr<Entry> entry = it->second;
        entry->handler(mask);
        ++ran;
    }
    return ran;
}

Result<void> EventLoop::run() {
    while (!stopped_) {
        auto r = run_once(-1);
        if (!r) return tl::unexpected(std::move(r.error()));
    }
    return {};
}

} // namespace ember
