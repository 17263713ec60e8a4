// SerialOutput: where a UART's transmitted bytes go — a file descriptor the owner keeps open
// (stdout, an opened log file, a pipe), or nowhere.
//
// Contract:
// - One write(2) per call to write() unless the fd takes a short write; then the rest is retried.
// - It never changes the fd's flags. A blocking fd blocks the calling vCPU for as long as the
//   fd's reader makes it (like a terminal would); hand over a non-blocking fd to bound that.
// - On a non-blocking fd that is full (EAGAIN), it waits up to kStallTimeout for room once, then
//   drops the rest and enters a "stalled" state in which a full fd drops at once, without
//   waiting; the first byte that gets through again ends the stalled state. So a reader that
//   stops reading costs the guest one kStallTimeout per episode, not one per byte.
// - Any other failure (EPIPE, ENOSPC, EIO, EBADF) drops the bytes of that call. The first loss
//   is logged; later ones are only counted (dropped()).
// - EPIPE needs SIGPIPE ignored in the process (main does `signal(SIGPIPE, SIG_IGN)`); with the
//   default disposition a closed pipe kills the process before write(2) returns.
//
// Thread-safe: vCPU threads call write() concurrently; counters are atomics.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

namespace ember::devices {

class SerialOutput final {
public:
    // No output: bytes are discarded (and not counted as dropped).
    static constexpr int kNoOutput = -1;
    // How long one write() may wait for a full non-blocking fd before dropping.
    static constexpr std::chrono::milliseconds kStallTimeout{20};

    // `fd` stays owned by the caller and must stay open as long as this object lives.
    explicit SerialOutput(int fd) : fd_(fd) {}

    void write(std::span<const std::byte> bytes);

    [[nodiscard]] int fd() const { return fd_; }
    // Bytes that reached the fd.
    [[nodiscard]] uint64_t written() const { return written_.load(std::memory_order_relaxed); }
    // Bytes lost to output errors or to a full fd.
    [[nodiscard]] uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    enum class Outcome { kProgress, kRetry, kDrop };

    // One write(2) attempt of `rest`; advances `rest` past what was written. A full fd is waited
    // for only while `may_wait` (then cleared).
    Outcome write_once(std::span<const std::byte>& rest, bool& may_wait);
    // The fd is full: true when it became writable within kStallTimeout (and not stalled).
    bool wait_for_room();
    void drop(size_t count, int err);

    int fd_;
    std::atomic<uint64_t> written_{0};
    std::atomic<uint64_t> dropped_{0};
    std::atomic<bool> stalled_{false};
    std::atomic<bool> warned_{false};
};

} // namespace ember::devices
