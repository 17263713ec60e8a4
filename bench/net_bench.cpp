// net_bench: ember's virtio-net vs QEMU microvm's, same guest, same tap, one run.
//
// The virtio_net guest (resources/guests/virtio_net.c, net=bench) runs, per frame size S (64 and
// 1500 bytes, Ethernet header included), a transmit phase "txS" — N frames of S bytes as fast as
// its ring takes them — and then a receive phase "rxS" that counts the frames of S bytes the host
// sends until an end frame arrives; it prints "bench: begin <phase>" / "bench: end <phase>
// <frames> <bytes> <notifications>" around each. This program:
// - moves itself into a network namespace of its own (unshare) and makes a tap there, up, with
//   IPv6 off (no neighbour discovery chatter). The VMMs inherit the namespace; when this process
//   exits, however it exits, the namespace and the tap go with it.
// - runs each VMM on the tap: `ember --net tap=…` and QEMU microvm with `-netdev tap,…,vhost=off
//   -device virtio-net-device` (vhost off: QEMU's own user-space device, like ember's).
// - timestamps the markers as they arrive on the VMM's stdout and samples the VMM's CPU time from
//   /proc/<pid>/stat and the tap's counters from /proc/net/dev at the same moments.
// - for "rxS" (the guest has reset its device, posted no receive buffer and said "ready"): an
//   injector thread with an AF_PACKET socket on the tap (qdisc bypassed) sends N frames with
//   sendmmsg as fast as it can, then an end frame (and one every millisecond until the guest's
//   end line shows). `--rx prefill` (default): the tap's queue is made long enough for all N,
//   the guest is told to start (a byte on its console) once they are queued, and so the phase
//   times the VMM draining the tap into the guest with no sender competing for the CPU.
//   `--rx live`: the guest starts at once and the sender runs during the phase; on a small host
//   (the guest's poll loop takes a core) that mostly measures the sender. Frames the tap drops
//   (its queue full) are not counted: rx pps = frames the guest got / phase time.
// - checks that the tap saw every frame the guest sent (its rx_packets counter, whole run).
// Rounds alternate the VMMs so host drift hits both alike; medians are printed with the ratio.
//
// VMM CPU per frame = Σ per thread Δ(utime + stime − guest_time), each at least 0, / frames: the
// CPU the VMM process burnt besides guest mode (its device thread, syscalls, the exits its vCPU
// thread handles); the guest's poll loop keeps its vCPU busy under both VMMs alike and drops out.
// Per thread, unlike blk_bench's process-wide figure: on a PVM host the vCPU thread's guest_time
// outgrows its utime + stime, which would otherwise be subtracted from the device thread's CPU.
//
//   net_bench --ember build/vmm/ember --kernel build/resources/guests/virtio_net.elf
//             [--qemu PATH] [--frames 200000] [--sizes 64,1500] [--rounds 3] [--vmms ember,qemu]
//             [--rx prefill|live] [--ember-arg ARG]... [--verbose 1]
// (--ember-arg: added to every ember command line, e.g. --timings; --verbose 1: print each run's
// output, where those land.)
#include "bench/bench_common.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using namespace ember::bench;

constexpr int kSkipped = 77; // CTest's SKIP_RETURN_CODE for the smoke test
constexpr int kRunTimeoutMs = 300'000;
constexpr const char* kTap = "embench0";
constexpr const char* kGuestMac = "06:00:0a:c8:00:02";
constexpr uint16_t kEthertype = 0x88b5; // IEEE local experimental: no host protocol handles it
constexpr unsigned kMaxFrame = 1514;
constexpr uint64_t kMaxPrefill = 500'000;

