#include "jail/seccomp_filter.hpp"

#include "jail/seccomp_violation.hpp"
#include "vmm/sys/unique_fd.hpp"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <memory>

namespace ember::jail {
namespace {

struct ContextDeleter {
    void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

constexpr size_t kMaxArgs = 6;

scmp_compare to_scmp(CmpOp op) {
    switch (op) {
    case CmpOp::kEq:
        return SCMP_CMP_EQ;
    case CmpOp::kNe:
        return SCMP_CMP_NE;
    case CmpOp::kLt:
        return SCMP_CMP_LT;
    case CmpOp::kLe:
        return SCMP_CMP_LE;
    case CmpOp::kGt:
        return SCMP_CMP_GT;
    case CmpOp::kGe:
        return SCMP_CMP_GE;
    case CmpOp::kMaskedEq:
        return SCMP_CMP_MASKED_EQ;
    }
    return SCMP_CMP_EQ;
}

Result<void> add_rule(void* ctx, ThreadKind kind, const SyscallRule& rule) {
    const int nr = seccomp_syscall_resolve_name(rule.name.c_str());
    if (nr == __NR_SCMP_ERROR)
        return make_error(Errc::kInvalidInput,
                          "seccomp: the {} filter allows '{}', which is not a system call "
                          "libseccomp knows on this architecture",
                          thread_kind_name(kind), rule.name);
    if (rule.args.size() > kMaxArgs)
        return make_error(Errc::kInvalidInput, "seccomp: {} filter, '{}': more than {} checks",
                          thread_kind_name(kind), rule.name, kMaxArgs);
    std::vector<scmp_arg_cmp> checks;
    for (const ArgCheck& a : rule.args) {
        if (a.index >= kMaxArgs)
            return make_error(Errc::kInvalidInput,
                              "seccomp: {} filter, '{}': argument index {} (use 0 to 5)",
                              thread_kind_name(kind), rule.name, a.index);
        const bool masked = a.op == CmpOp::kMaskedEq;
        checks.push_back(
            scmp_arg_cmp{a.index, to_scmp(a.op), masked ? a.mask : a.value, masked ? a.value : 0});
    }
    const int r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr,
                                         static_cast<unsigned>(checks.size()), checks.data());
    if (r < 0) {
        errno = -r;
        return sys_error(Errc::kInvalidInput, "seccomp: {} filter: cannot add the rule for '{}'",
                         thread_kind_name(kind), rule.name);
    }
    return {};
}

// libseccomp 2.5 exports BPF only to an fd: a memfd, read back whole.
Result<std::vector<sock_filter>> export_program(void* ctx) {
    UniqueFd fd(::memfd_create("ember-seccomp", MFD_CLOEXEC));
    if (!fd) return sys_error(Errc::kOsError, "seccomp: memfd_create");
    if (const int r = seccomp_export_bpf(ctx, fd.get()); r < 0) {
        errno = -r;
        return sys_error(Errc::kOsError, "seccomp: cannot export the filter");
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return sys_error(Errc::kOsError, "seccomp: fstat");
    const auto bytes = static_cast<size_t>(st.st_size);
    if (bytes == 0 || bytes % sizeof(sock_filter) != 0)
        return make_error(Errc::kInternal, "seccomp: exported a {}-byte program", bytes);
    std::vector<sock_filter> program(bytes / sizeof(sock_filter));
    if (::pread(fd.get(), program.data(), bytes, 0) != static_cast<ssize_t>(bytes))
        return sys_error(Errc::kOsError, "seccomp: reading the exported filter");
    return program;
}

} // namespace

Result<SeccompFilter> SeccompFilter::compile(ThreadKind kind, const Allowlist& rules) {
    Context ctx(seccomp_init(SCMP_ACT_TRAP));
    if (!ctx) return make_error(Errc::kOsError, "seccomp: seccomp_init failed");
    // A system call of another ABI (int 0x80, x32) has numbers the handler would misname: end
    // the process at once rather than one thread (a vCPU that vanishes would hang the VM).
    if (seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0)
        return make_error(Errc::kOsError, "seccomp: cannot set the action for foreign ABIs");
    // The violation handler reports on stderr and exits, whatever the list says.
    const SyscallRule handler_needs[] = {
        {"write", "the violation handler reports", {arg_eq(0, STDERR_FILENO)}},
        {"exit_group", "the violation handler exits", {}},
    };
    for (const SyscallRule& rule : handler_needs)
        EMBER_TRY_VOID(add_rule(ctx.get(), kind, rule));
    for (const SyscallRule& rule : rules)
        EMBER_TRY_VOID(add_rule(ctx.get(), kind, rule));
    auto program = export_program(ctx.get());
    if (!program) return tl::unexpected(std::move(program.error()));
    if (program->size() > BPF_MAXINSNS)
        return make_error(Errc::kInvalidInput,
                          "seccomp: the {} filter compiles to {} instructions; the kernel takes "
                          "at most {}: allow fewer argument values",
                          thread_kind_name(kind), program->size(), BPF_MAXINSNS);
    return SeccompFilter(kind, std::move(*program));
}

Result<void> SeccompFilter::apply() const {
    EMBER_TRY_VOID(install_violation_handler());
    set_thread_kind(kind_);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return sys_error(Errc::kOsError, "seccomp: prctl(PR_SET_NO_NEW_PRIVS)");
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program_.size());
    // Safety: the kernel only reads the program; it copies it before seccomp() returns.
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast)
    prog.filter = const_cast<sock_filter*>(program_.data());
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        return sys_error(Errc::kOsError, "seccomp: cannot install the {} thread's filter",
                         thread_kind_name(kind_));
    return {};
}

} // namespace ember::jail
