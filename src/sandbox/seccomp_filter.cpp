#include "sandbox/privileges.hpp"
#include "sandbox/steps.hpp"

#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>

#include <cerrno>
#include <memory>

namespace moat::sandbox {

namespace {

constexpr const char* why_kernel = "replaces or extends the running kernel";
constexpr const char* why_mount =
    "changes the mount table; the container's file system view is fixed by moat";
constexpr const char* why_swap_reboot = "host-wide resources (swap, power state, accounting)";
constexpr const char* why_keys = "kernel keyrings are not namespaced and reach the host's keys";
constexpr const char* why_bpf = "loads programs into the kernel";
constexpr const char* why_trace =
    "reads or writes other processes' memory and observes the host (perf)";
constexpr const char* why_handle =
    "opens files by handle, bypassing the mount namespace (the 'shocker' escape)";
constexpr const char* why_ns = "joins or creates namespaces, undoing the container's confinement";
constexpr const char* why_uffd = "stalls the kernel at will; a building block of kernel exploits";
constexpr const char* why_clock = "the clock is not namespaced: setting it changes the host's";
constexpr const char* why_io = "raw I/O port access to the host's hardware";
constexpr const char* why_misc = "host-wide: disk quotas, the kernel log, terminals, profiling";

constexpr blocked_syscall blocked[] = {
    {"kexec_load", why_kernel}, {"kexec_file_load", why_kernel},
    {"init_module", why_kernel}, {"finit_module", why_kernel}, {"delete_module", why_kernel},
    {"mount", why_mount}, {"umount2", why_mount}, {"pivot_root", why_mount},
    {"fsopen", why_mount}, {"fsconfig", why_mount}, {"fsmount", why_mount},
    {"move_mount", why_mount}, {"open_tree", why_mount}, {"fspick", why_mount},
    {"mount_setattr", why_mount},
    {"swapon", why_swap_reboot}, {"swapoff", why_swap_reboot}, {"reboot", why_swap_reboot},
    {"acct", why_swap_reboot},
    {"keyctl", why_keys}, {"add_key", why_keys}, {"request_key", why_keys},
    {"bpf", why_bpf},
    {"ptrace", why_trace}, {"process_vm_readv", why_trace}, {"process_vm_writev", why_trace},
    {"perf_event_open", why_trace},
    {"open_by_handle_at", why_handle}, {"name_to_handle_at", why_handle},
    {"setns", why_ns}, {"unshare", why_ns},
    {"userfaultfd", why_uffd},
    {"settimeofday", why_clock}, {"clock_settime", why_clock}, {"clock_adjtime", why_clock},
    {"adjtimex", why_clock},
    {"iopl", why_io}, {"ioperm", why_io},
    {"quotactl", why_misc}, {"syslog", why_misc}, {"vhangup", why_misc},
    {"lookup_dcookie", why_misc},
    // Not in the brief's list by name, but the same group as clock_settime
    // on 32-bit-time ABIs; harmless where it does not exist.
    {"stime", why_clock},
};

// CLONE_NEWTIME (0x80) is left out: clone() reads its low byte as the exit
// signal, so that flag can only reach the kernel through clone3/unshare,
// which are blocked as a whole.
constexpr std::uint64_t ns_flags[] = {
    CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
    CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP,
};

struct ctx_deleter {
    void operator()(void* p) const noexcept { seccomp_release(p); }
};
using ctx_ptr = std::unique_ptr<void, ctx_deleter>;

// libseccomp returns -errno.
int add_rules(scmp_filter_ctx ctx) noexcept {
    for (const auto& b : blocked) {
        int nr = seccomp_syscall_resolve_name(b.name);
        if (nr == __NR_SCMP_ERROR) {
            // Newer than this libseccomp. Calls that exist on other
            // architectures only (stime on x86_64) resolve to negative
            // pseudo-numbers, which seccomp_rule_add accepts and drops.
            continue;
        }
        if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0); rc < 0) {
            return -rc;
        }
    }
    // A BPF filter compares values, not "any bit of a mask", so one rule per
    // flag: (flags & F) == F -> EPERM. Argument 0 is the flags word on every
    // architecture moat builds for (s390's swapped order is the exception).
    for (auto flag : ns_flags) {
        int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
        if (rc < 0) {
            return -rc;
        }
    }
    // clone3 takes a pointer to its arguments, which seccomp cannot read;
    // ENOSYS makes glibc (2.34+) retry with clone(), which we can check.
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); rc < 0) {
        return -rc;
    }
    return 0;
}

}  // namespace

std::span<const blocked_syscall> blocked_syscalls() { return blocked; }

std::uint64_t blocked_clone_flags() {
    std::uint64_t mask = 0;
    for (auto f : ns_flags) {
        mask |= f;
    }
    return mask;
}

namespace detail {

int set_no_new_privs() noexcept {
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno;
}

int install_seccomp_filter() noexcept {
    ctx_ptr ctx(seccomp_init(SCMP_ACT_ALLOW));
    if (!ctx) {
        return ENOMEM;
    }
    // Only the native architecture is in the filter, so every other one
    // hits the bad-architecture action: kill the whole process.
    if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0) {
        return -rc;
    }
    if (int rc = add_rules(ctx.get()); rc != 0) {
        return rc;
    }
    int rc = seccomp_load(ctx.get());
    return rc < 0 ? -rc : 0;
}

}  // namespace detail

}  // namespace moat::sandbox
