// The io_uring engine: one ring per drive, driven from the VMM thread. Requests become SQEs at
// submit(), reach the kernel in one io_uring_enter per batch (flush_submissions), and signal
// their completion on an eventfd registered with the ring. Only liburing 2.3 APIs (Debian 12).
//
// Each request takes a slot (user_data = slot index) that keeps what its completion needs: the
// cookie, the byte range and a copy of the iovecs, so a short transfer can be finished
// synchronously. Requests the engine completes without the kernel (bad range, read-only, flush
// in kUnsafe, empty ones) wait in ready_ and signal the eventfd themselves.
#include "virtio/block/io_engine.hpp"

#include "vmm/sys/event_fd.hpp"
#include "vmm/sys/logger.hpp"

#include <liburing.h>
#include <linux/falloc.h>
#include <time.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <utility>

namespace ember::virtio::block {
namespace {

constexpr uint32_t kMaxDepth = 4096;
// drain(): how many 1 ms pauses to wait for a kernel short of memory to take refused SQEs.
constexpr int kMaxRefusals = 1000;

// fallocate's "this file system (or kernel) cannot do that": EINVAL also covers kernels older
// than 5.6, which do not know IORING_OP_FALLOCATE. Matches disk.cpp's rule for SyncDisk.
bool unsupported(int err) {
    return err == EOPNOTSUPP || err == ENOSYS || err == EINVAL;
}

bool is_write(IoOp op) {
    return op == IoOp::kWrite || op == IoOp::kDiscard || op == IoOp::kWriteZeroes;
}

class IoUringEngine final : public IoEngine {
public:
    static Result<std::unique_ptr<IoEngine>> create(std::unique_ptr<SyncDisk> disk, uint32_t depth);
    ~IoUringEngine() override;
    IoUringEngine(const IoUringEngine&) = delete;
    IoUringEngine& operator=(const IoUringEngine&) = delete;
    IoUringEngine(IoUringEngine&&) = delete;
    IoUringEngine& operator=(IoUringEngine&&) = delete;

    [[nodiscard]] EngineKind kind() const override { return EngineKind::kIoUring; }
    [[nodiscard]] const DiskBackend& disk() const override { return *disk_; }
    [[nodiscard]] uint32_t queue_depth() const override { return depth_; }
    [[nodiscard]] uint32_t in_flight() const override {
        return in_kernel_ + static_cast<uint32_t>(ready_.size());
    }

    Result<void> submit(const IoRequest& request) override;
    Result<void> flush_submissions() override;
    [[nodiscard]] int completion_fd() const override { return event_.fd(); }
    size_t reap(std::vector<IoCompletion>& out) override;
    [[nodiscard]] bool completions_ready() const override {
        return !ready_.empty() || io_uring_cq_ready(&ring_) > 0;
    }
    void drain(std::vector<IoCompletion>& out) override;

private:
    struct Slot {
        IoOp op = IoOp::kRead;
        uint64_t cookie = 0;
        uint64_t offset = 0; // bytes
        uint64_t length = 0; // bytes
        bool unmap = false;
        std::vector<iovec> buffers; // a copy: valid until the completion, whatever the caller does
    };

    IoUringEngine(std::unique_ptr<SyncDisk> disk, uint32_t depth, EventFd event)
        : disk_(std::move(disk)), depth_(depth), event_(std::move(event)), slots_(depth) {
        free_.reserve(depth);
        for (uint32_t i = depth; i > 0; --i)
            free_.push_back(i - 1);
        unsubmitted_.reserve(depth);
        ready_.reserve(depth);
    }

    // Where a request goes, or the errno it completes with at once (error != 0).
    struct Checked {
        uint64_t offset = 0; // bytes
        uint64_t length = 0; // bytes
        int error = 0;
    };
    [[nodiscard]] Checked check(const IoRequest& request) const;
    // Completes a request without the kernel; the eventfd makes sure the caller reaps it.
    void complete_now(uint64_t cookie, int error);
    // Fills an SQE for `slot` (the request has passed validation).
    void prepare(io_uring_sqe* sqe, const Slot& slot) const;
    // The errno of a finished request, after finishing what the kernel left undone.
    int finish(Slot& slot, int res);
    // Consumes the CQEs that are there; appends their completions to `out`.
    size_t reap_ring(std::vector<IoCompletion>& out);
    // Fails every request the kernel has not seen with EIO (the ring is unusable).
    void fail_unsubmitted();
    static void log_failure(const Result<void>& result);

