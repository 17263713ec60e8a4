// FakeOs: an Os that records every call as one line ("mkdir /srv/jailer/ember") and answers
// from a small in-memory file table, so tests check the jailer's step order and its cleanup
// without root. `fail_on` makes the first call whose line starts with it fail.
#pragma once

#include "jail/jailer/os.hpp"
#include "jail/jailer/rollback.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <string>
#include <vector>

namespace ember::jailer::test {

class FakeOs final : public Os {
public:
    std::vector<std::string> calls;
    std::map<std::string, FileInfo> files; // what stat() reports; mkdir adds directories
    std::map<std::string, std::string> contents;
    std::string fail_on;
    pid_t fork_result = 0;                    // 0: we are the child
    std::vector<std::string> watcher_cleanup; // the calls the watcher's rollback made

    Result<void> close_fds_from(int first) override {
        return record(fmt::format("close_fds {}", first));
    }
    void clear_env() override { (void)record("clear_env"); }
    Result<void> set_rlimit(int r, uint64_t v) override {
        return record(fmt::format("rlimit {} {}", r, v));
    }
    pid_t getpid() override { return 4242; }

    FileInfo stat(const std::string& path) override {
        const auto it = files.find(path);
        return it == files.end() ? FileInfo{} : it->second;
    }
    Result<void> mkdir(const std::string& p, mode_t) override {
        EMBER_TRY_VOID(record("mkdir " + p));
        files[p] = {FileKind::kDirectory, 0};
        return {};
    }
    Result<void> rmdir(const std::string& p) override { return record("rmdir " + p); }
    Result<void> remove_tree(const std::string& p) override { return record("remove_tree " + p); }
    Result<void> link_or_copy(const std::string& f, const std::string& t) override {
        return record("link_or_copy " + f + " " + t);
    }
    Result<void> chown(const std::string& p, uid_t u, gid_t g) override {
        return record(fmt::format("chown {} {}:{}", p, u, g));
    }
    Result<std::string> read_file(const std::string& p) override {
        EMBER_TRY_VOID(record("read " + p));
        return contents[p];
    }
    Result<void> write_file(const std::string& p, const std::string& d, bool create) override {
        return record(fmt::format("write {} {}{}", p, d, create ? " (create)" : ""));
    }
    std::vector<std::string> list_dir(const std::string&) override { return {}; }
    Result<void> mknod_char(const std::string& p, mode_t m, dev_t) override {
        return record(fmt::format("mknod {} {:o}", p, m));
    }
    Result<void> check_netns(const std::string& p) override { return record("check_netns " + p); }
    Result<int> open_netns(const std::string& p) override {
        EMBER_TRY_VOID(record("open_netns " + p));
        return 7;
    }
    Result<void> join_netns(int fd) override { return record(fmt::format("join_netns {}", fd)); }
    Result<void> unshare(int flags) override { return record(fmt::format("unshare {:#x}", flags)); }
    Result<void> mount(const std::string& s, const std::string& t, unsigned long f) override {
        return record(fmt::format("mount '{}' {} {:#x}", s, t, f));
    }
    Result<void> pivot_root(const std::string& n, const std::string& o) override {
        return record("pivot_root " + n + " " + o);
    }
    Result<void> umount_detach(const std::string& t) override { return record("umount " + t); }
    Result<void> chdir(const std::string& p) override { return record("chdir " + p); }
    Result<pid_t> fork() override {
        EMBER_TRY_VOID(record("fork"));
        return fork_result;
    }
    void sync_with_fork_peer() override { calls.push_back("sync_with_fork_peer"); }
    Result<int> wait_exit_status(pid_t pid) override {
        EMBER_TRY_VOID(record(fmt::format("wait {}", pid)));
        return 7;
    }
    Result<void> setsid() override { return record("setsid"); }
    Result<void> stdio_to_devnull() override { return record("stdio_to_devnull"); }
    Result<void> drop_privileges(uid_t u, gid_t g) override {
        return record(fmt::format("drop_privileges {}:{}", u, g));
    }
    Error exec(const std::string& path, const std::vector<std::string>& argv) override {
        std::string line = "exec " + path + " [" + fmt::format("{}", fmt::join(argv, " ")) + "]";
        calls.push_back(line);
        return Error(Errc::kOsError, "fake exec");
    }
    Result<void> start_watcher(const Rollback& r) override {
        EMBER_TRY_VOID(record("start_watcher"));
        watched_ = r;
        return {};
    }
    void cleanup_via_watcher() override {
        calls.push_back("cleanup_via_watcher");
        // What the watcher process would do, recorded apart from the jailer's own calls.
        FakeOs watcher;
        watcher.contents = contents;
        watched_.run(watcher);
        watcher_cleanup = watcher.calls;
    }
    void release_watcher() override { calls.push_back("release_watcher"); }

    // The index of the first call from `from` on that starts with `prefix`, or -1.
    [[nodiscard]] int index_of(const std::string& prefix, size_t from = 0) const {
        for (size_t i = from; i < calls.size(); ++i)
            if (calls[i].starts_with(prefix)) return static_cast<int>(i);
        return -1;
    }

private:
    Result<void> record(std::string line) {
        const bool fail = !fail_on.empty() && line.starts_with(fail_on);
        calls.push_back(std::move(line));
        if (fail) {
            fail_on.clear();
            return make_error(Errc::kOsError, "injected failure");
        }
        return {};
    }

    Rollback watched_;
};

} // namespace ember::jailer::test