// The frames the VMMs wrote to the tap (the guests sent), from /proc/net/dev: the tap's rx_packets
// in this process's namespace.
uint64_t tap_rx_packets() {
    std::ifstream in("/proc/net/dev");
    const std::string prefix = std::string(kTap) + ":";
    for (std::string line; std::getline(in, line);) {
        const auto start = line.find_first_not_of(' ');
        if (start == std::string::npos || line.compare(start, prefix.size(), prefix) != 0) continue;
        std::istringstream fields(line.substr(start + prefix.size()));
        uint64_t bytes = 0;
        uint64_t packets = 0;
        fields >> bytes >> packets;
        return packets;
    }
    return 0;
}

// ---- The network: namespace, tap, injector -----------------------------------------------------

bool write_file(const char* path, const char* text) {
    std::ofstream out(path);
    out << text;
    return static_cast<bool>(out);
}

// The tap, persistent (so each VMM can attach in turn), up, its queue `queue_len` frames long
// (0: the default, 500); an empty string or why not.
std::string make_network(uint64_t queue_len) {
    if (::unshare(CLONE_NEWNET) != 0)
        return fmt::format("unshare(CLONE_NEWNET): {}", std::strerror(errno));
    (void)write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    (void)write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    const int tun = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (tun < 0) return fmt::format("/dev/net/tun: {}", std::strerror(errno));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, kTap, IFNAMSIZ - 1);
    ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    const bool made = ::ioctl(tun, TUNSETIFF, &ifr) == 0 && ::ioctl(tun, TUNSETPERSIST, 1) == 0;
    const int err = errno;
    ::close(tun);
    if (!made) return fmt::format("creating tap {}: {}", kTap, std::strerror(err));
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq up{};
    std::strncpy(up.ifr_name, kTap, IFNAMSIZ - 1);
    bool ok = s >= 0 && ::ioctl(s, SIOCGIFFLAGS, &up) == 0;
    up.ifr_flags = static_cast<short>(up.ifr_flags | IFF_UP);
    ok = ok && ::ioctl(s, SIOCSIFFLAGS, &up) == 0;
    if (ok && queue_len != 0) {
        ifreq qlen{};
        std::strncpy(qlen.ifr_name, kTap, IFNAMSIZ - 1);
        qlen.ifr_qlen = static_cast<int>(queue_len);
        ok = ::ioctl(s, SIOCSIFTXQLEN, &qlen) == 0;
    }
    const int up_err = errno;
    if (s >= 0) ::close(s);
    if (!ok) return fmt::format("setting {} up: {}", kTap, std::strerror(up_err));
    return {};
}

// Deletes the tap now (the namespace would take it at exit anyway).
void remove_tap() {
    const int tun = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (tun < 0) return;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, kTap, IFNAMSIZ - 1);
    ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    if (::ioctl(tun, TUNSETIFF, &ifr) == 0) (void)::ioctl(tun, TUNSETPERSIST, 0);
    ::close(tun);
}

// Sends the host → guest frames on its own thread, one phase at a time.
class Injector {
public:
    explicit Injector(uint64_t frames) : frames_(frames) {
        fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); // 0: sends only, receives nothing
        const int one = 1;
        (void)::setsockopt(fd_, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
        addr_.sll_family = AF_PACKET;
        addr_.sll_ifindex = static_cast<int>(::if_nametoindex(kTap));
        addr_.sll_halen = ETH_ALEN;
        thread_ = std::thread([this] { loop(); });
    }
    ~Injector() {
        {
            const std::lock_guard lock(mu_);
            quit_ = true;
            size_ = 0;
        }
        cv_.notify_all();
        thread_.join();
        if (fd_ >= 0) ::close(fd_);
    }
    Injector(const Injector&) = delete;
    Injector& operator=(const Injector&) = delete;
    Injector(Injector&&) = delete;
    Injector& operator=(Injector&&) = delete;

    [[nodiscard]] bool ok() const { return fd_ >= 0 && addr_.sll_ifindex != 0; }
    void start(unsigned size) {
        {
            const std::lock_guard lock(mu_);
            size_ = size;
            sent_ = 0;
            filled_ = false;
        }
        cv_.notify_all();
    }
    // Waits until the phase's frames and its first end frame are sent.
    void wait_filled() {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return filled_ || size_ == 0; });
    }
    // Ends the phase (the guest's end line came); returns the data frames sent.
    uint64_t stop() {
        std::unique_lock lock(mu_);
        size_ = 0;
        cv_.wait(lock, [this] { return idle_; });
        return sent_;
    }