    std::unique_ptr<SyncDisk> disk_;
    uint32_t depth_;
    EventFd event_;
    io_uring ring_{};
    bool ring_ready_ = false;
    bool broken_ = false;        // no io_uring_enter any more; submit() refuses
    bool retry_submit_ = false;  // the kernel refused SQEs for lack of memory: reap() retries
    uint32_t in_kernel_ = 0;     // slots in use: prepared, submitted or being completed
    std::vector<Slot> slots_;    // indexed by user_data
    std::vector<uint32_t> free_; // free slot indices
    std::vector<uint32_t> unsubmitted_; // prepared but not yet taken by io_uring_enter, in order
    std::vector<IoCompletion> ready_;   // completed without the kernel, not yet reaped
};

Result<std::unique_ptr<IoEngine>> IoUringEngine::create(std::unique_ptr<SyncDisk> disk,
                                                        uint32_t depth) {
    if (!disk) return make_error(Errc::kInternal, "io_uring engine: no disk");
    if (depth == 0 || depth > kMaxDepth || !std::has_single_bit(depth))
        return make_error(Errc::kInvalidArgument,
                          "io_uring queue depth {} is invalid: use a power of two from 1 to {}",
                          depth, kMaxDepth);
    auto event = EventFd::create();
    if (!event) return tl::unexpected(std::move(event.error()).with_context("io_uring engine"));

    std::unique_ptr<IoUringEngine> engine(
        new IoUringEngine(std::move(disk), depth, std::move(*event)));
    if (const int r = io_uring_queue_init(depth, &engine->ring_, 0); r < 0) {
        errno = -r;
        // describe() appends the errno text, which tells the causes below apart.
        return sys_error(
            Errc::kUnavailable,
            "cannot set up an io_uring of {} entries (engine=sync avoids it; likely "
            "causes: a kernel without io_uring, sysctl kernel.io_uring_disabled, a "
            "seccomp filter, or RLIMIT_MEMLOCK before Linux 5.12): io_uring_queue_init",
            depth);
    }
    engine->ring_ready_ = true;
    if (const int r = io_uring_register_eventfd(&engine->ring_, engine->event_.fd()); r < 0) {
        errno = -r;
        return sys_error(Errc::kUnavailable, "cannot register an eventfd with io_uring");
    }
    return std::unique_ptr<IoEngine>(std::move(engine));
}

IoUringEngine::~IoUringEngine() {
    if (!ring_ready_) return;
    // io_uring_queue_exit does not wait: the kernel would finish or cancel requests in flight
    // in the background, possibly writing guest memory after it is unmapped. Wait here.
    std::vector<IoCompletion> dropped;
    drain(dropped);
    io_uring_queue_exit(&ring_);
}

void IoUringEngine::complete_now(uint64_t cookie, int error) {
    ready_.push_back({cookie, error});
    event_.signal();
}

IoUringEngine::Checked IoUringEngine::check(const IoRequest& request) const {
    const auto fail = [](int error) { return Checked{0, 0, error}; };
    if (is_write(request.op) && disk_->read_only()) return fail(EROFS);
    const uint64_t capacity = disk_->capacity_sectors();
    uint64_t length = 0;
    Result<uint64_t> offset = 0;
    switch (request.op) {
    case IoOp::kRead:
    case IoOp::kWrite:
        length = total_length(request.buffers);
        offset = check_range("request", request.sector, length, capacity);
        break;
    case IoOp::kDiscard:
    case IoOp::kWriteZeroes:
        offset = check_sectors("request", request.sector, request.num_sectors, capacity);
        length = request.num_sectors << kSectorShift; // cannot overflow once checked
        break;
    case IoOp::kFlush:
        return {};
    default:
        return fail(EOPNOTSUPP);
    }
    if (!offset) return fail(completion_errno(offset.error()));
    return {*offset, length, 0};
}

Result<void> IoUringEngine::submit(const IoRequest& request) {
    if (in_flight() >= depth_)
        return tl::unexpected(Error(
            Errc::kUnavailable,
            fmt::format("io_uring engine is full ({} requests in flight): reap first", depth_),
            EBUSY));
    if (broken_)
        return make_error(Errc::kOsError, "io_uring engine is broken (an io_uring_enter failed)");

    // A flush has nothing to sync in kUnsafe (ignored by definition) or on a read-only drive
    // (no writes), as SyncDisk::flush.
    const bool flush = request.op == IoOp::kFlush;
    if (flush && (disk_->cache_mode() == CacheMode::kUnsafe || disk_->read_only())) {
        complete_now(request.cookie, 0);
        return {};
    }
    const Checked checked = check(request);
    // Failed checks, and empty requests (fallocate refuses a zero length), end here.
    if (checked.error != 0 || (checked.length == 0 && !flush)) {
        complete_now(request.cookie, checked.error);
        return {};
    }
    // The kernel rejects more than IOV_MAX iovecs; such a rare chain is done synchronously.
    if (request.buffers.size() > IOV_MAX) {
        const int fd = disk_->fd();
        const Result<void> r = request.op == IoOp::kRead
                                   ? read_exact(fd, checked.offset, request.buffers)
                                   : write_exact(fd, checked.offset, request.buffers);
        complete_now(request.cookie, r ? 0 : completion_errno(r.error()));
        return {};
    }

    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) // cannot happen: at most depth_ SQEs are ever outstanding
        return make_error(Errc::kInternal, "io_uring submission queue full below its depth");
    const uint32_t index = free_.back();
    free_.pop_back();
    Slot& slot = slots_[index];
    slot.op = request.op;
    slot.cookie = request.cookie;
    slot.offset = checked.offset;
    slot.length = checked.length;
    slot.unmap = request.unmap;
    slot.buffers.assign(request.buffers.begin(), request.buffers.end()); // reuses capacity
    prepare(sqe, slot);
    io_uring_sqe_set_data64(sqe, index);
    unsubmitted_.push_back(index);
    ++in_kernel_;
    return {};
}

void IoUringEngine::prepare(io_uring_sqe* sqe, const Slot& slot) const {
    const int fd = disk_->fd();
    const auto offset = static_cast<off_t>(slot.offset);
    const auto length = static_cast<off_t>(slot.length);
    const auto count = static_cast<unsigned>(slot.buffers.size());
    switch (slot.op) {
    case IoOp::kRead:
        io_uring_prep_readv(sqe, fd, slot.buffers.data(), count, slot.offset);
        break;
    case IoOp::kWrite:
        io_uring_prep_writev(sqe, fd, slot.buffers.data(), count, slot.offset);
        break;
    case IoOp::kFlush:
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        // Starts once every earlier request has completed, so it covers them.
        io_uring_sqe_set_flags(sqe, IOSQE_IO_DRAIN);
        break;
    case IoOp::kDiscard:
        io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset,
                                length);
        break;
    case IoOp::kWriteZeroes:
        io_uring_prep_fallocate(sqe, fd,
                                (slot.unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) |
                                    FALLOC_FL_KEEP_SIZE,
                                offset, length);
        break;
    }
}

