// IoEngine: how the virtio-blk device runs its requests against a disk, asynchronously or not.
// Two engines implement it (issue 4.5):
//   - the sync engine (make_sync_engine): runs each request on the VMM thread at submit(), on
//     any DiskBackend (SyncDisk, OverlayDisk); completions are ready at once.
//   - the io_uring engine (make_io_uring_engine): queues SQEs at submit(), hands them to the
//     kernel in one io_uring_enter per batch (flush_submissions), and signals completions on an
//     eventfd that the VMM's event loop watches (completion_fd).
//
// The device's loop, for either engine:
//
//     while (engine.in_flight() < engine.queue_depth() && (chain = queue.pop())) {
//         ... parse; on a parse error complete the chain at once ...
//         engine.submit({op, sector, iovecs, ..., cookie});
//     }
//     engine.flush_submissions();
//     reap_and_complete();                  // sync: everything; io_uring: what is done
//     // and when completion_fd() becomes readable: reap_and_complete()
//
// Contract:
// - The iovecs of a read or write point into guest memory and must stay valid until the
//   request's completion has been reaped (the device keeps them per in-flight slot).
// - submit() validates like DiskBackend does (range against capacity, writes to a read-only
//   drive): such a request completes with an error, it is not refused. submit() itself fails
//   only when the engine is full (in_flight() == queue_depth()) or broken; then nothing is in
//   flight for that cookie.
// - Requests in flight at once may complete in any order. A kFlush covers every write that
//   completed before it was submitted (virtio's rule; Linux waits for the writes it orders).
// - Every IoCompletion's error is 0 or a positive errno: EINVAL/ERANGE for a request the guest
//   got wrong (out of range), EROFS for a write to a read-only drive, EOPNOTSUPP for an
//   operation the engine cannot do, anything else from the host. The device maps all of them
//   to VIRTIO_BLK_S_IOERR (VIRTIO_BLK_S_UNSUPP for EOPNOTSUPP).
// - drain() waits for every request in flight (reset, shutdown, snapshot): after it returns,
//   the engine writes no guest memory.
#pragma once

#include "virtio/block/disk.hpp"
#include "vmm/sys/result.hpp"

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace ember::virtio::block {

// What the user asked for (--drive engine=...). kAuto: io_uring when the kernel and the disk
// allow it, else sync (with a log line saying why); an explicit kIoUring that cannot be had is
// an error.
enum class EngineKind { kAuto, kSync, kIoUring };

// "auto", "sync", "io_uring" (also "Sync"/"Async", Firecracker's io_engine names).
Result<EngineKind> parse_engine_kind(std::string_view text);
[[nodiscard]] std::string_view to_string(EngineKind kind);

enum class IoOp : uint8_t { kRead, kWrite, kFlush, kDiscard, kWriteZeroes };

struct IoRequest {
    IoOp op = IoOp::kRead;
    uint64_t sector = 0;            // kRead, kWrite, kDiscard, kWriteZeroes
    std::span<const iovec> buffers; // kRead, kWrite: whole sectors in total
    uint64_t num_sectors = 0;       // kDiscard, kWriteZeroes
    bool unmap = false;             // kWriteZeroes: VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP
    uint64_t cookie = 0;            // returned unchanged in the IoCompletion
};

struct IoCompletion {
    uint64_t cookie = 0;
    int error = 0; // 0, or a positive errno (see the contract above)

    friend bool operator==(const IoCompletion&, const IoCompletion&) = default;
};

class IoEngine {
public:
    IoEngine() = default;
    virtual ~IoEngine() = default;
    IoEngine(const IoEngine&) = delete;
    IoEngine& operator=(const IoEngine&) = delete;
    IoEngine(IoEngine&&) = delete;
    IoEngine& operator=(IoEngine&&) = delete;

    [[nodiscard]] virtual EngineKind kind() const = 0; // kSync or kIoUring, never kAuto
    // The disk's properties (capacity, read-only, cache mode, GET_ID bytes).
    [[nodiscard]] virtual const DiskBackend& disk() const = 0;
    // Requests that may be in flight at once.
    [[nodiscard]] virtual uint32_t queue_depth() const = 0;
    [[nodiscard]] virtual uint32_t in_flight() const = 0;

    // Starts `request` (see the contract). Errors: Errc::kUnavailable (sys_errno EBUSY) when full,
    // else the engine is broken (the device then sets DEVICE_NEEDS_RESET).
    virtual Result<void> submit(const IoRequest& request) = 0;
    // Hands everything submitted since the last call to the kernel. No-op for sync.
    virtual Result<void> flush_submissions() = 0;
    // Readable when completions wait to be reaped (an eventfd); -1 for the sync engine, whose
    // completions are ready when submit() returns.
    [[nodiscard]] virtual int completion_fd() const = 0;
    // Appends the finished requests to `out` and returns how many; consumes the eventfd's
    // count. Never blocks.
    virtual size_t reap(std::vector<IoCompletion>& out) = 0;
    // Whether reap() would return something, without a system call (a look at the completion
    // ring): lets the device poll briefly for completions instead of sleeping in epoll.
    [[nodiscard]] virtual bool completions_ready() const = 0;
    // Blocks until nothing is in flight, appending the completions to `out`.
    virtual void drain(std::vector<IoCompletion>& out) = 0;
};

// The synchronous engine over any back end; queue_depth() is 1 (each request is done when
// submit() returns, so in_flight() is 0 again once its completion is reaped).
std::unique_ptr<IoEngine> make_sync_engine(std::unique_ptr<DiskBackend> disk);

// io_uring over a raw image file, `depth` entries (a power of two, 1..4096). Fails with a message
// naming the cause (kernel without io_uring, seccomp, RLIMIT_MEMLOCK, ...) when the ring cannot
// be set up; the caller decides whether to fall back (EngineKind::kAuto) or not.
Result<std::unique_ptr<IoEngine>> make_io_uring_engine(std::unique_ptr<SyncDisk> disk,
                                                       uint32_t depth);

// --- Helpers shared by the engines ---

// The IoCompletion errno for a failed DiskBackend call: the Error's sys_errno() if it has one,
// EINVAL for Errc::kInvalidArgument (the guest asked for something impossible), else EIO.
[[nodiscard]] int completion_errno(const Error& error);
// The part of `buffers` after its first `bytes` bytes (an iovec split in the middle starts
// late): what is left to move after a short transfer. `bytes` past the end gives nothing.
[[nodiscard]] std::vector<iovec> advance_iovecs(std::span<const iovec> buffers, uint64_t bytes);

} // namespace ember::virtio::block
