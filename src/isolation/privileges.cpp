#include "isolation/privileges.hpp"

#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <sys/prctl.h>

namespace moat::isolation {

const std::vector<int>& kept_capabilities() {
    // Docker's default set (moby/oci/caps/defaults.go).
    static const std::vector<int> caps = {
        CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER, CAP_MKNOD,
        CAP_NET_RAW, CAP_SETGID,      CAP_SETUID,           CAP_SETFCAP, CAP_SETPCAP,
        CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,     CAP_AUDIT_WRITE};
    return caps;
}

std::uint64_t kept_capability_mask() {
    std::uint64_t mask = 0;
    for (int c : kept_capabilities()) {
        mask |= std::uint64_t{1} << c;
    }
    return mask;
}

const std::vector<blocked_syscall>& blocked_syscalls() {
    static const std::vector<blocked_syscall> list = {
        {"kexec_load", "replacing the running kernel"},
        {"kexec_file_load", "replacing the running kernel"},
        {"init_module", "loading kernel code"},
        {"finit_module", "loading kernel code"},
        {"delete_module", "unloading kernel code the host relies on"},
        {"mount", "changing the file system view moat built (e.g. remounting / writable)"},
        {"umount2", "uncovering what moat's mounts hide"},
        {"pivot_root", "changing the root moat set"},
        {"fsopen", "new mount API: same as mount"},
        {"fsconfig", "new mount API: same as mount"},
        {"fsmount", "new mount API: same as mount"},
        {"move_mount", "new mount API: same as mount"},
        {"open_tree", "new mount API: cloning mounts"},
        {"fspick", "new mount API: reconfiguring mounts"},
        {"mount_setattr", "making read-only mounts writable"},
        {"swapon", "host memory management"},
        {"swapoff", "host memory management"},
        {"reboot", "the host's power state (and the PID namespace's init)"},
        {"keyctl", "the kernel keyring is not namespaced"},
        {"add_key", "the kernel keyring is not namespaced"},
        {"request_key", "the kernel keyring is not namespaced"},
        {"bpf", "loading programs into the kernel"},
        {"ptrace", "inspecting or steering other processes"},
        {"process_vm_readv", "reading other processes' memory"},
        {"process_vm_writev", "writing other processes' memory"},
        {"perf_event_open", "kernel and cross-process profiling; a frequent exploit vector"},
        {"open_by_handle_at", "escaping bind mounts by file handle (the 'shocker' escape)"},
        {"name_to_handle_at", "preparing open_by_handle_at"},
        {"setns", "joining other namespaces"},
        {"unshare", "creating namespaces (and escaping the network confinement)"},
        {"userfaultfd", "a frequent kernel exploit primitive"},
        {"acct", "host-wide process accounting"},
        {"settimeofday", "the clock is not namespaced"},
        {"clock_settime", "the clock is not namespaced"},
        {"clock_adjtime", "the clock is not namespaced"},
        {"adjtimex", "the clock is not namespaced"},
        {"iopl", "raw I/O port access"},
        {"ioperm", "raw I/O port access"},
        {"quotactl", "host file system quotas"},
        {"syslog", "the kernel log is not namespaced"},
        {"vhangup", "hanging up the host's terminals"},
        {"lookup_dcookie", "kernel profiling internals"},
    };
    return list;
}

namespace {

int drop_capabilities() noexcept {
    std::uint64_t keep = kept_capability_mask();
    for (int c = 0; c <= CAP_LAST_CAP; ++c) {
        if (!(keep & (std::uint64_t{1} << c)) && cap_drop_bound(c) < 0 && errno != EINVAL) {
            return errno;
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
        return errno;
    }
    cap_t caps = cap_init();  // all flags clear
    if (!caps) {
        return errno;
    }
    const auto& kept = kept_capabilities();
    int rc = 0;
    if (cap_set_flag(caps, CAP_EFFECTIVE, static_cast<int>(kept.size()), kept.data(), CAP_SET) < 0 ||
        cap_set_flag(caps, CAP_PERMITTED, static_cast<int>(kept.size()), kept.data(), CAP_SET) < 0 ||
        cap_set_proc(caps) < 0) {
        rc = errno;
    }
    cap_free(caps);
    return rc;
}

int install_seccomp() noexcept {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx) {
        return ENOMEM;
    }
    int rc = 0;
    for (const auto& s : blocked_syscalls()) {
        int nr = seccomp_syscall_resolve_name(s.name);
        if (nr == __NR_SCMP_ERROR) {
            continue;  // not on this architecture (e.g. iopl on arm64)
        }
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
        if (rc < 0) {
            break;
        }
    }
    // clone(2) with a namespace flag is unshare by another name. clone3
    // passes its flags in memory a filter cannot read: make it ENOSYS so
    // libc falls back to clone, whose flags we can check.
    const unsigned long ns_flags[] = {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                                      CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};
    for (unsigned long f : ns_flags) {
        if (rc >= 0) {
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f));
        }
    }
    if (rc >= 0) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    }
    if (rc >= 0) {
        rc = seccomp_load(ctx);
    }
    seccomp_release(ctx);
    return rc < 0 ? -rc : 0;
}

}  // namespace

int drop_privileges_noexcept() noexcept {
    if (int rc = drop_capabilities()) {
        return rc;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        return errno;
    }
    return install_seccomp();
}

}  // namespace moat::isolation
