#include "virtio/net/net_device.hpp"

#include "vmm/sys/logger.hpp"

#include <linux/virtio_ids.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

namespace ember::virtio::net {
namespace {

constexpr uint64_t kOffloadFeatures =
    feature_bit(VIRTIO_NET_F_CSUM) | feature_bit(VIRTIO_NET_F_GUEST_CSUM) |
    feature_bit(VIRTIO_NET_F_GUEST_TSO4) | feature_bit(VIRTIO_NET_F_GUEST_TSO6) |
    feature_bit(VIRTIO_NET_F_GUEST_ECN) | feature_bit(VIRTIO_NET_F_GUEST_UFO) |
    feature_bit(VIRTIO_NET_F_HOST_TSO4) | feature_bit(VIRTIO_NET_F_HOST_TSO6) |
    feature_bit(VIRTIO_NET_F_HOST_ECN) | feature_bit(VIRTIO_NET_F_HOST_UFO);

// Copies `data` into the writable segments of `chain`, in order; returns the bytes copied.
size_t scatter(const GuestMemory& memory, const DescriptorChain& chain,
               std::span<const std::byte> data) {
    size_t done = 0;
    for (const Segment& s : chain.writable()) {
        if (done == data.size()) break;
        const size_t n = std::min<size_t>(s.len, data.size() - done);
        // The chain parser checked the segment against guest RAM.
        auto view = memory.span(s.addr, n);
        if (!view) break;
        std::memcpy(view->data(), data.data() + done, n);
        done += n;
    }
    return done;
}

} // namespace

Result<std::unique_ptr<NetDevice>> NetDevice::create(Tap tap, const NetOptions& options,
                                                     const Clock& clock) {
    if (options.queue_size < 2 || !std::has_single_bit(options.queue_size) ||
        options.queue_size > Queue::kMaxSize)
        return make_error(Errc::kInvalidArgument,
                          "{}: queue size {} must be a power of two in 2..32768", options.name,
                          options.queue_size);
    if (options.mtu && *options.mtu < kMinMtu)
        return make_error(Errc::kInvalidArgument, "{}: mtu {} is below {}", options.name,
                          *options.mtu, kMinMtu);
    auto rx = RateLimiter::create(options.rx_rate_limiter, clock);
    if (!rx) return tl::unexpected(std::move(rx.error()).with_context(options.name + " rx"));
    auto tx = RateLimiter::create(options.tx_rate_limiter, clock);
    if (!tx) return tl::unexpected(std::move(tx.error()).with_context(options.name + " tx"));
    return std::unique_ptr<NetDevice>(
        new NetDevice(std::move(tap), options, std::move(*rx), std::move(*tx)));
}

NetDevice::NetDevice(Tap tap, const NetOptions& options, RateLimiter rx, RateLimiter tx)
    : options_(options), tap_(std::move(tap)), rx_limiter_(std::move(rx)),
      tx_limiter_(std::move(tx)) {
    queue_max_sizes_ = {options.queue_size, options.queue_size};
    features_ = feature_bit(VIRTIO_RING_F_EVENT_IDX) | feature_bit(VIRTIO_RING_F_INDIRECT_DESC) |
                feature_bit(VIRTIO_NET_F_MRG_RXBUF) | feature_bit(VIRTIO_NET_F_STATUS) |
                kOffloadFeatures;
    config_.status = VIRTIO_NET_S_LINK_UP;
    config_.max_virtqueue_pairs = 1;
    if (options.mac) {
        features_ |= feature_bit(VIRTIO_NET_F_MAC);
        std::memcpy(config_.mac, options.mac->data(), options.mac->size());
    }
    if (options.mtu) {
        features_ |= feature_bit(VIRTIO_NET_F_MTU);
        config_.mtu = *options.mtu;
    }
    rx_frame_.resize(kVnetHeaderSize + kMaxFrameBytes);
    rx_chains_.resize(options.queue_size);
    rx_capacities_.resize(options.queue_size);
    tx_iov_.reserve(size_t{options.queue_size} + 1);
}

uint32_t NetDevice::device_type() const {
    return VIRTIO_ID_NET;
}

void NetDevice::read_config(uint32_t offset, std::span<std::byte> out) const {
    // Fixed after creation (the link is always up): no lock needed.
    const auto bytes = std::as_bytes(std::span(&config_, 1));
    if (offset >= bytes.size()) return;
    std::memcpy(out.data(), bytes.data() + offset, std::min(out.size(), bytes.size() - offset));
}

void NetDevice::write_config(uint32_t offset, std::span<const std::byte> in) {
    // The MAC is writable only with VIRTIO_NET_F_CTRL_MAC_ADDR / legacy, neither offered.
    log::debug("{}: ignored a {}-byte config write at {:#x}", options_.name, in.size(), offset);
}

NetMetrics NetDevice::metrics() const {
    const std::lock_guard lock(mu_);
    return metrics_;
}

bool NetDevice::watching_tap() const {
    const std::lock_guard lock(mu_);
    return watching_tap_;
}

Result<void> NetDevice::activate(ActivationContext ctx) {
    const std::lock_guard lock(mu_);
    if (ctx.queues.size() != 2)
        return make_error(Errc::kInternal, "{}: {} queues, expected 2", options_.name,
                          ctx.queues.size());
    if (!ctx.queues[kRxQueue].ready || !ctx.queues[kTxQueue].ready)
        return make_error(Errc::kInvalidInput,
                          "{}: the driver did not set up both the receive and transmit queues",
                          options_.name);
    auto rx = Queue::create(ctx.queues[kRxQueue], ctx.memory, ctx.features);
    if (!rx) return tl::unexpected(std::move(rx.error()).with_context(options_.name + " rx"));
    auto tx = Queue::create(ctx.queues[kTxQueue], ctx.memory, ctx.features);
    if (!tx) return tl::unexpected(std::move(tx.error()).with_context(options_.name + " tx"));
    if (auto r = tap_.set_offload(tap_offloads(ctx.features)); !r)
        log::warn("{}: {}; the guest gets plain frames", options_.name, r.error().describe());
    rx_queue_.emplace(std::move(*rx));
    tx_queue_.emplace(std::move(*tx));
    negotiated_ = ctx.features;
    mergeable_ = (ctx.features & feature_bit(VIRTIO_NET_F_MRG_RXBUF)) != 0;
    memory_ = &ctx.memory;
    interrupt_ = &ctx.interrupt;
    active_ = true;
    broken_ = false;
    // The event loop belongs to the VMM thread: get there through the queues' eventfds (which
    // also serve chains the driver made available before DRIVER_OK).
    if (rx_event_ != nullptr) rx_event_->signal();
    if (tx_event_ != nullptr) tx_event_->signal();
    return {};
}

bool NetDevice::reset() {
    const std::lock_guard lock(mu_);
    rx_queue_.reset();
    tx_queue_.reset();
    active_ = false;
    broken_ = false;
    rx_reserved_ = 0; // the chains belonged to the old rings
    tx_pending_ = false;
    rx_used_ = tx_used_ = false;
    memory_ = nullptr;
    interrupt_ = nullptr;
    // A frame held for want of buffers was read under the old driver's offloads (it may be a
    // GSO frame the next driver does not take): drop it, counted. The VMM thread unwatches the
    // tap at its next event.
    if (rx_len_ != 0) ++metrics_.rx_dropped;
    rx_len_ = 0;
    rx_charged_ = false;
    return true;
}

Result<void> NetDevice::attach(EventLoop& loop, std::span<const EventFd> queue_events) {
    if (queue_events.size() != 2)
        return make_error(Errc::kInternal, "{}: {} queue events, expected 2", options_.name,
                          queue_events.size());
    loop_ = &loop;
    rx_event_ = &queue_events[kRxQueue];
    tx_event_ = &queue_events[kTxQueue];
    EMBER_TRY_VOID(loop.add(rx_event_->fd(), EPOLLIN, [this](uint32_t) { on_rx_notify(); }));
    EMBER_TRY_VOID(loop.add(tx_event_->fd(), EPOLLIN, [this](uint32_t) { on_tx_notify(); }));
    EMBER_TRY_VOID(
        loop.add(rx_limiter_.fd(), EPOLLIN, [this](uint32_t) { on_rx_limiter_timer(); }));
    EMBER_TRY_VOID(
        loop.add(tx_limiter_.fd(), EPOLLIN, [this](uint32_t) { on_tx_limiter_timer(); }));
    // The tap is watched once the driver is ready for frames (process_rx).
    return {};
}

void NetDevice::detach() {
    if (loop_ == nullptr) return;
    loop_->remove(rx_event_->fd());
    loop_->remove(tx_event_->fd());
    loop_->remove(rx_limiter_.fd());
    loop_->remove(tx_limiter_.fd());
    const std::lock_guard lock(mu_);
    watch_tap(false);
    loop_ = nullptr;
}

void NetDevice::on_rx_notify() {
    const uint64_t kicks = rx_event_ != nullptr ? rx_event_->consume() : 1;
    const std::lock_guard lock(mu_);
    if (kicks != 0) ++metrics_.rx_kicks;
    process_rx();
}

void NetDevice::on_tx_notify() {
    const uint64_t kicks = tx_event_ != nullptr ? tx_event_->consume() : 1;
    const std::lock_guard lock(mu_);
    if (kicks != 0) ++metrics_.tx_kicks;
    process_tx();
}

void NetDevice::on_tap_readable() {
    const std::lock_guard lock(mu_);
    process_rx();
}

void NetDevice::on_rx_limiter_timer() {
    const std::lock_guard lock(mu_);
    if (rx_limiter_.on_timer()) process_rx();
}

void NetDevice::on_tx_limiter_timer() {
    const std::lock_guard lock(mu_);
    if (tx_limiter_.on_timer()) process_tx();
}

Result<void> NetDevice::update_rate_limiters(const std::optional<RateLimiterUpdate>& rx,
                                             const std::optional<RateLimiterUpdate>& tx) {
    const std::lock_guard lock(mu_);
    if (rx) EMBER_TRY_VOID(rx_limiter_.update(*rx));
    if (tx) EMBER_TRY_VOID(tx_limiter_.update(*tx));
    return {};
}

void NetDevice::watch_tap(bool on) {
    if (on == watching_tap_ || loop_ == nullptr) return;
    if (on) {
        if (auto r = loop_->add(tap_.fd(), EPOLLIN, [this](uint32_t) { on_tap_readable(); }); !r) {
            log::error("{}: cannot watch tap '{}': {}", options_.name, tap_.name(),
                       r.error().describe());
            return;
        }
    } else {
        loop_->remove(tap_.fd());
    }
    watching_tap_ = on;
}

// ---- Receive ------------------------------------------------------------------------------

void NetDevice::process_rx() {
    if (!active_ || broken_) return watch_tap(false);
    // Kicks matter only while waiting for buffers (below).
    rx_queue_->disable_notifications();
    uint64_t frames = 0;
    bool watch = true; // false: waiting for buffers or tokens, the tap can wait too
    while (frames < kMaxFramesPerPass) { // past the batch the tap stays readable: epoll returns
        if (rx_len_ == 0 && (rx_limiter_.blocked() || !read_frame())) {
            watch = !rx_limiter_.blocked(); // blocked: its timer resumes us
            break;
        }
        const uint64_t frame_bytes = rx_len_ - kVnetHeaderSize;
        if (!rx_charged_ && !rx_limiter_.unlimited() && !rx_limiter_.consume_request(frame_bytes)) {
            ++metrics_.rx_throttled;
            watch = false;
            break;
        }
        rx_charged_ = true;
        size_t needed = 0;
        const RxFit fit = reserve_rx_chains(needed);
        if (broken_) {
            watch = false;
            break;
        }
        if (fit == RxFit::kNeedMore) {
            // Ask for a kick when the driver posts buffers; stop reading the tap meanwhile.
            if (rx_queue_->enable_notifications()) continue; // posted in the meantime
            ++metrics_.rx_waits;
            watch = false;
            break;
        }
        if (fit == RxFit::kTooBig) {
            ++metrics_.rx_dropped;
            faults_.log(fmt::format("a {}-byte frame does not fit the driver's receive buffers; "
                                    "dropped",
                                    frame_bytes));
        } else {
            deliver_frame(needed);
            ++frames;
        }
        rx_len_ = 0;
        rx_charged_ = false;
    }
    watch_tap(watch);
    signal_if_needed();
}

bool NetDevice::read_frame() {
    for (;;) {
        const ssize_t n = ::read(tap_.fd(), rx_frame_.data(), rx_frame_.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                faults_.log(
                    fmt::format("reading tap '{}' failed: {}", tap_.name(), std::strerror(errno)));
            return false;
        }
        if (static_cast<size_t>(n) <= kVnetHeaderSize) {
            ++metrics_.rx_dropped; // nothing behind the header: not a frame
            continue;
        }
        rx_len_ = static_cast<size_t>(n);
        return true;
    }
}

RxFit NetDevice::reserve_rx_chains(size_t& needed) {
    const size_t max_chains = rx_queue_->size();
    for (;;) {
        const auto fit = fit_rx_frame(std::span(rx_capacities_).first(rx_reserved_), rx_len_,
                                      mergeable_, max_chains);
        if (fit.fit != RxFit::kNeedMore) {
            needed = fit.chains;
            return fit.fit;
        }
        DescriptorChain& chain = rx_chains_[rx_reserved_];
        auto popped = rx_queue_->pop_into(chain);
        if (!popped) {
            mark_broken(popped.error().message);
            return RxFit::kNeedMore;
        }
        if (!*popped) return RxFit::kNeedMore;
        if (!chain.readable().empty() || chain.writable_bytes() < kVnetHeaderSize) {
            ++metrics_.rx_bad_buffers;
            faults_.log(fmt::format("receive chain {} has {} readable and {} writable bytes (needs "
                                    "only writable ones, at least {}); returned unused",
                                    chain.head(), chain.readable_bytes(), chain.writable_bytes(),
                                    kVnetHeaderSize));
            complete(*rx_queue_, chain.head(), 0);
            rx_used_ = true;
            continue;
        }
        rx_capacities_[rx_reserved_] = chain.writable_bytes();
        ++rx_reserved_;
    }
}

void NetDevice::deliver_frame(size_t chains) {
    // num_buffers: how many chains this frame takes (1 without MRG_RXBUF, 5.1.6.4.1).
    const auto num_buffers = static_cast<uint16_t>(chains);
    std::memcpy(rx_frame_.data() + kNumBuffersOffset, &num_buffers, sizeof num_buffers);
    const std::span<const std::byte> frame(rx_frame_.data(), rx_len_);
    size_t offset = 0;
    for (size_t i = 0; i < chains; ++i) {
        const size_t n = scatter(*memory_, rx_chains_[i], frame.subspan(offset));
        complete(*rx_queue_, rx_chains_[i].head(), static_cast<uint32_t>(n));
        offset += n;
    }
    // Chains reserved beyond this frame move to the front, for the next one.
    for (size_t i = chains; i < rx_reserved_; ++i) {
        std::swap(rx_chains_[i - chains], rx_chains_[i]);
        rx_capacities_[i - chains] = rx_capacities_[i];
    }
    rx_reserved_ -= chains;
    rx_used_ = true;
    ++metrics_.rx_frames;
    metrics_.rx_bytes += rx_len_ - kVnetHeaderSize;
}

// ---- Transmit -----------------------------------------------------------------------------

void NetDevice::process_tx() {
    if (!active_ || broken_ || tx_limiter_.blocked()) return;
    uint64_t frames = 0;
    do {
        tx_queue_->disable_notifications();
        const TxStop stop = transmit_batch(frames);
        signal_if_needed();
        if (stop == TxStop::kYield) {
            // Fairness: let the event loop run, and come back through our own eventfd.
            tx_event_->signal();
            return;
        }
        if (stop != TxStop::kEmpty) return; // the limiter's timer resumes us, or a reset
    } while (tx_queue_->enable_notifications());
}

NetDevice::TxStop NetDevice::transmit_batch(uint64_t& frames) {
    for (;; ++frames) {
        if (frames >= kMaxFramesPerPass && tx_event_ != nullptr) return TxStop::kYield;
        if (!tx_pending_) {
            auto popped = tx_queue_->pop_into(tx_chain_);
            if (!popped) {
                mark_broken(popped.error().message);
                return TxStop::kBroken;
            }
            if (!*popped) return TxStop::kEmpty;
        }
        tx_pending_ = false;
        if (!handle_tx_chain()) {
            tx_pending_ = true;
            return TxStop::kThrottled;
        }
        if (broken_) return TxStop::kBroken;
    }
}

bool NetDevice::handle_tx_chain() {
    const DescriptorChain& c = tx_chain_;
    if (!c.writable().empty())
        return drop_tx(fmt::format("transmit chain {} has {} device-writable bytes", c.head(),
                                   c.writable_bytes()));
    if (c.readable_bytes() <= kVnetHeaderSize ||
        c.readable_bytes() > kVnetHeaderSize + kMaxFrameBytes)
        return drop_tx(fmt::format("transmit chain {} holds {} bytes; a header and a frame of "
                                   "1..{} bytes are {}..{}",
                                   c.head(), c.readable_bytes(), kMaxFrameBytes,
                                   kVnetHeaderSize + 1, kVnetHeaderSize + kMaxFrameBytes));
    const uint64_t frame_len = c.readable_bytes() - kVnetHeaderSize;
    if (!tx_limiter_.unlimited() && !tx_limiter_.consume_request(frame_len)) {
        ++metrics_.tx_throttled;
        return false;
    }
    // The header is copied once, checked, and only the copy goes to the tap.
    VnetHeader header{};
    // Safety: the bytes of our own plain C struct, filled from guest bytes below.
    auto* dst = reinterpret_cast<std::byte*>(&header);
    tx_iov_.clear();
    tx_iov_.push_back({&header, kVnetHeaderSize});
    size_t header_done = 0;
    for (const Segment& s : c.readable()) {
        auto view = memory_->span(s.addr, s.len); // checked by the chain parser
        if (!view) return drop_tx(view.error().message());
        const size_t h = std::min(view->size(), kVnetHeaderSize - header_done);
        std::memcpy(dst + header_done, view->data(), h);
        header_done += h;
        if (view->size() > h) tx_iov_.push_back({view->data() + h, view->size() - h});
    }
    if (std::string why = check_tx_header(header, negotiated_, frame_len); !why.empty())
        return drop_tx(fmt::format("transmit chain {}: {}", c.head(), why));
    const ssize_t n = ::writev(tap_.fd(), tx_iov_.data(), static_cast<int>(tx_iov_.size()));
    if (n < 0) {
        ++metrics_.tx_errors;
        faults_.log(fmt::format("writing a {}-byte frame to tap '{}' failed: {}", frame_len,
                                tap_.name(), std::strerror(errno)));
    } else {
        ++metrics_.tx_frames;
        metrics_.tx_bytes += frame_len;
    }
    complete(*tx_queue_, c.head(), 0);
    tx_used_ = true;
    return true;
}

bool NetDevice::drop_tx(const std::string& why) {
    ++metrics_.tx_dropped;
    faults_.log(why + "; dropped");
    complete(*tx_queue_, tx_chain_.head(), 0);
    tx_used_ = true;
    return true;
}

// ---- Common -------------------------------------------------------------------------------

void NetDevice::complete(Queue& queue, uint16_t head, uint32_t len) {
    if (auto r = queue.add_used(head, len); !r) mark_broken(r.error().describe());
}

void NetDevice::signal_if_needed() {
    if (interrupt_ == nullptr) return;
    bool raise = false;
    // Both checks run: each updates its queue's EVENT_IDX bookkeeping.
    if (rx_used_ && rx_queue_ && rx_queue_->needs_interrupt()) raise = true;
    if (tx_used_ && tx_queue_ && tx_queue_->needs_interrupt()) raise = true;
    rx_used_ = tx_used_ = false;
    if (raise) {
        ++metrics_.interrupts;
        interrupt_->signal_used_queue();
    }
}

void NetDevice::mark_broken(std::string_view why) {
    if (faults_.mark_broken(broken_, why, interrupt_)) ++metrics_.broken;
}

} // namespace ember::virtio::net
