#include "virtio/block/request.hpp"

#include "virtio/block/disk.hpp"

#include <fmt/format.h>

#include <array>
#include <cstring>

namespace ember::virtio::block {
namespace {

constexpr uint64_t kHeaderSize = sizeof(virtio_blk_outhdr); // type, ioprio, sector: 16 bytes
constexpr uint64_t kSegmentSize = sizeof(virtio_blk_discard_write_zeroes); // 16 bytes
static_assert(kHeaderSize == 16 && kSegmentSize == 16);
// max_discard_seg and max_write_zeroes_seg that the device advertises.
constexpr uint64_t kMaxSegments = 1;

uint32_t le32(const std::byte* p) {
    uint32_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v; // x86-64 only, like the rest of ember: little endian already
}
uint64_t le64(const std::byte* p) {
    uint64_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Copies bytes [offset, offset + out.size()) of the buffers `segs` (taken as one stream).
bool gather(const GuestMemory& memory, std::span<const Segment> segs, uint64_t offset,
            std::span<std::byte> out) {
    size_t done = 0;
    for (const Segment& s : segs) {
        if (done == out.size()) break;
        if (offset >= s.len) {
            offset -= s.len;
            continue;
        }
        const uint64_t n = std::min<uint64_t>(s.len - offset, out.size() - done);
        if (!memory.read(s.addr + offset, out.subspan(done, n))) return false;
        done += n;
        offset = 0;
    }
    return done == out.size();
}

// Appends host views of bytes [offset, offset + len) of `segs` to `iov`.
bool slice(const GuestMemory& memory, std::span<const Segment> segs, uint64_t offset, uint64_t len,
           std::vector<iovec>& iov) {
    for (const Segment& s : segs) {
        if (len == 0) break;
        if (offset >= s.len) {
            offset -= s.len;
            continue;
        }
        const uint64_t n = std::min<uint64_t>(s.len - offset, len);
        auto view = memory.span(s.addr + offset, n);
        if (!view) return false; // cannot happen for a parsed chain: it was checked
        iov.push_back(iovec{view->data(), n});
        len -= n;
        offset = 0;
    }
    return len == 0;
}

// The guest address of the last device-writable byte (the status), if there is one.
std::optional<GuestAddr> status_byte(std::span<const Segment> writable) {
    for (auto it = writable.rbegin(); it != writable.rend(); ++it)
        if (it->len > 0) return it->addr + it->len - 1;
    return std::nullopt;
}

class Parser {
public:
    Parser(const DescriptorChain& chain, const GuestMemory& memory, const RequestLimits& limits,
           Request& out, RequestError& error)
        : chain_(chain), memory_(memory), limits_(limits), out_(out), error_(error) {}

    bool run();

private:
    template <class... Args>
    bool fail(uint8_t status, fmt::format_string<Args...> format, Args&&... args) {
        error_.status = status;
        error_.message = fmt::format("virtio-blk request (head {}): {}", chain_.head(),
                                     fmt::format(format, std::forward<Args>(args)...));
        return false;
    }
    bool check_range(uint64_t sector, uint64_t sectors);
    bool expect_no_extra(uint64_t readable, uint64_t writable);
    bool data_in();  // kRead
    bool data_out(); // kWrite
    bool get_id();
    bool segments(RequestType type);

    const DescriptorChain& chain_;
    const GuestMemory& memory_;
    const RequestLimits& limits_;
    Request& out_;
    RequestError& error_;
};

bool Parser::check_range(uint64_t sector, uint64_t sectors) {
    if (sector > limits_.capacity_sectors || sectors > limits_.capacity_sectors - sector)
        return fail(VIRTIO_BLK_S_IOERR, "sectors {}..{} are past the end of the disk ({} sectors)",
                    sector, sector + sectors, limits_.capacity_sectors);
    return true;
}

// Requests whose layout is fixed: exactly `readable` device-readable bytes and `writable`
// device-writable ones.
bool Parser::expect_no_extra(uint64_t readable, uint64_t writable) {
    if (chain_.readable_bytes() != readable || chain_.writable_bytes() != writable)
        return fail(VIRTIO_BLK_S_IOERR,
                    "a {} request has {} device-readable and {} device-writable bytes, "
                    "expected {} and {}",
                    to_string(out_.type), chain_.readable_bytes(), chain_.writable_bytes(),
                    readable, writable);
    return true;
}

bool Parser::data_in() {
    if (chain_.readable_bytes() != kHeaderSize)
        return fail(VIRTIO_BLK_S_IOERR,
                    "a read has {} device-readable bytes; only the 16-byte header may be",
                    chain_.readable_bytes());
    const uint64_t len = chain_.writable_bytes() - 1;
    if (len % kSectorSize != 0)
        return fail(VIRTIO_BLK_S_IOERR, "read of {} bytes: not a multiple of 512", len);
    if (!check_range(out_.sector, len / kSectorSize)) return false;
    out_.num_sectors = len / kSectorSize;
    out_.data_len = len;
    if (!slice(memory_, chain_.writable(), 0, len, out_.data))
        return fail(VIRTIO_BLK_S_IOERR, "data buffers outside guest memory");
    return true;
}

bool Parser::data_out() {
    if (chain_.writable_bytes() != 1)
        return fail(VIRTIO_BLK_S_IOERR,
                    "a write has {} device-writable bytes; only the status byte may be",
                    chain_.writable_bytes());
    const uint64_t len = chain_.readable_bytes() - kHeaderSize;
    if (len % kSectorSize != 0)
        return fail(VIRTIO_BLK_S_IOERR, "write of {} bytes: not a multiple of 512", len);
    if (limits_.read_only) return fail(VIRTIO_BLK_S_IOERR, "write to a read-only drive");
    if (!check_range(out_.sector, len / kSectorSize)) return false;
    out_.num_sectors = len / kSectorSize;
    out_.data_len = len;
    if (!slice(memory_, chain_.readable(), kHeaderSize, len, out_.data))
        return fail(VIRTIO_BLK_S_IOERR, "data buffers outside guest memory");
    return true;
}

bool Parser::get_id() {
    if (chain_.readable_bytes() != kHeaderSize)
        return fail(VIRTIO_BLK_S_IOERR, "GET_ID has {} device-readable bytes, expected 16",
                    chain_.readable_bytes());
    const uint64_t room = chain_.writable_bytes() - 1;
    if (room == 0) return fail(VIRTIO_BLK_S_IOERR, "GET_ID without a buffer for the id");
    out_.data_len = std::min<uint64_t>(room, kDiskIdBytes);
    if (!slice(memory_, chain_.writable(), 0, out_.data_len, out_.data))
        return fail(VIRTIO_BLK_S_IOERR, "id buffer outside guest memory");
    return true;
}

bool Parser::segments(RequestType type) {
    const bool discard = type == RequestType::kDiscard;
    if (!(discard ? limits_.discard : limits_.write_zeroes))
        return fail(VIRTIO_BLK_S_UNSUPP, "{} was not negotiated", to_string(type));
    if (limits_.read_only)
        return fail(VIRTIO_BLK_S_IOERR, "{} on a read-only drive", to_string(type));
    if (chain_.writable_bytes() != 1)
        return fail(VIRTIO_BLK_S_IOERR, "{} has {} device-writable bytes; only the status may be",
                    to_string(type), chain_.writable_bytes());
    const uint64_t payload = chain_.readable_bytes() - kHeaderSize;
    if (payload == 0 || payload % kSegmentSize != 0)
        return fail(VIRTIO_BLK_S_IOERR,
                    "{} payload of {} bytes: not a whole number of 16-byte "
                    "segments",
                    to_string(type), payload);
    if (payload / kSegmentSize > kMaxSegments)
        return fail(VIRTIO_BLK_S_IOERR, "{} with {} segments; the device allows {}",
                    to_string(type), payload / kSegmentSize, kMaxSegments);
    std::array<std::byte, kSegmentSize> seg{};
    if (!gather(memory_, chain_.readable(), kHeaderSize, seg))
        return fail(VIRTIO_BLK_S_IOERR, "segment outside guest memory");
    out_.sector = le64(seg.data());
    out_.num_sectors = le32(seg.data() + 8);
    const uint32_t flags = le32(seg.data() + 12);
    // 5.2.6.2: the unmap flag is for write zeroes only; other bits are reserved.
    const uint32_t allowed = discard ? 0 : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
    if ((flags & ~allowed) != 0)
        return fail(VIRTIO_BLK_S_UNSUPP, "{} with flags {:#x}", to_string(type), flags);
    out_.unmap = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0;
    const uint32_t max = discard ? limits_.max_discard_sectors : limits_.max_write_zeroes_sectors;
    if (out_.num_sectors > max)
        return fail(VIRTIO_BLK_S_IOERR, "{} of {} sectors; the device allows {} at once",
                    to_string(type), out_.num_sectors, max);
    return check_range(out_.sector, out_.num_sectors);
}

bool Parser::run() {
    out_.data.clear();
    out_.data_len = 0;
    out_.num_sectors = 0;
    out_.unmap = false;
    error_.status_addr = status_byte(chain_.writable());
    if (!error_.status_addr)
        return fail(VIRTIO_BLK_S_IOERR, "no device-writable byte for the status");
    out_.status_addr = *error_.status_addr;
    if (chain_.readable_bytes() < kHeaderSize)
        return fail(VIRTIO_BLK_S_IOERR, "the header is {} bytes, expected 16",
                    chain_.readable_bytes());
    std::array<std::byte, kHeaderSize> header{};
    if (!gather(memory_, chain_.readable(), 0, header))
        return fail(VIRTIO_BLK_S_IOERR, "header outside guest memory");
    const uint32_t type = le32(header.data());
    out_.sector = le64(header.data() + 8);
    switch (type) {
    case VIRTIO_BLK_T_IN:
        out_.type = RequestType::kRead;
        return data_in();
    case VIRTIO_BLK_T_OUT:
        out_.type = RequestType::kWrite;
        return data_out();
    case VIRTIO_BLK_T_FLUSH:
        out_.type = RequestType::kFlush;
        if (!limits_.flush) return fail(VIRTIO_BLK_S_UNSUPP, "FLUSH was not negotiated");
        return expect_no_extra(kHeaderSize, 1);
    case VIRTIO_BLK_T_GET_ID:
        out_.type = RequestType::kGetId;
        return get_id();
    case VIRTIO_BLK_T_DISCARD:
        out_.type = RequestType::kDiscard;
        return segments(out_.type);
    case VIRTIO_BLK_T_WRITE_ZEROES:
        out_.type = RequestType::kWriteZeroes;
        return segments(out_.type);
    default:
        return fail(VIRTIO_BLK_S_UNSUPP, "request type {} is not supported", type);
    }
}

} // namespace

std::string_view to_string(RequestType type) {
    switch (type) {
    case RequestType::kRead:
        return "read";
    case RequestType::kWrite:
        return "write";
    case RequestType::kFlush:
        return "flush";
    case RequestType::kGetId:
        return "GET_ID";
    case RequestType::kDiscard:
        return "discard";
    case RequestType::kWriteZeroes:
        return "write zeroes";
    }
    return "?";
}

uint32_t Request::written_len() const {
    const bool writes_data = type == RequestType::kRead || type == RequestType::kGetId;
    // A parsed chain holds less than 4 GiB (DescriptorChain refuses more).
    return static_cast<uint32_t>((writes_data ? data_len : 0) + 1);
}

bool parse_request(const DescriptorChain& chain, const GuestMemory& memory,
                   const RequestLimits& limits, Request& out, RequestError& error) {
    return Parser(chain, memory, limits, out, error).run();
}

ParseResult parse_request(const DescriptorChain& chain, const GuestMemory& memory,
                          const RequestLimits& limits) {
    ParseResult result;
    Request request;
    if (parse_request(chain, memory, limits, request, result.error))
        result.request = std::move(request);
    return result;
}

} // namespace ember::virtio::block
