#include "virtio/rng/rng_device.hpp"

#include "vmm/sys/logger.hpp"

#include <linux/virtio_ids.h>
#include <sys/random.h>

#include <algorithm>
#include <bit>
#include <cerrno>

namespace ember::virtio::rng {

Result<void> getrandom_fill(std::span<std::byte> out) {
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return sys_error(Errc::kOsError, "getrandom");
        }
        done += static_cast<size_t>(n);
    }
    return {};
}

Result<std::unique_ptr<RngDevice>> RngDevice::create(const RngOptions& options,
                                                     EntropySource source, const Clock& clock) {
    if (options.queue_size == 0 || !std::has_single_bit(options.queue_size) ||
        options.queue_size > Queue::kMaxSize)
        return make_error(Errc::kInvalidArgument,
                          "{}: queue size {} must be a power of two in 1..32768", options.name,
                          options.queue_size);
    if (!source) return make_error(Errc::kInternal, "{}: no entropy source", options.name);
    auto limiter = RateLimiter::create(options.rate_limiter, clock);
    if (!limiter) return tl::unexpected(std::move(limiter.error()).with_context(options.name));
    return std::unique_ptr<RngDevice>(
        new RngDevice(options, std::move(source), std::move(*limiter)));
}

RngDevice::RngDevice(const RngOptions& options, EntropySource source, RateLimiter limiter)
    : options_(options), source_(std::move(source)), limiter_(std::move(limiter)) {
    queue_max_sizes_[0] = options.queue_size;
}

uint32_t RngDevice::device_type() const {
    return VIRTIO_ID_RNG;
}

uint64_t RngDevice::available_features() const {
    return feature_bit(VIRTIO_RING_F_EVENT_IDX) | feature_bit(VIRTIO_RING_F_INDIRECT_DESC);
}

void RngDevice::write_config(uint32_t offset, std::span<const std::byte> in) {
    log::debug("{}: ignored a {}-byte config write at {:#x} (no config space)", options_.name,
               in.size(), offset);
}

RngMetrics RngDevice::metrics() const {
    const std::lock_guard lock(mu_);
    return metrics_;
}

Result<void> RngDevice::activate(ActivationContext ctx) {
    const std::lock_guard lock(mu_);
    if (ctx.queues.size() != 1)
        return make_error(Errc::kInternal, "{}: {} queues, expected 1", options_.name,
                          ctx.queues.size());
    if (!ctx.queues[0].ready)
        return make_error(Errc::kInvalidInput, "{}: the driver did not set up the request queue",
                          options_.name);
    auto queue = Queue::create(ctx.queues[0], ctx.memory, ctx.features);
    if (!queue) return tl::unexpected(std::move(queue.error()).with_context(options_.name));
    queue_.emplace(std::move(*queue));
    memory_ = &ctx.memory;
    interrupt_ = &ctx.interrupt;
    active_ = true;
    broken_ = false;
    pending_ = false;
    // The driver may have posted buffers before DRIVER_OK: look at the ring now.
    if (queue_event_ != nullptr) queue_event_->signal();
    return {};
}

bool RngDevice::reset() {
    const std::lock_guard lock(mu_);
    queue_.reset();
    active_ = false;
    broken_ = false;
    pending_ = false;
    used_since_signal_ = false;
    interrupt_ = nullptr;
    memory_ = nullptr;
    return true;
}

Result<void> RngDevice::attach(EventLoop& loop, std::span<const EventFd> queue_events) {
    if (queue_events.size() != 1)
        return make_error(Errc::kInternal, "{}: {} queue events, expected 1", options_.name,
                          queue_events.size());
    queue_event_ = &queue_events[0];
    EMBER_TRY_VOID(loop.add(queue_event_->fd(), EPOLLIN, [this](uint32_t) { on_queue_notify(); }));
    return loop.add(limiter_.fd(), EPOLLIN, [this](uint32_t) { on_rate_limiter_timer(); });
}