Result<void> IoUringEngine::flush_submissions() {
    retry_submit_ = false;
    while (!unsubmitted_.empty()) {
        const int r = io_uring_submit(&ring_);
        if (r == -EINTR) continue;
        if (r < 0 && r != -EAGAIN && r != -EBUSY) {
            broken_ = true;
            const size_t lost = unsubmitted_.size();
            fail_unsubmitted();
            errno = -r;
            return sys_error(Errc::kOsError,
                             "io_uring engine: io_uring_enter failed for {} requests", lost);
        }
        // The kernel consumes SQEs in order; the rest stay in the ring for the next enter.
        const auto taken = std::min(static_cast<size_t>(std::max(r, 0)), unsubmitted_.size());
        unsubmitted_.erase(unsubmitted_.begin(),
                           unsubmitted_.begin() + static_cast<std::ptrdiff_t>(taken));
        if (taken == 0) {
            // EAGAIN/EBUSY: the kernel is short of memory for now. Retry from reap(), which the
            // eventfd brings about soon.
            retry_submit_ = true;
            event_.signal();
            return {};
        }
    }
    return {};
}

void IoUringEngine::fail_unsubmitted() {
    // The SQEs stay in the ring, but no io_uring_enter follows on a broken engine and
    // io_uring_queue_exit discards them: the kernel never sees them.
    for (const uint32_t index : unsubmitted_) {
        ready_.push_back({slots_[index].cookie, EIO});
        free_.push_back(index);
        --in_kernel_;
    }
    unsubmitted_.clear();
    event_.signal();
}