private:
    std::vector<uint8_t> frame(unsigned size, char kind) const {
        std::vector<uint8_t> f(size);
        for (size_t i = 0; i < f.size(); ++i)
            f[i] = static_cast<uint8_t>(i * 7);
        unsigned mac[6]{};
        std::sscanf(kGuestMac, "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4],
                    &mac[5]);
        for (size_t i = 0; i < 6; ++i) {
            f[i] = static_cast<uint8_t>(mac[i]);
            f[6 + i] = static_cast<uint8_t>(i == 0 ? 2 : i);
        }
        f[12] = static_cast<uint8_t>(kEthertype >> 8U);
        f[13] = static_cast<uint8_t>(kEthertype & 0xffU);
        f[14] = 'H';
        f[15] = static_cast<uint8_t>(kind);
        return f;
    }

    bool running(unsigned size) {
        const std::lock_guard lock(mu_);
        return size_ == size && !quit_;
    }

    void loop() {
        std::unique_lock lock(mu_);
        for (;;) {
            idle_ = true;
            cv_.notify_all();
            cv_.wait(lock, [this] { return quit_ || size_ != 0; });
            if (quit_) return;
            idle_ = false;
            const unsigned size = size_;
            lock.unlock();
            const uint64_t sent = run_phase(size);
            lock.lock();
            sent_ = sent;
        }
    }

    uint64_t run_phase(unsigned size) {
        constexpr size_t kBatch = 64;
        std::vector<uint8_t> data = frame(size, 'D');
        std::vector<uint8_t> end = frame(size, 'E');
        iovec iov{data.data(), data.size()};
        std::array<mmsghdr, kBatch> msgs{};
        for (auto& m : msgs) {
            m.msg_hdr.msg_name = &addr_;
            m.msg_hdr.msg_namelen = sizeof addr_;
            m.msg_hdr.msg_iov = &iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        uint64_t sent = 0;
        while (sent < frames_ && running(size)) {
            const auto n = static_cast<unsigned>(std::min<uint64_t>(kBatch, frames_ - sent));
            const int r = ::sendmmsg(fd_, msgs.data(), n, 0);
            if (r > 0)
                sent += static_cast<uint64_t>(r);
            else if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
                break;
        }
        {
            const std::lock_guard lock(mu_);
            filled_ = true;
        }
        cv_.notify_all();
        // The end frame, until the guest has seen one (a full tap queue may drop some).
        while (running(size)) {
            (void)::sendto(fd_, end.data(), end.size(), 0,
                           // Safety: sockaddr_ll is the sockaddr AF_PACKET expects.
                           reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
            ::usleep(1000);
        }
        return sent;
    }

    uint64_t frames_;
    int fd_ = -1;
    sockaddr_ll addr_{};
    std::mutex mu_;
    std::condition_variable cv_;
    unsigned size_ = 0; // the phase running; 0: none
    uint64_t sent_ = 0;
    bool filled_ = false;
    bool idle_ = false;
    bool quit_ = false;
    std::thread thread_;
};

// ---- Runs -------------------------------------------------------------------------------------

struct PhaseResult {
    double seconds = 0;
    uint64_t frames = 0; // as the guest counted them
    uint64_t bytes = 0;
    double vmm_cpu_s = 0;  // (utime + stime - guest_time) over the phase
    uint64_t injected = 0; // rx: frames the injector sent
    uint64_t kicks = 0;    // the guest's notifications (QueueNotify writes) in the phase
};

struct RunResult {
    bool ok = false;
    std::string error;
    std::string output; // the VMM's stdout and stderr
    std::map<std::string, PhaseResult> phases;
    std::vector<std::string> order;
};

struct Vmm {
    std::string name;
    std::vector<std::string> argv;
    int ok_status = 0;
    std::vector<RunResult> runs;
};

// Feeds complete lines of the child's stdout to the marker parser.
class MarkerWatch {
public:
    MarkerWatch(pid_t pid, int console_in, bool prefill, RunResult& result, Injector& injector)
        : pid_(pid), console_in_(console_in), prefill_(prefill), result_(result),
          injector_(injector) {}

    void feed(const char* data, size_t n) {
        pending_.append(data, n);
        for (size_t eol; (eol = pending_.find('\n')) != std::string::npos;) {
            line(pending_.substr(0, eol));
            pending_.erase(0, eol + 1);
        }
    }
    [[nodiscard]] bool done() const { return done_; }
    [[nodiscard]] const std::string& transcript() const { return transcript_; }

private:
    struct Begin {
        double t = 0;
        CpuSample cpu;
    };

    void line(const std::string& l) {
        const double t = now_s();
        const CpuSample cpu = read_cpu(pid_);
        transcript_ += l + "\n";
        char phase[64] = {};
        unsigned long long frames = 0;
        unsigned long long bytes = 0;
        unsigned long long kicks = 0;
        if (std::sscanf(l.c_str(), "bench: ready rx%63s", phase) == 1) {
            injector_.start(static_cast<unsigned>(std::atoi(phase)));
            if (prefill_) injector_.wait_filled();
            if (::write(console_in_, "g", 1) != 1) // go
                result_.error =
                    fmt::format("cannot write to the VMM's console: {}", std::strerror(errno));
        } else if (std::sscanf(l.c_str(), "bench: begin %63s", phase) == 1) {
            begin_[phase] = {t, cpu};
        } else if (std::sscanf(l.c_str(), "bench: end %63s %llu %llu %llu", phase, &frames, &bytes,
                               &kicks) >= 3) {
            const uint64_t injected = phase[0] == 'r' ? injector_.stop() : 0;
            const auto it = begin_.find(phase);
            if (it == begin_.end()) return;
            const Begin& b = it->second;
            PhaseResult p{t - b.t, frames, bytes, vmm_cpu(b.cpu, cpu), injected, kicks};
            result_.phases[phase] = p;
            result_.order.emplace_back(phase);
        } else if (l.rfind("bench: done", 0) == 0) {
            done_ = true;
        }
    }

    pid_t pid_;
    int console_in_; // the VMM's stdin: its serial console's input
    bool prefill_;
    RunResult& result_;
    Injector& injector_;
    std::string pending_;
    std::string transcript_;
    std::map<std::string, Begin> begin_;
    bool done_ = false;
};

RunResult run_once(const Vmm& vmm, bool prefill, Injector& injector) {
    RunResult result;
    std::array<int, 2> in{};
    std::array<int, 2> out{};
    std::array<int, 2> err{};
    if (::pipe2(in.data(), O_CLOEXEC) != 0 || ::pipe2(out.data(), O_CLOEXEC) != 0 ||
        ::pipe2(err.data(), O_CLOEXEC) != 0) {
        result.error = "pipe failed";
        return result;
    }
    std::vector<char*> args;
    for (const auto& a : vmm.argv)
        args.push_back(const_cast<char*>(a.c_str())); // NOLINT
    args.push_back(nullptr);
    const uint64_t tap_before = tap_rx_packets();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in[0], STDIN_FILENO);
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    MarkerWatch watch(pid, in[1], prefill, result, injector);
    std::string errors;
    std::array<pollfd, 2> fds{pollfd{out[0], POLLIN, 0}, pollfd{err[0], POLLIN, 0}};
    const double deadline = now_s() + kRunTimeoutMs / 1e3;
    std::array<char, 4096> buf{};
    for (int open_fds = 2; open_fds > 0;) {
        if (now_s() > deadline) {
            ::kill(pid, SIGKILL);
            result.error = "timed out";
            break;
        }
        if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
        for (size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            const ssize_t n = ::read(fds[i].fd, buf.data(), buf.size());
            if (n <= 0) {
                fds[i].fd = -1;
                --open_fds;
            } else if (i == 0) {
                watch.feed(buf.data(), static_cast<size_t>(n));
            } else {
                errors.append(buf.data(), static_cast<size_t>(n));
            }
        }
    }
    (void)injector.stop(); // a run that died inside a receive phase
    ::close(in[1]);
    ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (result.error.empty() && (code != vmm.ok_status || !watch.done()))
        result.error = fmt::format("exited with {} (expected {}){}", code, vmm.ok_status,
                                   watch.done() ? "" : " before 'bench: done'");
    // The guest's frames all reached the tap (counted over the whole run: at a begin marker the
    // guest is already sending).
    uint64_t guest_sent = 0;
    for (const auto& [name, p] : result.phases)
        if (name[0] == 't') guest_sent += p.frames;
    const uint64_t tap_got = tap_rx_packets() - tap_before;
    if (result.error.empty() && tap_got < guest_sent)
        result.error =
            fmt::format("the tap got {} of the {} frames the guest sent", tap_got, guest_sent);
    result.ok = result.error.empty();
    result.output = watch.transcript() + errors;
    if (!result.ok)
        result.error += fmt::format("\n--- stdout:\n{}--- stderr:\n{}", watch.transcript(),
                                    errors.substr(0, 2000));
    return result;
}

