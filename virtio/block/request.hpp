// Block request parsing (virtio 1.2, 5.2.6): a validated DescriptorChain -> what to do.
//
// A pure function of the chain, the bytes of guest memory it names and the drive's limits, so
// that it is unit-tested and fuzzed on its own. It accepts any framing of the request (VERSION_1
// implies ANY_LAYOUT, 2.7.4.3): the 16-byte header is the first 16 device-readable bytes, the
// status is the last device-writable byte, and the data is what lies between, whichever buffers
// those bytes sit in. The header and the discard/write-zeroes segments are copied out once.
//
// The result is either a Request to run, or a refusal: VIRTIO_BLK_S_IOERR / S_UNSUPP to write into
// the status byte with a message saying why, or — when the chain has no writable byte to put a
// status in — a chain the device cannot answer at all (it then sets DEVICE_NEEDS_RESET).
#pragma once

#include "virtio/queue/descriptor_chain.hpp"
#include "vmm/core/guest_memory.hpp"

#include <linux/virtio_blk.h>
#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ember::virtio::block {

enum class RequestType : uint8_t { kRead, kWrite, kFlush, kGetId, kDiscard, kWriteZeroes };

[[nodiscard]] std::string_view to_string(RequestType type);

// What the drive allows; from its configuration and the negotiated features.
struct RequestLimits {
    uint64_t capacity_sectors = 0;
    bool read_only = false;
    bool flush = false;        // VIRTIO_BLK_F_FLUSH negotiated
    bool discard = false;      // VIRTIO_BLK_F_DISCARD negotiated
    bool write_zeroes = false; // VIRTIO_BLK_F_WRITE_ZEROES negotiated
    uint32_t max_discard_sectors = 0;
    uint32_t max_write_zeroes_sectors = 0;
};

struct Request {
    RequestType type = RequestType::kRead;
    uint64_t sector = 0;      // kRead, kWrite, kDiscard, kWriteZeroes
    uint64_t num_sectors = 0; // kDiscard, kWriteZeroes (kRead/kWrite: data_len / 512)
    bool unmap = false;       // kWriteZeroes with VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP
    // kRead, kWrite, kGetId: the data buffers as host views of guest memory, in order.
    std::vector<iovec> data;
    uint64_t data_len = 0;
    GuestAddr status_addr = 0;

    // What goes into the used element's len: the bytes the device writes into the chain's
    // writable buffers (the data of a read or GET_ID, and the status byte).
    [[nodiscard]] uint32_t written_len() const;
};

struct RequestError {
    uint8_t status = VIRTIO_BLK_S_IOERR;  // VIRTIO_BLK_S_IOERR or VIRTIO_BLK_S_UNSUPP
    std::optional<GuestAddr> status_addr; // nullopt: no writable byte to answer in
    std::string message;
};

struct ParseResult {
    std::optional<Request> request; // set on success
    RequestError error;             // otherwise
};

// Parses `chain` into `out` (reusing its storage; no allocation once warmed up). True on
// success; false with `error` filled in otherwise.
bool parse_request(const DescriptorChain& chain, const GuestMemory& memory,
                   const RequestLimits& limits, Request& out, RequestError& error);

// The same, returning a fresh result (tests, fuzzing).
[[nodiscard]] ParseResult parse_request(const DescriptorChain& chain, const GuestMemory& memory,
                                        const RequestLimits& limits);

} // namespace ember::virtio::block
