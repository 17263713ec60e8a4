#include "api/action_channel.hpp"

namespace ember::api {
namespace {

VmmResponse closed_response() {
    return http::Response::fault(http::Status::kServiceUnavailable,
                                 "the VMM is shutting down: the microVM has stopped");
}

} // namespace

Result<std::unique_ptr<ActionChannel>> ActionChannel::create() {
    auto event = EventFd::create();
    if (!event) return tl::unexpected(std::move(event.error()));
    return std::unique_ptr<ActionChannel>(new ActionChannel(std::move(*event)));
}

ActionChannel::~ActionChannel() {
    close();
}

VmmResponse ActionChannel::call(VmmAction action) {
    Pending pending{std::move(action), {}, false};
    std::unique_lock lock(mutex_);
    if (closed_) return closed_response();
    queue_.push_back(&pending);
    event_.signal();
    answered_.wait(lock, [&] { return pending.done; });
    return std::move(pending.response);
}

void ActionChannel::serve(const Handler& handler) {
    event_.consume();
    for (;;) {
        Pending* pending = nullptr;
        {
            const std::lock_guard lock(mutex_);
            if (queue_.empty()) return;
            pending = queue_.front();
            queue_.pop_front();
        }
        // The caller waits on `done`, so `pending` stays alive while the handler runs.
        answer(*pending, handler(pending->action));
    }
}

void ActionChannel::answer(Pending& pending, VmmResponse response) {
    {
        const std::lock_guard lock(mutex_);
        pending.response = std::move(response);
        pending.done = true;
    }
    answered_.notify_all();
}

void ActionChannel::close() {
    std::deque<Pending*> left;
    {
        const std::lock_guard lock(mutex_);
        closed_ = true;
        left.swap(queue_);
    }
    for (Pending* p : left)
        answer(*p, closed_response());
}

} // namespace ember::api