void RngDevice::detach(EventLoop& loop) {
    if (queue_event_ != nullptr) loop.remove(queue_event_->fd());
    loop.remove(limiter_.fd());
}

void RngDevice::on_queue_notify() {
    const uint64_t kicks = queue_event_ != nullptr ? queue_event_->consume() : 1;
    const std::lock_guard lock(mu_);
    if (kicks != 0) ++metrics_.notifications;
    process_queue();
}

void RngDevice::on_rate_limiter_timer() {
    const std::lock_guard lock(mu_);
    if (!limiter_.on_timer()) return;
    process_queue();
}

Result<void> RngDevice::update_rate_limiter(const RateLimiterUpdate& update) {
    const std::lock_guard lock(mu_);
    return limiter_.update(update);
}

void RngDevice::process_queue() {
    if (!active_ || broken_ || limiter_.blocked()) return;
    uint64_t served = 0;
    do {
        queue_->disable_notifications();
        const Stop stop = serve_batch(served);
        if (used_since_signal_ && queue_ && queue_->needs_interrupt()) {
            ++metrics_.interrupts;
            interrupt_->signal_used_queue();
        }
        used_since_signal_ = false;
        if (stop == Stop::kYield) {
            // Fairness: let the event loop run other work; our own eventfd brings us back.
            queue_event_->signal();
            return;
        }
        if (stop != Stop::kEmpty) return; // the limiter's timer resumes us, or a reset
    } while (queue_->enable_notifications());
}

RngDevice::Stop RngDevice::serve_batch(uint64_t& served) {
    for (;; ++served) {
        if (served >= kMaxRequestsPerPass && queue_event_ != nullptr) return Stop::kYield;
        if (!pending_) {
            auto popped = queue_->pop_into(chain_);
            if (!popped) {
                mark_broken(popped.error().message);
                return Stop::kBroken;
            }
            if (!*popped) return Stop::kEmpty;
            ++metrics_.requests;
        }
        pending_ = false;
        if (!handle_chain()) {
            pending_ = true;
            return Stop::kThrottled;
        }
        if (broken_) return Stop::kBroken;
    }
}

bool RngDevice::handle_chain() {
    const uint16_t head = chain_.head();
    if (!chain_.readable().empty() || chain_.writable_bytes() == 0) {
        ++metrics_.bad_requests;
        faults_.log(fmt::format("request {} has {} device-readable bytes and {} writable; "
                                "virtio-rng buffers are write-only: returned with 0 bytes",
                                head, chain_.readable_bytes(), chain_.writable_bytes()));
        complete(head, 0);
        return true;
    }
    const auto want =
        static_cast<uint32_t>(std::min<uint64_t>(chain_.writable_bytes(), kMaxRequestBytes));
    if (!limiter_.unlimited() && !limiter_.consume_request(want)) {
        ++metrics_.throttled;
        return false;
    }
    uint32_t done = 0;
    for (const Segment& s : chain_.writable()) {
        if (done == want) break;
        const uint32_t n = std::min(s.len, want - done);
        // The chain parser checked every segment against guest RAM.
        auto view = memory_->span(s.addr, n);
        if (!view) {
            mark_broken(view.error().message());
            return true;
        }
        if (auto filled = source_(*view); !filled) {
            ++metrics_.source_errors;
            faults_.log(fmt::format("the entropy source failed: {}; request {} returned "
                                    "with 0 bytes",
                                    filled.error().describe(), head));
            complete(head, 0);
            return true;
        }
        done += n;
    }
    metrics_.bytes += done;
    complete(head, done);
    return true;
}

void RngDevice::complete(uint16_t head, uint32_t len) {
    if (auto r = queue_->add_used(head, len); !r) {
        mark_broken(r.error().describe());
        return;
    }
    used_since_signal_ = true;
}

void RngDevice::mark_broken(std::string_view why) {
    if (faults_.mark_broken(broken_, why, interrupt_)) ++metrics_.broken;
}

} // namespace ember::virtio::rng
