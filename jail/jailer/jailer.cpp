#include "jail/jailer/jailer.hpp"

#include "jail/jailer/cgroup.hpp"
#include "jail/jailer/devices.hpp"
#include "jail/jailer/rollback.hpp"
#include "vmm/sys/logger.hpp"

#include <sched.h>
#include <sys/mount.h>

namespace ember::jailer {
namespace {

struct Failure {
    JailerExit code;
    Error error;
};
template <class T> using Step = tl::expected<T, Failure>;

// Tags a Result with the exit code of the step it came from.
template <class T> Step<T> tagged(JailerExit code, Result<T>&& r) {
    if (r) {
        if constexpr (std::is_void_v<T>)
            return {};
        else
            return std::move(*r);
    }
    return tl::unexpected(Failure{code, std::move(r.error())});
}

#define EMBER_STEP(code, expr)                                                                     \
    do {                                                                                           \
        if (auto ember_step_r_ = tagged((code), (expr)); !ember_step_r_)                           \
            return tl::unexpected(std::move(ember_step_r_.error()));                               \
    } while (false)

class Jail final {
public:
    Jail(Os& os, const JailerConfig& cfg) : os_(os), cfg_(cfg) {}

    Outcome run() {
        auto done = steps();
        if (done) return {*done, std::nullopt};
        if (watcher_started_) {
            os_.cleanup_via_watcher();
        } else {
            rollback_.run(os_);
        }
        return {to_int(done.error().code), std::move(done.error().error)};
    }

private:
    Step<int> steps() {
        if (auto v = validate(); !v) return tl::unexpected(std::move(v.error()));
        if (auto h = build_on_host(); !h) return tl::unexpected(std::move(h.error()));
        if (auto j = enter_and_equip(); !j) return tl::unexpected(std::move(j.error()));
        if (cfg_.new_pid_ns) {
            auto child = tagged(JailerExit::kSetup, enter_pid_namespace());
            if (!child) return tl::unexpected(std::move(child.error()));
            if (*child != 0) return parent_of_pid_namespace(*child);
            os_.sync_with_fork_peer(); // the parent has written the pid file
        }
        EMBER_STEP(JailerExit::kSetup, os_.drop_privileges(cfg_.uid, cfg_.gid));
        std::vector<std::string> argv{"/" + cfg_.exec_name(), "--id", cfg_.id};
        argv.insert(argv.end(), cfg_.exec_args.begin(), cfg_.exec_args.end());
        return tl::unexpected(Failure{JailerExit::kExec, os_.exec(argv.front(), argv)});
    }

    // Steps 2-8 (docs/jailer.md): everything done while the host's files are still visible.
    Step<void> build_on_host() {
        EMBER_STEP(JailerExit::kSetup, os_.close_fds_from(3));
        os_.clear_env();
        if (auto d = create_jail_dir(); !d) return tl::unexpected(std::move(d.error()));
        EMBER_STEP(JailerExit::kSetup,
                   os_.link_or_copy(cfg_.exec_file, cfg_.jail_root() + "/" + cfg_.exec_name()));
        for (const auto& l : cfg_.limits)
            EMBER_STEP(JailerExit::kSetup,
                       with_context(os_.set_rlimit(l.resource, l.value),
                                    fmt::format("--resource-limit {}={}", l.name, l.value)));
        EMBER_STEP(JailerExit::kCgroup, setup_cgroups(os_, cgroups_, os_.getpid(), rollback_));
        EMBER_STEP(JailerExit::kSetup, prepare_to_enter());
        return {};
    }

    // Steps 9-12: into the jail, its devices, its netns, detached if asked.
    Step<void> enter_and_equip() {
        EMBER_STEP(JailerExit::kSetup, enter_jail());
        EMBER_STEP(JailerExit::kSetup, make_devices(os_, devices_, cfg_.uid, cfg_.gid));
        if (netns_fd_ >= 0) EMBER_STEP(JailerExit::kSetup, os_.join_netns(netns_fd_));
        if (cfg_.daemonize) {
            EMBER_STEP(JailerExit::kSetup, os_.setsid());
            EMBER_STEP(JailerExit::kSetup, os_.stdio_to_devnull());
        }
        return {};
    }

    // Everything that can be checked before the host is touched.
    Step<void> validate() {
        const FileKind exec = os_.stat(cfg_.exec_file).kind;
        if (exec != FileKind::kRegular)
            return fail(JailerExit::kMissingInput,
                        "--exec-file '{}': {}; build ember (cmake --build build --target ember) "
                        "or fix the path",
                        cfg_.exec_file,
                        exec == FileKind::kMissing ? "no such file" : "not a regular file");
        if (os_.stat(jail_dir()).kind != FileKind::kMissing)
            return fail(JailerExit::kJailExists,
                        "jail {} already exists (an earlier jail with this id?): remove it "
                        "(rm -r {}) or pick another --id",
                        jail_dir(), jail_dir());
        if (cfg_.netns)
            EMBER_STEP(JailerExit::kMissingInput,
                       with_context(os_.check_netns(*cfg_.netns),
                                    fmt::format("--netns {}: create it with 'ip netns add NAME' "
                                                "or fix the path",
                                                *cfg_.netns)));
        if (cfg_.uid == 0)
            log::warn("jailer: --uid 0 keeps every capability in the jail; use another uid");
        auto mountinfo = tagged(JailerExit::kCgroup, os_.read_file("/proc/self/mountinfo"));
        auto self = tagged(JailerExit::kCgroup, os_.read_file("/proc/self/cgroup"));
        if (!mountinfo || !self)
            return tl::unexpected(std::move((!mountinfo ? mountinfo : self).error()));
        auto plan = tagged(JailerExit::kCgroup, plan_cgroups(os_, cfg_, *mountinfo, *self));
        if (!plan) return tl::unexpected(std::move(plan.error()));
        cgroups_ = std::move(*plan);
        return {};
    }

