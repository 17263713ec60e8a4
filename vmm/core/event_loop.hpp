// EventLoop: the VMM thread's epoll loop. Every device back end registers its fds here (queue
// ioeventfds, tap fds, completion eventfds, timerfds, stdin); there is no thread per device.
//
// Handlers run on the thread that calls run()/run_once(). A handler may add or remove handlers,
// including its own; a removed handler is never called again, even later in the same batch.
#pragma once

#include "vmm/sys/result.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

namespace ember {

class EventLoop final {
public:
    using Handler = std::function<void(uint32_t events)>;

    static Result<EventLoop> create();

    // Watches `fd` for `events` (EPOLLIN, ...). One handler per fd.
    Result<void> add(int fd, uint32_t events, Handler handler);
    Result<void> modify(int fd, uint32_t events);
    // Stops watching `fd`. Unknown fds are ignored.
    void remove(int fd);

    // Waits up to timeout_ms (-1: forever) and runs the handlers of ready fds. Returns how many
    // handlers ran.
    Result<int> run_once(int timeout_ms);
    // Runs until stop() is called (from a handler on this thread).
    Result<void> run();
    void stop() { stopped_ = true; }
    [[nodiscard]] bool stopped() const { return stopped_; }
    [[nodiscard]] size_t watched() const { return handlers_.size(); }

private:
    struct Entry {
        int fd;
        Handler handler;
    };
    explicit EventLoop(UniqueFd epoll) : epoll_(std::move(epoll)) {}

    UniqueFd epoll_;
    // Each registration gets a fresh id, stored in epoll_data; an event whose id is gone
    // (removed earlier in the batch) is dropped.
    std::unordered_map<uint64_t, std::shared_ptr<Entry>> handlers_;
    std::unordered_map<int, uint64_t> ids_by_fd_;
    uint64_t next_id_ = 1;
    bool stopped_ = false;
};

} // namespace ember
