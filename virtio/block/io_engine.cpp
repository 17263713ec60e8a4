#include "virtio/block/io_engine.hpp"

#include <array>
#include <cerrno>
#include <utility>

namespace ember::virtio::block {
namespace {

struct EngineName {
    std::string_view text;
    EngineKind kind;
};

// The names --drive engine= accepts; Firecracker's io_engine values ("Sync", "Async") too, so
// its configurations carry over unchanged.
constexpr std::array<EngineName, 5> kEngineNames{{
    {"auto", EngineKind::kAuto},
    {"sync", EngineKind::kSync},
    {"io_uring", EngineKind::kIoUring},
    {"Sync", EngineKind::kSync},
    {"Async", EngineKind::kIoUring},
}};

// Runs each request on the VMM thread inside submit(); its completion waits in done_ until
// reaped. One request at a time: the device gets back pressure rather than a hidden queue.
class SyncEngine final : public IoEngine {
public:
    explicit SyncEngine(std::unique_ptr<DiskBackend> disk) : disk_(std::move(disk)) {
        done_.reserve(kDepth);
    }

    [[nodiscard]] EngineKind kind() const override { return EngineKind::kSync; }
    [[nodiscard]] const DiskBackend& disk() const override { return *disk_; }
    [[nodiscard]] uint32_t queue_depth() const override { return kDepth; }
    [[nodiscard]] uint32_t in_flight() const override {
        return static_cast<uint32_t>(done_.size());
    }

    Result<void> submit(const IoRequest& request) override {
        if (done_.size() >= kDepth)
            return tl::unexpected(Error(Errc::kUnavailable,
                                        "sync block engine is full: reap the completion of the "
                                        "previous request first",
                                        EBUSY));
        done_.push_back({request.cookie, run(request)});
        return {};
    }
    Result<void> flush_submissions() override { return {}; }
    [[nodiscard]] int completion_fd() const override { return -1; }

    size_t reap(std::vector<IoCompletion>& out) override {
        const size_t n = done_.size();
        out.insert(out.end(), done_.begin(), done_.end());
        done_.clear();
        return n;
    }
    [[nodiscard]] bool completions_ready() const override { return !done_.empty(); }
    void drain(std::vector<IoCompletion>& out) override { reap(out); }

private:
    static constexpr uint32_t kDepth = 1;

    // The request's errno: 0 on success.
    int run(const IoRequest& r) {
        const bool writes =
            r.op == IoOp::kWrite || r.op == IoOp::kDiscard || r.op == IoOp::kWriteZeroes;
        // Checked here because back ends report a read-only refusal as kInvalidArgument, which
        // would read as EINVAL; the contract promises EROFS.
        if (writes && disk_->read_only()) return EROFS;
        Result<void> result;
        switch (r.op) {
        case IoOp::kRead:
            result = disk_->read(r.sector, r.buffers);
            break;
        case IoOp::kWrite:
            result = disk_->write(r.sector, r.buffers);
            break;
        case IoOp::kFlush:
            result = disk_->flush();
            break;
        case IoOp::kDiscard:
            result = disk_->discard(r.sector, r.num_sectors);
            break;
        case IoOp::kWriteZeroes:
            result = disk_->write_zeroes(r.sector, r.num_sectors, r.unmap);
            break;
        default:
            return EOPNOTSUPP;
        }
        return result ? 0 : completion_errno(result.error());
    }

    std::unique_ptr<DiskBackend> disk_;
    std::vector<IoCompletion> done_;
};

} // namespace

Result<EngineKind> parse_engine_kind(std::string_view text) {
    for (const EngineName& name : kEngineNames)
        if (name.text == text) return name.kind;
    return make_error(Errc::kInvalidArgument,
                      "unknown block I/O engine '{}': use auto, sync or io_uring (or Firecracker's "
                      "Sync or Async)",
                      text);
}

std::string_view to_string(EngineKind kind) {
    switch (kind) {
    case EngineKind::kAuto:
        return "auto";
    case EngineKind::kSync:
        return "sync";
    case EngineKind::kIoUring:
        return "io_uring";
    }
    return "unknown";
}

std::unique_ptr<IoEngine> make_sync_engine(std::unique_ptr<DiskBackend> disk) {
    return std::make_unique<SyncEngine>(std::move(disk));
}

int completion_errno(const Error& error) {
    if (error.sys_errno() > 0) return error.sys_errno();
    return error.code() == Errc::kInvalidArgument ? EINVAL : EIO;
}

std::vector<iovec> advance_iovecs(std::span<const iovec> buffers, uint64_t bytes) {
    while (!buffers.empty() && buffers.front().iov_len <= bytes) {
        bytes -= buffers.front().iov_len;
        buffers = buffers.subspan(1);
    }
    std::vector<iovec> rest(buffers.begin(), buffers.end());
    if (!rest.empty()) {
        // Safety: `bytes` < iov_len here, so the new base stays inside the same buffer.
        rest.front().iov_base = static_cast<char*>(rest.front().iov_base) + bytes;
        rest.front().iov_len -= bytes;
    }
    return rest;
}

} // namespace ember::virtio::block