int IoUringEngine::finish(Slot& slot, int res) {
    const int fd = disk_->fd();
    switch (slot.op) {
    case IoOp::kRead:
    case IoOp::kWrite: {
        // io_uring may move fewer bytes than asked (or say "try again"); finish synchronously.
        // A read that meets the end of the file early fails with EIO in read_exact.
        if (res < 0 && res != -EAGAIN && res != -EINTR) return -res;
        const uint64_t done = res < 0 ? 0 : static_cast<uint64_t>(res);
        if (done >= slot.length) return 0;
        const std::vector<iovec> rest = advance_iovecs(slot.buffers, done);
        const Result<void> r = slot.op == IoOp::kRead ? read_exact(fd, slot.offset + done, rest)
                                                      : write_exact(fd, slot.offset + done, rest);
        return r ? 0 : completion_errno(r.error());
    }
    case IoOp::kDiscard:
        // Discard is a hint: a file system that cannot punch holes keeps the data (as SyncDisk).
        return res < 0 && !unsupported(-res) ? -res : 0;
    case IoOp::kWriteZeroes: {
        if (res >= 0) return 0;
        if (!unsupported(-res)) return -res;
        // zero_range tries the other fallocate mode, then writes zeroes.
        const Result<void> r = zero_range(fd, slot.offset, slot.length, slot.unmap);
        return r ? 0 : completion_errno(r.error());
    }
    case IoOp::kFlush:
        return res < 0 ? -res : 0;
    }
    return EOPNOTSUPP;
}

size_t IoUringEngine::reap_ring(std::vector<IoCompletion>& out) {
    size_t n = 0;
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe != nullptr) {
        const uint64_t index = io_uring_cqe_get_data64(cqe);
        const int res = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        if (index >= slots_.size()) { // cannot happen: only our slot indices go into user_data
            log::error("io_uring engine: completion for unknown request {}", index);
            continue;
        }
        Slot& slot = slots_[index];
        out.push_back({slot.cookie, finish(slot, res)});
        free_.push_back(static_cast<uint32_t>(index));
        --in_kernel_;
        ++n;
    }
    return n;
}

size_t IoUringEngine::reap(std::vector<IoCompletion>& out) {
    // Consume the count first: a CQE posted after this read signals again, so none is missed.
    (void)event_.consume();
    const size_t local = ready_.size();
    out.insert(out.end(), ready_.begin(), ready_.end());
    ready_.clear();
    const size_t n = local + reap_ring(out);
    if (retry_submit_) log_failure(flush_submissions());
    return n;
}

void IoUringEngine::drain(std::vector<IoCompletion>& out) {
    log_failure(flush_submissions());
    for (int refusals = 0;;) {
        reap(out);
        if (in_kernel_ == 0) return;
        if (in_kernel_ == unsubmitted_.size()) {
            // All that is left are SQEs the kernel refused (EAGAIN): no completion will wake us.
            // Retry for a while; then give up on them, which is safe as the kernel never saw them.
            if (++refusals > kMaxRefusals) {
                broken_ = true;
                log::error("io_uring engine: the kernel refused {} requests for {} ms; failing "
                           "them",
                           unsubmitted_.size(), kMaxRefusals);
                fail_unsubmitted();
                continue;
            }
            const timespec pause{0, 1000 * 1000};
            ::nanosleep(&pause, nullptr);
            log_failure(flush_submissions());
            continue;
        }
        io_uring_cqe* cqe = nullptr;
        const int r = io_uring_wait_cqe(&ring_, &cqe); // leaves the CQE for reap()
        if (r < 0 && r != -EINTR && r != -EAGAIN) {
            log::error("io_uring engine: waiting for {} requests failed: {}", in_kernel_,
                       std::strerror(-r));
            return;
        }
    }
}

void IoUringEngine::log_failure(const Result<void>& result) {
    if (!result) log::error("{}", result.error().describe());
}

} // namespace

Result<std::unique_ptr<IoEngine>> make_io_uring_engine(std::unique_ptr<SyncDisk> disk,
                                                       uint32_t depth) {
    return IoUringEngine::create(std::move(disk), depth);
}

} // namespace ember::virtio::block