struct Figures {
    double pps = 0;
    double mbps = 0;
    double cpu_us_per_frame = 0;
    double lost = 0;             // rx: share of the injected frames the guest never got
    double kicks_per_kframe = 0; // guest notifications per 1000 frames
};

Figures figures(const Vmm& vmm, const std::string& phase) {
    std::vector<double> pps;
    std::vector<double> mbps;
    std::vector<double> cpu;
    std::vector<double> lost;
    std::vector<double> kicks;
    for (const auto& r : vmm.runs) {
        const auto it = r.phases.find(phase);
        if (it == r.phases.end() || it->second.seconds <= 0 || it->second.frames == 0) continue;
        const auto& p = it->second;
        pps.push_back(static_cast<double>(p.frames) / p.seconds);
        mbps.push_back(static_cast<double>(p.bytes) / p.seconds / 1e6);
        cpu.push_back(p.vmm_cpu_s * 1e6 / static_cast<double>(p.frames));
        kicks.push_back(static_cast<double>(p.kicks) * 1000 / static_cast<double>(p.frames));
        if (p.injected > 0)
            lost.push_back(1.0 - static_cast<double>(p.frames) /
                                     static_cast<double>(std::max(p.injected, p.frames)));
    }
    return {median(pps), median(mbps), median(cpu), median(lost), median(kicks)};
}

