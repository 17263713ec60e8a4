// RealOs, files and process state. Namespaces, processes and the watcher: real_os_process.cpp.
#include "jail/jailer/real_os.hpp"

#include "vmm/sys/unique_fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

namespace ember::jailer {
namespace {

// Copies a file's bytes and permission bits (the fallback when a hard link cannot cross file
// systems or is refused).
Result<void> copy_file(const std::string& from, const std::string& to) {
    const UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return sys_error(Errc::kOsError, "open '{}'", from);
    struct stat st {};
    if (::fstat(in.get(), &st) != 0) return sys_error(Errc::kOsError, "stat '{}'", from);
    const UniqueFd out(
        ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777));
    if (!out) return sys_error(Errc::kOsError, "create '{}'", to);
    off_t offset = 0;
    while (offset < st.st_size) {
        const ssize_t n =
            ::sendfile(out.get(), in.get(), &offset, static_cast<size_t>(st.st_size - offset));
        if (n <= 0) return sys_error(Errc::kOsError, "copy '{}' to '{}'", from, to);
    }
    if (::fchmod(out.get(), st.st_mode & 07777) != 0)
        return sys_error(Errc::kOsError, "chmod '{}'", to);
    return {};
}

} // namespace

RealOs::~RealOs() {
    release_watcher();
}

Result<void> RealOs::close_fds_from(int first) {
    if (::close_range(static_cast<unsigned>(first), ~0U, 0) != 0)
        return sys_error(Errc::kOsError, "close_range({}, ~0)", first);
    return {};
}

void RealOs::clear_env() {
    (void)::clearenv();
}

Result<void> RealOs::set_rlimit(int resource, uint64_t value) {
    const rlimit limit{value, value};
    if (::setrlimit(static_cast<__rlimit_resource>(resource), &limit) != 0)
        return sys_error(Errc::kOsError, "setrlimit({}, {})", resource, value);
    return {};
}

pid_t RealOs::getpid() {
    return ::getpid();
}

FileInfo RealOs::stat(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    if (S_ISREG(st.st_mode)) return {FileKind::kRegular, 0};
    if (S_ISDIR(st.st_mode)) return {FileKind::kDirectory, 0};
    if (S_ISCHR(st.st_mode)) return {FileKind::kCharDevice, st.st_rdev};
    return {FileKind::kOther, 0};
}

Result<void> RealOs::mkdir(const std::string& path, mode_t mode) {
    if (::mkdir(path.c_str(), mode) != 0) return sys_error(Errc::kOsError, "mkdir '{}'", path);
    return {};
}

Result<void> RealOs::rmdir(const std::string& path) {
    if (::rmdir(path.c_str()) != 0) return sys_error(Errc::kOsError, "rmdir '{}'", path);
    return {};
}

Result<void> RealOs::remove_tree(const std::string& path) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec)
        return tl::unexpected(
            Error(Errc::kOsError, fmt::format("remove '{}': {}", path, ec.message())));
    return {};
}

Result<void> RealOs::link_or_copy(const std::string& from, const std::string& to) {
    if (::link(from.c_str(), to.c_str()) == 0) return {};
    return copy_file(from, to);
}

Result<void> RealOs::chown(const std::string& path, uid_t uid, gid_t gid) {
    if (::chown(path.c_str(), uid, gid) != 0)
        return sys_error(Errc::kOsError, "chown '{}' to {}:{}", path, uid, gid);
    return {};
}

Result<std::string> RealOs::read_file(const std::string& path) {
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return sys_error(Errc::kOsError, "open '{}'", path);
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error(Errc::kOsError, "read '{}'", path);
        if (n == 0) return text;
        text.append(buf, static_cast<size_t>(n));
    }
}

Result<void> RealOs::write_file(const std::string& path, const std::string& data, bool create) {
    const int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
    const UniqueFd fd(::open(path.c_str(), flags, 0644));
    if (!fd) return sys_error(Errc::kOsError, "open '{}'", path);
    // One write: a cgroup file takes a value per write(2).
    if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size()))
        return sys_error(Errc::kOsError, "write '{}' to '{}'", data, path);
    return {};
}

std::vector<std::string> RealOs::list_dir(const std::string& path) {
    std::vector<std::string> names;
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return names;
    while (const dirent* e = ::readdir(dir)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
    return names;
}

Result<void> RealOs::mknod_char(const std::string& path, mode_t mode, dev_t dev) {
    if (::mknod(path.c_str(), S_IFCHR | mode, dev) != 0)
        return sys_error(Errc::kOsError, "mknod '{}' (char {}:{})", path, major(dev), minor(dev));
    // The umask must not narrow the mode we chose.
    if (::chmod(path.c_str(), mode) != 0) return sys_error(Errc::kOsError, "chmod '{}'", path);
    return {};
}

} // namespace ember::jailer
