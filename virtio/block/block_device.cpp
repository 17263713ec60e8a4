#include "virtio/block/block_device.hpp"

#include "vmm/sys/logger.hpp"

#include <linux/virtio_ids.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

namespace ember::virtio::block {
namespace {

// Largest discard / write-zeroes segment we accept (2 GiB): bounds the time one request can
// hold the VMM thread with the sync engine.
// Requests one handler run takes before it yields to the rest of the event loop.
constexpr uint64_t kMaxRequestsPerPass = 256;

// The smallest polling window worth its clock reads.
constexpr uint64_t kPollMinNs = 2'000;
// Kicks closer together than this mean a stream worth polling for.
constexpr uint64_t kStreamingGapNs = 1'000'000;

constexpr uint32_t kMaxZeroingSectors = (2U << 30) / kSectorSize - 1;

IoOp engine_op(RequestType type) {
    switch (type) {
    case RequestType::kRead:
        return IoOp::kRead;
    case RequestType::kWrite:
        return IoOp::kWrite;
    case RequestType::kFlush:
        return IoOp::kFlush;
    case RequestType::kDiscard:
        return IoOp::kDiscard;
    case RequestType::kWriteZeroes:
    case RequestType::kGetId:
        break;
    }
    return IoOp::kWriteZeroes;
}

} // namespace

Result<std::unique_ptr<BlockDevice>> BlockDevice::create(std::unique_ptr<IoEngine> engine,
                                                         const BlockOptions& options,
                                                         const Clock& clock) {
    if (!engine) return make_error(Errc::kInternal, "{}: no I/O engine", options.name);
    if (options.queue_size < 4 || !std::has_single_bit(options.queue_size) ||
        options.queue_size > Queue::kMaxSize)
        return make_error(Errc::kInvalidArgument,
                          "{}: queue size {} must be a power of two in 4..32768", options.name,
                          options.queue_size);
    auto limiter = RateLimiter::create(options.rate_limiter, clock);
    if (!limiter) return tl::unexpected(std::move(limiter.error()).with_context(options.name));
    return std::unique_ptr<BlockDevice>(
        new BlockDevice(std::move(engine), options, std::move(*limiter)));
}

BlockDevice::BlockDevice(std::unique_ptr<IoEngine> engine, const BlockOptions& options,
                         RateLimiter limiter)
    : options_(options), engine_(std::move(engine)), limiter_(std::move(limiter)) {
    const DiskBackend& disk = engine_->disk();
    queue_max_sizes_[0] = options.queue_size;
    features_ = feature_bit(VIRTIO_RING_F_EVENT_IDX) | feature_bit(VIRTIO_RING_F_INDIRECT_DESC) |
                feature_bit(VIRTIO_BLK_F_SEG_MAX);
    if (disk.read_only())
        features_ |= feature_bit(VIRTIO_BLK_F_RO);
    else
        features_ |= feature_bit(VIRTIO_BLK_F_DISCARD) | feature_bit(VIRTIO_BLK_F_WRITE_ZEROES);
    // Firecracker's cache modes: only Writeback tells the driver there is a cache to flush.
    if (disk.cache_mode() == CacheMode::kWriteback) features_ |= feature_bit(VIRTIO_BLK_F_FLUSH);

    config_.capacity = disk.capacity_sectors();
    // A chain may hold at most queue-size descriptors (2.7.5.3.1): the header and the status
    // take two of them.
    config_.seg_max = options.queue_size - 2U;
    config_.num_queues = 1;
    config_.max_discard_sectors = kMaxZeroingSectors;
    config_.max_discard_seg = 1;
    config_.discard_sector_alignment = 1;
    config_.max_write_zeroes_sectors = kMaxZeroingSectors;
    config_.max_write_zeroes_seg = 1;
    config_.write_zeroes_may_unmap = 1;

    slots_.resize(engine_->queue_depth());
    for (uint32_t i = engine_->queue_depth(); i > 0; --i)
        free_slots_.push_back(i - 1);
}

BlockDevice::~BlockDevice() {
    // The engine may still own requests pointing into guest memory: let them finish.
    const std::lock_guard lock(mu_);
    completions_.clear();
    engine_->drain(completions_);
}

uint32_t BlockDevice::device_type() const {
    return VIRTIO_ID_BLOCK;
}

void BlockDevice::read_config(uint32_t offset, std::span<std::byte> out) const {
    // The capacity changes when the disk is replaced (VMM thread); config reads come from vCPUs.
    const std::lock_guard lock(mu_);
    const auto bytes = std::as_bytes(std::span(&config_, 1));
    if (offset >= bytes.size()) return;
    const size_t n = std::min(out.size(), bytes.size() - offset);
    std::memcpy(out.data(), bytes.data() + offset, n);
}

uint32_t BlockDevice::config_generation() const {
    const std::lock_guard lock(mu_);
    return generation_;
}

void BlockDevice::write_config(uint32_t offset, std::span<const std::byte> in) {
    // Every field is read-only without VIRTIO_BLK_F_CONFIG_WCE, which we do not offer.
    log::debug("{}: ignored a {}-byte config write at {:#x}", options_.name, in.size(), offset);
}

bool BlockDevice::active() const {
    const std::lock_guard lock(mu_);
    return active_;
}

BlockMetrics BlockDevice::metrics() const {
    const std::lock_guard lock(mu_);
    return metrics_;
}

Result<void> BlockDevice::activate(ActivationContext ctx) {
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
    const DiskBackend& disk = engine_->disk();
    limits_ = RequestLimits{
        .capacity_sectors = disk.capacity_sectors(),
        .read_only = disk.read_only(),
        .flush = (ctx.features & feature_bit(VIRTIO_BLK_F_FLUSH)) != 0,
        .discard = (ctx.features & feature_bit(VIRTIO_BLK_F_DISCARD)) != 0,
        .write_zeroes = (ctx.features & feature_bit(VIRTIO_BLK_F_WRITE_ZEROES)) != 0,
        .max_discard_sectors = config_.max_discard_sectors,
        .max_write_zeroes_sectors = config_.max_write_zeroes_sectors,
    };
    active_ = true;
    broken_ = false;
    pending_ = false;
    // The driver may have made requests available before DRIVER_OK: look at the ring now.
    if (queue_event_ != nullptr) queue_event_->signal();
    return {};
}

bool BlockDevice::reset() {
    const std::lock_guard lock(mu_);
    // Requests in flight point into guest memory the driver is about to reuse: wait for them,
    // and drop their completions (the rings are gone).
    completions_.clear();
    engine_->drain(completions_);
    completions_.clear();
    free_slots_.clear();
    for (uint32_t i = static_cast<uint32_t>(slots_.size()); i > 0; --i) {
        slots_[i - 1].busy = false;
        free_slots_.push_back(i - 1);
    }
    queue_.reset();
    active_ = false;
    broken_ = false;
    pending_ = false;
    used_since_signal_ = false;
    poll_ns_ = 0;
    slept_at_ns_ = 0;
    interrupt_ = nullptr;
    memory_ = nullptr;
    return true;
}

Result<void> BlockDevice::attach(EventLoop& loop, std::span<const EventFd> queue_events) {
    if (queue_events.size() != 1)
        return make_error(Errc::kInternal, "{}: {} queue events, expected 1", options_.name,
                          queue_events.size());
    queue_event_ = &queue_events[0];
    EMBER_TRY_VOID(loop.add(queue_event_->fd(), EPOLLIN, [this](uint32_t) { on_queue_notify(); }));
    if (engine_->completion_fd() >= 0)
        EMBER_TRY_VOID(
            loop.add(engine_->completion_fd(), EPOLLIN, [this](uint32_t) { on_completions(); }));
    return loop.add(limiter_.fd(), EPOLLIN, [this](uint32_t) { on_rate_limiter_timer(); });
}

void BlockDevice::detach(EventLoop& loop) {
    if (queue_event_ != nullptr) loop.remove(queue_event_->fd());
    if (engine_->completion_fd() >= 0) loop.remove(engine_->completion_fd());
    loop.remove(limiter_.fd());
}

void BlockDevice::on_queue_notify() {
    const uint64_t kicks = queue_event_ != nullptr ? queue_event_->consume() : 1;
    const std::lock_guard lock(mu_);
    if (kicks != 0) ++metrics_.notifications;
    if (slept_at_ns_ != 0 && options_.poll_max_ns != 0) {
        // QEMU's adaptive polling, keyed on how long the device slept before this kick. Soon:
        // the driver is streaming requests and polling would have caught this one without the
        // kick and the wake-up, so poll longer (doubling from kPollMinNs). Late: stop polling
        // (QEMU's default poll-shrink). "Soon" is generous because the measured gap includes
        // our own wake-up latency, which alone can exceed poll_max_ns on a busy host.
        if (monotonic_clock().now_ns() - slept_at_ns_ < kStreamingGapNs)
            poll_ns_ = std::min(options_.poll_max_ns, std::max(kPollMinNs, poll_ns_ * 2));
        else
            poll_ns_ = 0;
        slept_at_ns_ = 0;
    }
    process_queue();
}

void BlockDevice::on_completions() {
    const std::lock_guard lock(mu_);
    reap_completions();
    // A queue that stopped because the engine was full goes on now.
    process_queue();
    signal_if_needed();
}

void BlockDevice::on_rate_limiter_timer() {
    const std::lock_guard lock(mu_);
    if (!limiter_.on_timer()) return;
    process_queue();
}

Result<void> BlockDevice::update_rate_limiter(const RateLimiterUpdate& update) {
    const std::lock_guard lock(mu_);
    return limiter_.update(update);
}

Result<void> BlockDevice::replace_engine(EventLoop& loop, std::unique_ptr<IoEngine> engine) {
    const std::lock_guard lock(mu_);
    const DiskBackend& disk = engine->disk();
    if (disk.read_only() != engine_->disk().read_only() ||
        disk.cache_mode() != engine_->disk().cache_mode())
        return make_error(Errc::kInvalidArgument,
                          "{}: the new disk must keep the drive's read-only flag and cache mode",
                          options_.name);
    // Whatever the old engine still has in flight is answered before it goes.
    completions_.clear();
    engine_->drain(completions_);
    finish_completions();
    signal_if_needed();
    if (engine_->completion_fd() >= 0) loop.remove(engine_->completion_fd());
    engine_ = std::move(engine);
    if (engine_->completion_fd() >= 0)
        EMBER_TRY_VOID(
            loop.add(engine_->completion_fd(), EPOLLIN, [this](uint32_t) { on_completions(); }));
    slots_.assign(engine_->queue_depth(), Slot{});
    free_slots_.clear();
    for (uint32_t i = engine_->queue_depth(); i > 0; --i)
        free_slots_.push_back(i - 1);
    // The generation changes before the value, so a driver that reads around the change retries.
    ++generation_;
    config_.capacity = engine_->disk().capacity_sectors();
    limits_.capacity_sectors = config_.capacity;
    if (active_ && interrupt_ != nullptr) interrupt_->signal_config_change();
    // Requests the guest made while the old disk drained are served by the new one.
    if (active_ && queue_event_ != nullptr) queue_event_->signal();
    return {};
}

void BlockDevice::process_queue() {
    if (!active_ || broken_ || limiter_.blocked()) return;
    const bool async = engine_->completion_fd() >= 0;
    const uint64_t start_requests = metrics_.requests;
    for (;;) {
        queue_->disable_notifications();
        bool engine_full = false;
        bool throttled = false;
        // Fairness: a driver that never stops streaming must not keep the VMM thread from its
        // other work (other devices, the console, signals, the exit event). After a batch, kick
        // ourselves and go back to the event loop, with the guest's kicks still off.
        const bool can_yield = queue_event_ != nullptr;
        bool yield = false;
        for (;;) {
            if (can_yield && metrics_.requests - start_requests >= kMaxRequestsPerPass) {
                yield = true;
                break;
            }
            if (engine_->in_flight() >= engine_->queue_depth() || free_slots_.empty()) {
                engine_full = true;
                break;
            }
            if (!pending_) {
                auto popped = queue_->pop_into(chain_);
                if (!popped) {
                    mark_broken(popped.error().message);
                    return;
                }
                if (!*popped) break;
                ++metrics_.requests;
            }
            pending_ = false;
            if (!handle_chain()) {
                pending_ = true;
                throttled = true;
                break;
            }
            if (broken_) return;
        }
        if (auto submitted = engine_->flush_submissions(); !submitted) {
            mark_broken(submitted.error().describe());
            return;
        }
        // Page-cache hits are often complete when io_uring_enter returns: take them now rather
        // than after another trip through epoll for the completion eventfd.
        if (async && engine_->completions_ready()) reap_completions();
        signal_if_needed();
        if (yield) {
            queue_event_->signal();
            return;
        }
        if (throttled) return; // the rate limiter's timer resumes us
        if (engine_full) {
            if (engine_->in_flight() < engine_->queue_depth() && !free_slots_.empty()) continue;
            return; // a completion resumes us; kicks stay off meanwhile
        }
        if (poll_for_work()) {
            ++metrics_.polled; // the next pass pops the new chains and reaps the completions
            continue;
        }
        if (!queue_->enable_notifications()) {
            slept_at_ns_ = monotonic_clock().now_ns();
            return;
        }
    }
}

bool BlockDevice::poll_for_work() {
    if (poll_ns_ == 0) return false;
    const Clock& clock = monotonic_clock();
    const uint64_t start = clock.now_ns();
    const bool async = engine_->completion_fd() >= 0;
    do {
        if (queue_->has_available() || (async && engine_->completions_ready())) return true;
        __builtin_ia32_pause();
    } while (clock.now_ns() - start < poll_ns_);
    return false;
}

bool BlockDevice::handle_chain() {
    const uint16_t head = chain_.head();
    if (!parse_request(chain_, *memory_, limits_, scratch_, error_)) {
        if (!error_.status_addr) {
            mark_broken(error_.message);
            return true;
        }
        faults_.log(error_.message);
        write_status(*error_.status_addr, error_.status);
        complete_at_once(head, error_.status, 1);
        return true;
    }
    const bool data = scratch_.type == RequestType::kRead || scratch_.type == RequestType::kWrite;
    if (!limiter_.unlimited() && !limiter_.consume_request(data ? scratch_.data_len : 0)) {
        ++metrics_.throttled;
        return false;
    }
    if (scratch_.type == RequestType::kGetId) {
        // Straight from the disk's id: no engine needed.
        const DiskId& id = engine_->disk().id();
        size_t done = 0;
        for (const iovec& v : scratch_.data) {
            std::memcpy(v.iov_base, id.data() + done, v.iov_len);
            done += v.iov_len;
        }
        ++metrics_.get_ids;
        write_status(scratch_.status_addr, VIRTIO_BLK_S_OK);
        complete_at_once(head, VIRTIO_BLK_S_OK, scratch_.written_len());
        return true;
    }
    const uint32_t index = free_slots_.back();
    free_slots_.pop_back();
    Slot& slot = slots_[index];
    slot.head = head;
    slot.busy = true;
    std::swap(slot.request, scratch_);
    const Request& r = slot.request;
    auto submitted = engine_->submit(IoRequest{.op = engine_op(r.type),
                                               .sector = r.sector,
                                               .buffers = r.data,
                                               .num_sectors = r.num_sectors,
                                               .unmap = r.unmap,
                                               .cookie = index});
    if (!submitted) {
        slot.busy = false;
        free_slots_.push_back(index);
        mark_broken(submitted.error().describe());
        return true;
    }
    if (engine_->completion_fd() < 0) reap_completions(); // the sync engine is done already
    return true;
}

void BlockDevice::reap_completions() {
    completions_.clear();
    engine_->reap(completions_);
    finish_completions();
}

void BlockDevice::finish_completions() {
    for (const IoCompletion& c : completions_) {
        if (c.cookie >= slots_.size() || !slots_[c.cookie].busy) {
            log::error("{}: the engine completed unknown request {}", options_.name, c.cookie);
            continue;
        }
        Slot& slot = slots_[c.cookie];
        slot.busy = false;
        free_slots_.push_back(static_cast<uint32_t>(c.cookie));
        if (!active_ || broken_) continue; // the rings are not to be trusted (or gone)
        const Request& r = slot.request;
        uint8_t status = VIRTIO_BLK_S_OK;
        if (c.error == EOPNOTSUPP) {
            status = VIRTIO_BLK_S_UNSUPP;
        } else if (c.error != 0) {
            status = VIRTIO_BLK_S_IOERR;
            faults_.log(fmt::format("{} of {} sectors at sector {} failed: {}", to_string(r.type),
                                    r.num_sectors, r.sector, std::strerror(c.error)));
        }
        if (status == VIRTIO_BLK_S_OK) {
            switch (r.type) {
            case RequestType::kRead:
                ++metrics_.reads;
                metrics_.read_bytes += r.data_len;
                break;
            case RequestType::kWrite:
                ++metrics_.writes;
                metrics_.write_bytes += r.data_len;
                break;
            case RequestType::kFlush:
                ++metrics_.flushes;
                break;
            case RequestType::kDiscard:
                ++metrics_.discards;
                break;
            case RequestType::kWriteZeroes:
                ++metrics_.write_zeroes;
                break;
            case RequestType::kGetId:
                break;
            }
        }
        write_status(r.status_addr, status);
        complete_at_once(slot.head, status, status == VIRTIO_BLK_S_OK ? r.written_len() : 1);
    }
}

void BlockDevice::write_status(GuestAddr addr, uint8_t status) {
    // The parser checked the address against guest memory.
    (void)memory_->write_obj(addr, status);
}

void BlockDevice::complete_at_once(uint16_t head, uint8_t status, uint32_t len) {
    count_status(status);
    if (auto r = queue_->add_used(head, len); !r) {
        mark_broken(r.error().describe());
        return;
    }
    used_since_signal_ = true;
}

void BlockDevice::count_status(uint8_t status) {
    if (status == VIRTIO_BLK_S_IOERR) ++metrics_.io_errors;
    if (status == VIRTIO_BLK_S_UNSUPP) ++metrics_.unsupported;
}

void BlockDevice::signal_if_needed() {
    if (!used_since_signal_ || !queue_ || interrupt_ == nullptr) return;
    used_since_signal_ = false;
    if (queue_->needs_interrupt()) {
        ++metrics_.interrupts;
        interrupt_->signal_used_queue();
    }
}

void BlockDevice::mark_broken(std::string_view why) {
    if (faults_.mark_broken(broken_, why, interrupt_)) ++metrics_.broken;
}

} // namespace ember::virtio::block