int usage() {
    fmt::print(stderr,
               "usage: net_bench --ember PATH --kernel virtio_net.elf [--qemu PATH]\n"
               "                 [--frames N] [--sizes 64,1500] [--rounds N] [--vmms ember,qemu]\n"
               "                 [--rx prefill|live] [--ember-arg ARG]... [--verbose 1]\n"
               "(--frames: at most 500000 with --rx prefill)\n");
    return 2;
}

struct Options {
    std::string ember;
    std::string kernel;
    std::string qemu = "/usr/bin/qemu-system-x86_64";
    uint64_t frames = 200000;
    std::string sizes = "64,1500";
    int rounds = 3;
    std::string vmms = "ember,qemu";
    bool prefill = true;
    std::vector<std::string> ember_args;
    bool verbose = false;
};

std::optional<Options> parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const std::string value = argv[i + 1];
        if (flag == "--ember")
            o.ember = value;
        else if (flag == "--kernel")
            o.kernel = value;
        else if (flag == "--qemu")
            o.qemu = value;
        else if (flag == "--frames")
            o.frames = std::strtoull(value.c_str(), nullptr, 10);
        else if (flag == "--sizes")
            o.sizes = value;
        else if (flag == "--rounds")
            o.rounds = std::atoi(value.c_str());
        else if (flag == "--vmms")
            o.vmms = value;
        else if (flag == "--ember-arg")
            o.ember_args.push_back(value);
        else if (flag == "--verbose")
            o.verbose = value != "0";
        else if (flag == "--rx" && (value == "prefill" || value == "live"))
            o.prefill = value == "prefill";
        else
            return std::nullopt;
    }
    // The tap's queue (a ptr_ring) holds at most 512 Ki entries: prefilled phases need all.
    if (argc % 2 == 0 || o.ember.empty() || o.kernel.empty() || o.rounds < 1 || o.frames == 0 ||
        (o.prefill && o.frames > kMaxPrefill))
        return std::nullopt;
    for (const auto& s : split(o.sizes, ',')) {
        const unsigned long size = std::strtoul(s.c_str(), nullptr, 10);
        if (size < 16 || size > kMaxFrame) return std::nullopt;
    }
    return o;
}

