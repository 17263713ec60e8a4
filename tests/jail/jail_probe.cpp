// jail_probe: the exec file the jailer tests put in a jail instead of ember. It prints what it
// can see from inside, with system calls only (the jail has no /proc):
//   id, pid, sid, uid/gid (real/effective/saved), groups, capabilities, cwd, the root's
//   entries, network interfaces, the environment's size, open fds, RLIMIT_NOFILE, stdin's device.
// Flags (after the jailer's `--id ID`): --wait prints "ready" and waits for stdin's EOF (so the
// test can inspect /proc/<pid> from outside; SIGTERM then prints "sigterm" and exits 143);
// --report FILE writes there instead of stdout.
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

std::string join(std::vector<std::string> items) {
    std::sort(items.begin(), items.end());
    std::string out;
    for (const auto& i : items)
        out += (out.empty() ? "" : " ") + i;
    return out;
}

std::string root_entries() {
    std::vector<std::string> names;
    if (DIR* d = ::opendir("/")) {
        while (const dirent* e = ::readdir(d))
            if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
                names.emplace_back(e->d_name);
        ::closedir(d);
    }
    return join(names);
}

std::string interfaces() {
    std::vector<std::string> names;
    if (struct if_nameindex* list = ::if_nameindex()) {
        for (const struct if_nameindex* i = list; i->if_index != 0; ++i)
            names.emplace_back(i->if_name);
        ::if_freenameindex(list);
    }
    return join(names);
}

std::string report(const std::string& id) {
    uid_t ruid = 0, euid = 0, suid = 0;
    gid_t rgid = 0, egid = 0, sgid = 0;
    ::getresuid(&ruid, &euid, &suid);
    ::getresgid(&rgid, &egid, &sgid);
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct caps[2]{};
    ::syscall(SYS_capget, &header, caps);
    char cwd[256] = "?";
    if (::getcwd(cwd, sizeof cwd) == nullptr) std::strcpy(cwd, "?");
    size_t env = 0;
    while (environ != nullptr && environ[env] != nullptr)
        ++env;
    std::string fds;
    for (int fd = 0; fd < 256; ++fd)
        if (::fcntl(fd, F_GETFD) >= 0) fds += (fds.empty() ? "" : " ") + std::to_string(fd);
    rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    struct stat in {};
    ::fstat(0, &in);
    char text[2048];
    std::snprintf(text, sizeof text,
                  "id: %s\npid: %d\nsid: %d\nuid: %u %u %u\ngid: %u %u %u\ngroups: %d\n"
                  "caps: %x %x %x %x\ncwd: %s\nroot: %s\nifaces: %s\nenv: %zu\nfds: %s\n"
                  "nofile: %llu\nstdin: %u:%u\n",
                  id.c_str(), ::getpid(), ::getsid(0), ruid, euid, suid, rgid, egid, sgid,
                  ::getgroups(0, nullptr), caps[0].effective | caps[1].effective,
                  caps[0].permitted | caps[1].permitted, caps[0].inheritable | caps[1].inheritable,
                  caps[0].effective, cwd, root_entries().c_str(), interfaces().c_str(), env,
                  fds.c_str(), static_cast<unsigned long long>(nofile.rlim_cur), major(in.st_rdev),
                  minor(in.st_rdev));
    return text;
}

void write_all(int fd, const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n <= 0) return;
        done += static_cast<size_t>(n);
    }
}

// As PID 1 of a PID namespace, a signal without a handler is ignored: the handler lets tests
// see a forwarded SIGTERM.
void on_sigterm(int) {
    const char text[] = "sigterm\n";
    [[maybe_unused]] const ssize_t n = ::write(1, text, sizeof text - 1);
    ::_exit(143);
}

} // namespace

int main(int argc, char** argv) {
    std::string id = "none";
    std::string report_file;
    bool wait = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--id" && i + 1 < argc) id = argv[++i];
        if (a == "--report" && i + 1 < argc) report_file = argv[++i];
        if (a == "--wait") wait = true;
    }
    const std::string text = report(id);
    if (report_file.empty()) {
        write_all(1, text);
    } else {
        const int fd = ::open(report_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        write_all(fd, text);
        ::close(fd);
    }
    if (wait) {
        ::signal(SIGTERM, on_sigterm);
        write_all(1, "ready\n");
        char c = 0;
        while (::read(0, &c, 1) > 0) {
        }
    }
    return 0;
}
