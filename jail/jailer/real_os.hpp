// RealOs: Os on the real kernel (system calls; no caching, no policy).
#pragma once

#include "jail/jailer/os.hpp"

namespace ember::jailer {

class RealOs final : public Os {
public:
    RealOs() = default;
    ~RealOs() override;
    RealOs(const RealOs&) = delete;
    RealOs& operator=(const RealOs&) = delete;

    Result<void> close_fds_from(int first) override;
    void clear_env() override;
    Result<void> set_rlimit(int resource, uint64_t value) override;
    pid_t getpid() override;

    FileInfo stat(const std::string& path) override;
    Result<void> mkdir(const std::string& path, mode_t mode) override;
    Result<void> rmdir(const std::string& path) override;
    Result<void> remove_tree(const std::string& path) override;
    Result<void> link_or_copy(const std::string& from, const std::string& to) override;
    Result<void> chown(const std::string& path, uid_t uid, gid_t gid) override;
    Result<std::string> read_file(const std::string& path) override;
    Result<void> write_file(const std::string& path, const std::string& data, bool create) override;
    std::vector<std::string> list_dir(const std::string& path) override;
    Result<void> mknod_char(const std::string& path, mode_t mode, dev_t dev) override;

    Result<void> check_netns(const std::string& path) override;
    Result<int> open_netns(const std::string& path) override;
    Result<void> join_netns(int fd) override;
    Result<void> unshare(int flags) override;
    Result<void> mount(const std::string& source, const std::string& target,
                       unsigned long flags) override;
    Result<void> pivot_root(const std::string& new_root, const std::string& put_old) override;
    Result<void> umount_detach(const std::string& target) override;
    Result<void> chdir(const std::string& path) override;

    Result<pid_t> fork() override;
    void sync_with_fork_peer() override;
    Result<int> wait_exit_status(pid_t pid) override;
    Result<void> setsid() override;
    Result<void> stdio_to_devnull() override;
    Result<void> drop_privileges(uid_t uid, gid_t gid) override;
    Error exec(const std::string& path, const std::vector<std::string>& argv) override;

    Result<void> start_watcher(const Rollback& rollback) override;
    void cleanup_via_watcher() override;
    void release_watcher() override;

private:
    int to_watcher_ = -1;   // write end: 'F' asks for the cleanup; closed by exec (CLOEXEC)
    int from_watcher_ = -1; // read end: the watcher writes 'D' when the cleanup is done
    int fork_peer_ = -1;    // after fork: the parent's write end / the child's read end
    bool forked_parent_ = false;
};

} // namespace ember::jailer