// ember, and QEMU microvm without ACPI (so that it appends "virtio_mmio.device=…" to the command
// line itself), virtio 1.x mmio, QEMU's user-space virtio-net on the same tap.
std::optional<Vmm> make_vmm(const std::string& name, const Options& o, const std::string& cmdline) {
    if (name == "ember") {
        Vmm v{name,
              {o.ember, "--kernel", o.kernel, "--cmdline", cmdline, "--net",
               fmt::format("tap={},id=eth0,mac={},mtu=1500", kTap, kGuestMac)},
              0,
              {}};
        v.argv.insert(v.argv.end(), o.ember_args.begin(), o.ember_args.end());
        return v;
    }
    if (name != "qemu") return std::nullopt;
    // isa-debug-exit turns the guest's status 0 into QEMU exit status (0 << 1) | 1.
    return Vmm{name,
               {o.qemu,
                "-M",
                "microvm,x-option-roms=off,pit=off,pic=off,rtc=off,acpi=off",
                "-accel",
                "kvm",
                "-m",
                "128M",
                "-nodefaults",
                "-no-user-config",
                "-nographic",
                "-serial",
                "stdio",
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=4",
                "-global",
                "virtio-mmio.force-legacy=false",
                "-kernel",
                o.kernel,
                "-append",
                cmdline,
                "-netdev",
                fmt::format("tap,id=n0,ifname={},script=no,downscript=no,vhost=off", kTap),
                "-device",
                fmt::format("virtio-net-device,netdev=n0,mac={}", kGuestMac)},
               1,
               {}};
}

void print_table(const std::vector<Vmm>& vmms, const std::vector<std::string>& phases) {
    fmt::print("{:<8} {:<6} {:>10} {:>9} {:>16} {:>12} {:>8}\n", "phase", "VMM", "pps", "MB/s",
               "VMM CPU us/frame", "kicks/kframe", "rx lost");
    for (const auto& phase : phases)
        for (const auto& v : vmms) {
            const Figures f = figures(v, phase);
            fmt::print("{:<8} {:<6} {:>10.0f} {:>9.1f} {:>16.2f} {:>12.1f} {:>8}\n", phase, v.name,
                       f.pps, f.mbps, f.cpu_us_per_frame, f.kicks_per_kframe,
                       phase[0] == 'r' ? fmt::format("{:.1f}%", f.lost * 100) : "");
        }
}

