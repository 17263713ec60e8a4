// RealOs: namespaces, mounts, processes, privileges and the cleanup watcher.
#include "jail/jailer/real_os.hpp"

#include "jail/jailer/rollback.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace ember::jailer {
namespace {

ssize_t retry_read(int fd, char* c) {
    ssize_t n = 0;
    do {
        n = ::read(fd, c, 1);
    } while (n < 0 && errno == EINTR);
    return n;
}

Result<UniqueFd> open_net_namespace(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return sys_error(Errc::kNotFound, "cannot open the network namespace");
    if (::ioctl(fd.get(), NS_GET_NSTYPE) != CLONE_NEWNET)
        return make_error(Errc::kInvalidArgument, "not a network namespace");
    return fd;
}

// The effective and permitted sets, both halves (capabilities 0..63).
Result<bool> has_any_capability() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) return sys_error(Errc::kOsError, "capget");
    return (data[0].effective | data[1].effective | data[0].permitted | data[1].permitted) != 0;
}

} // namespace

Result<void> RealOs::check_netns(const std::string& path) {
    auto fd = open_net_namespace(path);
    if (!fd) return tl::unexpected(std::move(fd.error()));
    return {};
}

Result<int> RealOs::open_netns(const std::string& path) {
    auto fd = open_net_namespace(path);
    if (!fd) return tl::unexpected(std::move(fd.error()));
    return fd->release();
}

Result<void> RealOs::join_netns(int fd) {
    const UniqueFd owned(fd);
    if (::setns(owned.get(), CLONE_NEWNET) != 0) return sys_error(Errc::kOsError, "setns(netns)");
    return {};
}

Result<void> RealOs::unshare(int flags) {
    if (::unshare(flags) != 0) return sys_error(Errc::kOsError, "unshare({:#x})", flags);
    return {};
}

Result<void> RealOs::mount(const std::string& source, const std::string& target,
                           unsigned long flags) {
    if (::mount(source.empty() ? nullptr : source.c_str(), target.c_str(), nullptr, flags,
                nullptr) != 0)
        return sys_error(Errc::kOsError, "mount '{}' on '{}' (flags {:#x})", source, target, flags);
    return {};
}

Result<void> RealOs::pivot_root(const std::string& new_root, const std::string& put_old) {
    if (::syscall(SYS_pivot_root, new_root.c_str(), put_old.c_str()) != 0)
        return sys_error(Errc::kOsError, "pivot_root('{}', '{}')", new_root, put_old);
    return {};
}

Result<void> RealOs::umount_detach(const std::string& target) {
    if (::umount2(target.c_str(), MNT_DETACH) != 0)
        return sys_error(Errc::kOsError, "umount '{}'", target);
    return {};
}

Result<void> RealOs::chdir(const std::string& path) {
    if (::chdir(path.c_str()) != 0) return sys_error(Errc::kOsError, "chdir '{}'", path);
    return {};
}

Result<pid_t> RealOs::fork() {
    int link[2];
    if (::pipe2(link, O_CLOEXEC) != 0) return sys_error(Errc::kOsError, "pipe2");
    const pid_t pid = ::fork();
    if (pid < 0) return sys_error(Errc::kOsError, "fork");
    forked_parent_ = pid != 0;
    ::close(forked_parent_ ? link[0] : link[1]);
    fork_peer_ = forked_parent_ ? link[1] : link[0];
    return pid;
}

void RealOs::sync_with_fork_peer() {
    if (fork_peer_ < 0) return;
    char c = 0;
    if (!forked_parent_) (void)retry_read(fork_peer_, &c); // EOF: the parent is done
    ::close(fork_peer_);
    fork_peer_ = -1;
}

