// ActionChannel: how the API thread hands a VmmAction to the VMM thread and waits for its
// VmmResponse (DESIGN.md: a queue + an eventfd).
//
// The API thread calls call(), which queues the action, signals the eventfd and blocks until the
// VMM thread has answered. The VMM thread watches fd() in its event loop and runs serve(),
// which answers everything queued. close() (when the VM is over, or ember is stopping) answers
// what is still queued, and every later call, with a 503 fault at once, so an API thread
// waiting on a VMM thread that has gone can never hang (HttpServer::stop() joins it).
#pragma once

#include "api/vmm_action.hpp"
#include "vmm/sys/event_fd.hpp"
#include "vmm/sys/result.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace ember::api {

class ActionChannel final {
public:
    using Handler = std::function<VmmResponse(const VmmAction&)>;

    static Result<std::unique_ptr<ActionChannel>> create();
    ActionChannel(const ActionChannel&) = delete;
    ActionChannel& operator=(const ActionChannel&) = delete;
    ActionChannel(ActionChannel&&) = delete;
    ActionChannel& operator=(ActionChannel&&) = delete;
    ~ActionChannel();

    // API thread: blocks until the VMM thread answered `action` (or the channel closed).
    VmmResponse call(VmmAction action);

    // VMM thread: readable when actions wait; serve() answers them all with `handler`.
    [[nodiscard]] int fd() const { return event_.fd(); }
    void serve(const Handler& handler);

    // Any thread: answers what is queued, and every later call(), with a 503 fault.
    void close();

private:
    struct Pending {
        VmmAction action;
        VmmResponse response;
        bool done = false;
    };

    explicit ActionChannel(EventFd event) : event_(std::move(event)) {}
    void answer(Pending& pending, VmmResponse response);

    EventFd event_;
    std::mutex mutex_;
    std::condition_variable answered_;
    std::deque<Pending*> queue_; // guarded by mutex_; entries live on the callers' stacks
    bool closed_ = false;        // guarded by mutex_
};

} // namespace ember::api