void print_ratios(const std::vector<Vmm>& vmms, const std::vector<std::string>& phases) {
    const auto find = [&](const char* name) -> const Vmm* {
        for (const auto& v : vmms)
            if (v.name == name && !v.runs.empty()) return &v;
        return nullptr;
    };
    const Vmm* e = find("ember");
    const Vmm* q = find("qemu");
    if (e == nullptr || q == nullptr) return;
    fmt::print("\nratio ember / QEMU (pps; CPU per frame: QEMU / ember; higher is better for "
               "ember; target pps >= 1.0x)\n");
    for (const auto& phase : phases) {
        const Figures fe = figures(*e, phase);
        const Figures fq = figures(*q, phase);
        const double ratio = fq.pps > 0 ? fe.pps / fq.pps : 0;
        fmt::print("{:<8} pps {:.2f}x  CPU/frame {:.2f}x  target: {}\n", phase, ratio,
                   fe.cpu_us_per_frame > 0 ? fq.cpu_us_per_frame / fe.cpu_us_per_frame : 0,
                   ratio >= 1.0 ? "met" : "MISSED");
    }
}

std::optional<std::string> why_skip(const Options& o) {
    if (::access("/dev/kvm", R_OK | W_OK) != 0)
        return fmt::format("/dev/kvm is not usable here ({})", std::strerror(errno));
    if (o.vmms.find("qemu") != std::string::npos && ::access(o.qemu.c_str(), X_OK) != 0)
        return fmt::format("{} is missing (the peer to compare with)", o.qemu);
    if (::geteuid() != 0) return "needs root (a network namespace and a tap)";
    if (::access("/dev/net/tun", R_OK | W_OK) != 0) return "/dev/net/tun is missing";
    return std::nullopt;
}

} // namespace

int main(int argc, char** argv) {
    const auto opts = parse(argc, argv);
    if (!opts) return usage();
    const Options& o = *opts;
    if (const auto why = why_skip(o)) {
        fmt::print("net_bench: skipped: {}\n", *why);
        return kSkipped;
    }
    if (const std::string why = make_network(o.prefill ? o.frames + 1024 : 0); !why.empty()) {
        fmt::print("net_bench: skipped: cannot make the test network: {}\n", why);
        return kSkipped;
    }
    const std::string cmdline = fmt::format("net=bench frames={} sizes={}", o.frames, o.sizes);
    std::vector<Vmm> vmms;
    for (const auto& name : split(o.vmms, ',')) {
        auto v = make_vmm(name, o, cmdline);
        if (!v) {
            fmt::print(stderr, "net_bench: unknown VMM '{}' (ember, qemu)\n", name);
            remove_tap();
            return usage();
        }
        vmms.push_back(std::move(*v));
    }

    int failures = 0;
    {
        Injector injector(o.frames);
        if (!injector.ok()) {
            fmt::print(stderr, "net_bench: no AF_PACKET socket on {}: {}\n", kTap,
                       std::strerror(errno));
            remove_tap();
            return 1;
        }
        for (int r = 0; r < o.rounds; ++r) {
            for (auto& v : vmms) { // alternate, so drift on the host hits both alike
                RunResult result = run_once(v, o.prefill, injector);
                if (o.verbose) fmt::print("--- {} round {}:\n{}", v.name, r, result.output);
                if (!result.ok) {
                    fmt::print(stderr, "net_bench: {} round {}: {}\n", v.name, r, result.error);
                    ++failures;
                    continue;
                }
                v.runs.push_back(std::move(result));
            }
        }
    }
    remove_tap();

    std::vector<std::string> phases;
    for (const auto& v : vmms)
        if (!v.runs.empty()) {
            phases = v.runs.front().order;
            break;
        }
    std::array<double, 3> load{};
    (void)::getloadavg(load.data(), 3);
    fmt::print("net benchmark: {} frames per phase, sizes {} (Ethernet header included), rx {}, "
               "{} rounds alternating; medians; load average {:.2f} {:.2f} {:.2f}\n",
               o.frames, o.sizes, o.prefill ? "prefilled" : "live", o.rounds, load[0], load[1],
               load[2]);
    print_table(vmms, phases);
    print_ratios(vmms, phases);
    for (const auto& v : vmms)
        if (v.runs.size() != static_cast<size_t>(o.rounds)) ++failures;
    return failures == 0 ? 0 : 1;
}