Result<int> RealOs::wait_exit_status(pid_t pid) {
    // Blocked first, so that neither a SIGCHLD nor a SIGTERM can slip in between the checks.
    sigset_t set;
    ::sigemptyset(&set);
    for (const int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT})
        ::sigaddset(&set, sig);
    sigset_t old;
    ::sigprocmask(SIG_BLOCK, &set, &old);
    int status = 0;
    for (;;) {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) {
            ::sigprocmask(SIG_SETMASK, &old, nullptr);
            return sys_error(Errc::kOsError, "waitpid({})", pid);
        }
        const int sig = ::sigwaitinfo(&set, nullptr);
        if (sig > 0 && sig != SIGCHLD) ::kill(pid, sig);
    }
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

Result<void> RealOs::setsid() {
    if (::setsid() < 0)
        return sys_error(Errc::kOsError, "--daemonize: setsid (the jailer must not lead its "
                                         "process group: start it with setsid(1) or from a "
                                         "non-interactive parent)");
    return {};
}

Result<void> RealOs::stdio_to_devnull() {
    const UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!null) return sys_error(Errc::kOsError, "--daemonize: open /dev/null in the jail");
    for (int fd = 0; fd <= 2; ++fd)
        if (::dup2(null.get(), fd) < 0) return sys_error(Errc::kOsError, "dup2 /dev/null");
    return {};
}

Result<void> RealOs::drop_privileges(uid_t uid, gid_t gid) {
    if (::setgroups(0, nullptr) != 0) return sys_error(Errc::kOsError, "setgroups([])");
    if (::setresgid(gid, gid, gid) != 0) return sys_error(Errc::kOsError, "setresgid({})", gid);
    if (::setresuid(uid, uid, uid) != 0) return sys_error(Errc::kOsError, "setresuid({})", uid);
    // No setuid binary or file capability can hand privileges back after exec.
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return sys_error(Errc::kOsError, "prctl(PR_SET_NO_NEW_PRIVS)");
    auto caps = has_any_capability();
    if (!caps) return tl::unexpected(std::move(caps.error()));
    if (uid != 0 && *caps)
        return make_error(Errc::kInternal, "capabilities left after switching to uid {}", uid);
    return {};
}

Error RealOs::exec(const std::string& path, const std::vector<std::string>& argv) {
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    char* const no_env[] = {nullptr};
    ::execve(path.c_str(), args.data(), no_env);
    const int saved = errno;
    return Error(Errc::kOsError, fmt::format("exec '{}' in the jail", path), saved);
}

Result<void> RealOs::start_watcher(const Rollback& rollback) {
    int to[2];
    int from[2];
    if (::pipe2(to, O_CLOEXEC) != 0) return sys_error(Errc::kOsError, "pipe2");
    if (::pipe2(from, O_CLOEXEC) != 0) return sys_error(Errc::kOsError, "pipe2");
    const pid_t middle = ::fork();
    if (middle < 0) return sys_error(Errc::kOsError, "fork (cleanup watcher)");
    if (middle == 0) {
        // Fork twice so that the watcher is nobody's child once ember runs.
        if (::fork() != 0) ::_exit(0);
        ::close(to[1]);
        ::close(from[0]);
        char c = 0;
        if (retry_read(to[0], &c) == 1 && c == 'F') {
            rollback.run(*this);
            [[maybe_unused]] const ssize_t w = ::write(from[1], "D", 1);
        }
        ::_exit(0);
    }
    (void)wait_exit_status(middle);
    ::close(to[0]);
    ::close(from[1]);
    to_watcher_ = to[1];
    from_watcher_ = from[0];
    return {};
}

void RealOs::cleanup_via_watcher() {
    if (to_watcher_ >= 0) {
        [[maybe_unused]] const ssize_t w = ::write(to_watcher_, "F", 1);
        char c = 0;
        (void)retry_read(from_watcher_, &c); // 'D', or EOF if the watcher died
    }
    release_watcher();
}

void RealOs::release_watcher() {
    for (int* fd : {&to_watcher_, &from_watcher_}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
    }
}

} // namespace ember::jailer
