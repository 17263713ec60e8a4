// The VMM thread (vmm/vmm.cpp, Vmm::run): the event loop over every device back end, then the
// end of the run in main(): teardown hand-off (a forked child), freeing the VM, the exit.
// Everything the VM needs is opened and mapped before this filter applies.
#include "jail/filters/allowlists.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <csignal>

namespace ember::jail {
namespace {

// What glibc's fork() passes to clone: a process, never a thread.
constexpr uint64_t kForkFlags = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD;

} // namespace

Allowlist vmm_allowlist(const FilterParams& params) {
    Allowlist list = common_rules();
    const auto kick = static_cast<uint64_t>(params.kick_signal);
    const Allowlist own = {
        // The event loop and its sources.
        {"epoll_wait", "the event loop", {}},
        {"epoll_pwait", "the event loop (glibc may use the p variant)", {}},
        {"epoll_ctl", "console input paused and resumed while the guest's FIFO is full", {}},
        {"read", "eventfds, the signalfd, timerfds, console input (stdin)", {}},
        {"timerfd_settime", "rate limiters arm their timer", {}},
        // virtio-blk back ends (virtio/block/disk.cpp, overlay_disk.cpp, io_uring_engine.cpp).
        {"pread64", "sync engine and overlay: reads", {}},
        {"preadv", "sync engine: reads into the guest's buffers", {}},
        {"pwrite64", "sync engine and overlay: writes, zeroes, the overlay's bitmap", {}},
        {"pwritev", "sync engine: writes from the guest's buffers", {}},
        {"fallocate", "discard and write-zeroes (punch hole, zero range)", {}},
        {"fdatasync", "FLUSH with cache=writeback", {}},
        {"io_uring_enter", "io_uring engine: submit requests and wait for completions", {}},
        // virtio-net (virtio/net/net_device.cpp) and virtio-rng (virtio/rng/rng_device.cpp).
        {"writev", "virtio-net: a frame (vnet header + the guest's buffers) to the tap", {}},
        {"getrandom", "virtio-rng: the guest's entropy", {}},
        {"nanosleep", "io_uring engine: retry requests the kernel refused", {}},
        // virtio-vsock (virtio/vsock/vsock_device.cpp, connection.cpp): streams to Unix sockets.
        {"accept4", "virtio-vsock: host processes connecting to uds_path", {}},
        {"socket",
         "virtio-vsock: a guest connection to <uds_path>_<port>",
         {arg_eq(0, AF_UNIX, "AF_UNIX")}},
        {"connect", "virtio-vsock: a guest connection to <uds_path>_<port>", {}},
        {"recvfrom", "virtio-vsock: a stream's host bytes, the CONNECT line (MSG_PEEK)", {}},
        {"sendto", "virtio-vsock: the guest's bytes and the OK line to a host socket", {}},
        {"shutdown", "virtio-vsock: the guest shut its sending side (SHUT_WR)", {}},
        // Stopping the vCPUs.
        {"getpid", "pthread_kill (glibc asks for the pid)", {}},
        {"gettid", "pthread_kill of the calling thread itself (and abort's raise)", {}},
        {"tgkill", "kick a vCPU out of KVM_RUN", {arg_eq(2, kick, "the kick signal")}},
        {"tgkill", "abort() on a failed assertion", {arg_eq(2, SIGABRT, "SIGABRT")}},
        // After the run: the teardown child (vmm/teardown.cpp), freeing everything, the exit.
        {"pipe2", "teardown: the ready and lifeline pipes", {}},
        {"clone", "teardown: fork the child that destroys the VM", {arg_eq(0, kForkFlags, "fork")}},
        {"set_robust_list", "teardown: fork's child registers its robust futex list", {}},
        {"close_range", "teardown: the child closes all but the VM's fds", {}},
        {"close", "the VM's fds, images and eventfds are closed", {}},
        {"poll", "console input: is stdin readable (never waits)", {arg_eq(2, 0, "timeout 0")}},
        // REST API actions served after boot (api/controller.cpp).
        {"openat",
         "PATCH /drives path_on_host: open the new image (never creates a file)",
         {arg_masked_eq(2, O_CREAT, 0, "no O_CREAT")}},
        {"lseek", "PATCH /drives path_on_host: the new image's size", {}},
        {"fcntl",
         "PATCH /drives path_on_host: the new image's access mode",
         {arg_eq(1, F_GETFL, "F_GETFL")}},
        {"fstat", "PATCH /drives path_on_host: what kind of file the new image is", {}},
        {"newfstatat", "fstat of the new image; at exit, is the API socket still ours", {}},
        {"unlink", "at exit: remove the API socket (only ember's own)", {}},
        {"ioctl", "restore the console's terminal mode", {arg_eq(1, TCSETS, "TCSETS")}},
        {"ioctl", "tcsetattr reads the mode back to check it", {arg_eq(1, TCGETS, "TCGETS")}},
    };
    list.insert(list.end(), own.begin(), own.end());
    return list;
}

} // namespace ember::jail