    template <class... Args>
    static tl::unexpected<Failure> fail(JailerExit code, fmt::format_string<Args...> f,
                                        Args&&... args) {
        return tl::unexpected(Failure{
            code, Error(Errc::kInvalidArgument, fmt::format(f, std::forward<Args>(args)...))});
    }

    [[nodiscard]] std::string jail_dir() const {
        return fmt::format("{}/{}/{}", cfg_.chroot_base, cfg_.exec_name(), cfg_.id);
    }

    // <base> and <base>/<exec> may be shared with other jails: made if missing, removed on
    // failure only if we made them and they are empty again.
    Step<void> create_jail_dir() {
        for (const auto& dir : {cfg_.chroot_base, cfg_.chroot_base + "/" + cfg_.exec_name()}) {
            if (os_.stat(dir).kind == FileKind::kDirectory) continue;
            EMBER_STEP(JailerExit::kSetup, os_.mkdir(dir, 0755));
            rollback_.rmdir(dir);
        }
        if (auto made = os_.mkdir(jail_dir(), 0755); !made)
            return fail(JailerExit::kJailExists, "jail {}: {}; remove it or pick another --id",
                        jail_dir(), made.error().describe());
        rollback_.remove_tree(jail_dir());
        EMBER_STEP(JailerExit::kSetup, os_.mkdir(cfg_.jail_root(), 0755));
        // ember creates its API socket and files in its root.
        EMBER_STEP(JailerExit::kSetup, os_.chown(cfg_.jail_root(), cfg_.uid, cfg_.gid));
        return {};
    }

    // The last moment the host's /dev, /var/run/netns and the jail's parent dirs are visible.
    Result<void> prepare_to_enter() {
        devices_ = plan_devices(os_, os_.list_dir("/dev/vfio"));
        if (cfg_.netns) {
            auto fd = os_.open_netns(*cfg_.netns);
            if (!fd) return tl::unexpected(std::move(fd.error()));
            netns_fd_ = *fd;
        }
        EMBER_TRY_VOID(os_.start_watcher(rollback_));
        watcher_started_ = true;
        return {};
    }

    // A private mount namespace whose root is the jail: the host's files are unreachable.
    Result<void> enter_jail() {
        const std::string root = cfg_.jail_root();
        EMBER_TRY_VOID(os_.unshare(CLONE_NEWNS));
        // Private: nothing we mount or unmount propagates back to the host.
        EMBER_TRY_VOID(os_.mount("", "/", MS_PRIVATE | MS_REC));
        // pivot_root needs the new root to be a mount point.
        EMBER_TRY_VOID(os_.mount(root, root, MS_BIND | MS_REC));
        EMBER_TRY_VOID(os_.chdir(root));
        EMBER_TRY_VOID(os_.mkdir(root + "/old_root", 0700));
        EMBER_TRY_VOID(os_.pivot_root(".", "old_root"));
        EMBER_TRY_VOID(os_.chdir("/"));
        EMBER_TRY_VOID(os_.umount_detach("/old_root"));
        return os_.rmdir("/old_root");
    }

    Result<pid_t> enter_pid_namespace() {
        EMBER_TRY_VOID(os_.unshare(CLONE_NEWPID));
        return os_.fork(); // the child is PID 1 of the new namespace
    }

    // Like Firecracker, write <exec>.pid in the jail; then either leave (--daemonize) or wait
    // and pass the child's status on, unprivileged.
    Step<int> parent_of_pid_namespace(pid_t child) {
        os_.release_watcher();
        watcher_started_ = false;
        rollback_ = Rollback{}; // the child owns the cleanup now
        // The child runs on either way: a missing pid file is worth a warning, not a dead VM.
        const std::string pid_file = "/" + cfg_.exec_name() + ".pid";
        if (auto w = os_.write_file(pid_file, std::to_string(child), true); !w)
            log::warn("jailer: {}", w.error().describe());
        os_.sync_with_fork_peer(); // lets the child go on to exec
        if (cfg_.daemonize) return 0;
        EMBER_STEP(JailerExit::kSetup, os_.drop_privileges(cfg_.uid, cfg_.gid));
        return tagged(JailerExit::kSetup, os_.wait_exit_status(child));
    }

    Os& os_;
    const JailerConfig& cfg_;
    Rollback rollback_;
    bool watcher_started_ = false;
    std::vector<CgroupTarget> cgroups_;
    std::vector<DeviceNode> devices_;
    int netns_fd_ = -1;
};

} // namespace

Outcome run_jailer(Os& os, const JailerConfig& cfg) {
    return Jail(os, cfg).run();
}

} // namespace ember::jailer
