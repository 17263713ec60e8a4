// Os: the kernel interfaces ember-jailer uses, one virtual call per operation, so that unit
// tests drive the jailer's steps (their order, and the cleanup after a failure) with a fake
// that records calls, without root. RealOs (real_os.hpp) is the one used in production.
#pragma once

#include "vmm/sys/result.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ember::jailer {

class Rollback;

enum class FileKind { kMissing, kRegular, kDirectory, kCharDevice, kOther };

struct FileInfo {
    FileKind kind = FileKind::kMissing;
    dev_t rdev = 0; // for kCharDevice
};

class Os {
public:
    Os() = default;
    virtual ~Os() = default;
    Os(const Os&) = delete;
    Os& operator=(const Os&) = delete;
    Os(Os&&) = delete;
    Os& operator=(Os&&) = delete;

    // Process state.
    virtual Result<void> close_fds_from(int first) = 0;
    virtual void clear_env() = 0;
    virtual Result<void> set_rlimit(int resource, uint64_t value) = 0;
    [[nodiscard]] virtual pid_t getpid() = 0;

    // Files. mkdir fails with EEXIST on an existing path (the caller relies on that).
    virtual FileInfo stat(const std::string& path) = 0;
    virtual Result<void> mkdir(const std::string& path, mode_t mode) = 0;
    virtual Result<void> rmdir(const std::string& path) = 0;
    virtual Result<void> remove_tree(const std::string& path) = 0;
    virtual Result<void> link_or_copy(const std::string& from, const std::string& to) = 0;
    virtual Result<void> chown(const std::string& path, uid_t uid, gid_t gid) = 0;
    virtual Result<std::string> read_file(const std::string& path) = 0;
    // Writes `data` in one write(2) to an existing file (cgroup files), or creates it (0644).
    virtual Result<void> write_file(const std::string& path, const std::string& data,
                                    bool create) = 0;
    virtual std::vector<std::string> list_dir(const std::string& path) = 0; // [] if missing
    virtual Result<void> mknod_char(const std::string& path, mode_t mode, dev_t dev) = 0;

    // Namespaces and mounts.
    virtual Result<void> check_netns(const std::string& path) = 0; // exists and is a net ns
    virtual Result<int> open_netns(const std::string& path) = 0;   // kept open (O_CLOEXEC)
    virtual Result<void> join_netns(int fd) = 0;                   // setns + close
    virtual Result<void> unshare(int flags) = 0;
    virtual Result<void> mount(const std::string& source, const std::string& target,
                               unsigned long flags) = 0;
    virtual Result<void> pivot_root(const std::string& new_root, const std::string& put_old) = 0;
    virtual Result<void> umount_detach(const std::string& target) = 0;
    virtual Result<void> chdir(const std::string& path) = 0;

    // Processes. fork returns 0 in the child, the child's pid in the parent. The two stay
    // linked until both call sync_with_fork_peer: the child blocks there until the parent has
    // called it (or died), so the parent can finish its part (the pid file) first.
    virtual Result<pid_t> fork() = 0;
    virtual void sync_with_fork_peer() = 0;
    // Waits for the child, forwarding SIGINT, SIGTERM, SIGHUP and SIGQUIT to it meanwhile;
    // returns its exit status (128 + signal when a signal killed it).
    virtual Result<int> wait_exit_status(pid_t pid) = 0;
    virtual Result<void> setsid() = 0;
    virtual Result<void> stdio_to_devnull() = 0;
    // setgroups({}), setresgid, setresuid, no_new_privs; checks that no capability is left
    // when uid is not 0.
    virtual Result<void> drop_privileges(uid_t uid, gid_t gid) = 0;
    // Only returns on failure.
    virtual Error exec(const std::string& path, const std::vector<std::string>& argv) = 0;

    // The cleanup watcher: a process forked while the jailer still sees the host's files. If the
    // jailer fails later (inside the jail, where the jail dir and cgroups are out of reach), it
    // calls cleanup_via_watcher, and the watcher runs `rollback` and reports back; a successful
    // exec closes the channel and the watcher exits without touching anything.
    virtual Result<void> start_watcher(const Rollback& rollback) = 0;
    virtual void cleanup_via_watcher() = 0;
    // Closes this process's end of the watcher channel without asking for a cleanup (the parent
    // of a --new-pid-ns child, which leaves the cleanup to the child).
    virtual void release_watcher() = 0;
};

} // namespace ember::jailer
