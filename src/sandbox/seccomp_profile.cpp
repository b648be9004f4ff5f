// The profile's tables. Modelled on Docker's default profile
// (github.com/moby/profiles seccomp v0.2.3, default_linux.go, as moby/moby
// vendors it in 2026; it replaced profiles/seccomp/default.json): the
// same allowlist, the same capability-conditional calls, the same argument
// rules for socket, personality and clone. Where moat differs it is
// stricter, and the entry says why (privileges.hpp lists the differences).
// Names that exist only on some architectures (arch_prctl, riscv_hwprobe)
// are harmless elsewhere: libseccomp resolves them to pseudo-numbers that no
// rule can match. Legacy 32-bit-only names (chown32, fcntl64, socketcall...)
// are left out: moat runs native 64-bit ABIs only and kills the others.
#include "sandbox/seccomp_profile.hpp"

#include <linux/capability.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

namespace moat::sandbox {

namespace {

constexpr const char* fds = "descriptors and I/O";
constexpr const char* fs = "paths and file metadata";
constexpr const char* mem = "memory";
constexpr const char* proc = "processes and threads";
constexpr const char* cred = "user and group ids";
constexpr const char* sig = "signals";
constexpr const char* tm = "clocks and timers";
constexpr const char* ev = "waiting for events";
constexpr const char* net = "sockets";
constexpr const char* ipc = "System V and POSIX IPC";
constexpr const char* aio = "Linux AIO";
constexpr const char* arch = "architecture-specific";

constexpr allowed_syscall allowed[] = {
    {"read", fds}, {"write", fds}, {"readv", fds}, {"writev", fds}, {"pread64", fds},
    {"pwrite64", fds}, {"preadv", fds}, {"preadv2", fds}, {"pwritev", fds}, {"pwritev2", fds},
    {"open", fds}, {"openat", fds}, {"openat2", fds}, {"creat", fds}, {"close", fds},
    {"close_range", fds}, {"dup", fds}, {"dup2", fds}, {"dup3", fds}, {"fcntl", fds},
    {"flock", fds}, {"lseek", fds}, {"fsync", fds}, {"fdatasync", fds},
    {"sync", fds}, {"syncfs", fds}, {"sync_file_range", fds}, {"fallocate", fds},
    {"fadvise64", fds}, {"readahead", fds}, {"ftruncate", fds}, {"copy_file_range", fds},
    {"sendfile", fds}, {"splice", fds}, {"tee", fds}, {"vmsplice", fds}, {"pipe", fds},
    {"pipe2", fds}, {"memfd_create", fds}, {"memfd_secret", fds}, {"cachestat", fds},

    {"stat", fs}, {"fstat", fs}, {"lstat", fs}, {"newfstatat", fs}, {"statx", fs},
    {"statfs", fs}, {"fstatfs", fs}, {"access", fs}, {"faccessat", fs}, {"faccessat2", fs},
    {"getdents", fs}, {"getdents64", fs}, {"getcwd", fs}, {"chdir", fs}, {"fchdir", fs},
    {"mkdir", fs}, {"mkdirat", fs}, {"mknod", fs}, {"mknodat", fs}, {"rmdir", fs},
    {"rename", fs}, {"renameat", fs}, {"renameat2", fs}, {"link", fs}, {"linkat", fs},
    {"symlink", fs}, {"symlinkat", fs}, {"unlink", fs}, {"unlinkat", fs}, {"readlink", fs},
    {"readlinkat", fs}, {"truncate", fs}, {"chmod", fs}, {"fchmod", fs}, {"fchmodat", fs},
    {"fchmodat2", fs}, {"chown", fs}, {"fchown", fs}, {"fchownat", fs}, {"lchown", fs},
    {"umask", fs}, {"utime", fs}, {"utimes", fs}, {"utimensat", fs}, {"futimesat", fs},
    {"getxattr", fs}, {"lgetxattr", fs}, {"fgetxattr", fs}, {"getxattrat", fs},
    {"setxattr", fs}, {"lsetxattr", fs}, {"fsetxattr", fs}, {"setxattrat", fs},
    {"listxattr", fs}, {"llistxattr", fs}, {"flistxattr", fs}, {"listxattrat", fs},
    {"removexattr", fs}, {"lremovexattr", fs}, {"fremovexattr", fs}, {"removexattrat", fs},
    {"inotify_init", fs}, {"inotify_init1", fs}, {"inotify_add_watch", fs},
    {"inotify_rm_watch", fs}, {"fanotify_mark", fs}, {"statmount", fs}, {"listmount", fs},

    {"brk", mem}, {"mmap", mem}, {"munmap", mem}, {"mremap", mem}, {"mprotect", mem},
    {"madvise", mem}, {"mincore", mem}, {"msync", mem}, {"mlock", mem}, {"mlock2", mem},
    {"mlockall", mem}, {"munlock", mem}, {"munlockall", mem}, {"remap_file_pages", mem},
    {"membarrier", mem}, {"pkey_alloc", mem}, {"pkey_free", mem}, {"pkey_mprotect", mem},
    {"mseal", mem}, {"map_shadow_stack", mem}, {"process_mrelease", mem},

    {"fork", proc}, {"vfork", proc}, {"execve", proc}, {"execveat", proc}, {"exit", proc},
    {"exit_group", proc}, {"wait4", proc}, {"waitid", proc}, {"getpid", proc},
    {"getppid", proc}, {"gettid", proc}, {"getpgid", proc}, {"setpgid", proc},
    {"getpgrp", proc}, {"getsid", proc}, {"setsid", proc}, {"kill", proc}, {"tkill", proc},
    {"tgkill", proc}, {"pidfd_open", proc}, {"pidfd_send_signal", proc}, {"prctl", proc},
    {"set_tid_address", proc}, {"set_robust_list", proc}, {"get_robust_list", proc},
    {"rseq", proc}, {"futex", proc}, {"futex_waitv", proc}, {"futex_wait", proc},
    {"futex_wake", proc}, {"futex_requeue", proc}, {"sched_yield", proc},
    {"sched_getaffinity", proc}, {"sched_setaffinity", proc}, {"sched_getattr", proc},
    {"sched_setattr", proc}, {"sched_getparam", proc}, {"sched_setparam", proc},
    {"sched_getscheduler", proc}, {"sched_setscheduler", proc},
    {"sched_get_priority_max", proc}, {"sched_get_priority_min", proc},
    {"sched_rr_get_interval", proc}, {"getpriority", proc}, {"setpriority", proc},
    {"ioprio_get", proc}, {"ioprio_set", proc}, {"getrlimit", proc}, {"setrlimit", proc},
    {"prlimit64", proc}, {"getrusage", proc}, {"times", proc}, {"capget", proc},
    {"capset", proc}, {"seccomp", proc}, {"landlock_create_ruleset", proc},
    {"landlock_add_rule", proc}, {"landlock_restrict_self", proc}, {"uname", proc},
    {"sysinfo", proc}, {"getcpu", proc}, {"getrandom", proc}, {"restart_syscall", proc},

    {"getuid", cred}, {"geteuid", cred}, {"getgid", cred}, {"getegid", cred},
    {"getresuid", cred}, {"getresgid", cred}, {"getgroups", cred}, {"setuid", cred},
    {"setgid", cred}, {"setreuid", cred}, {"setregid", cred}, {"setresuid", cred},
    {"setresgid", cred}, {"setgroups", cred}, {"setfsuid", cred}, {"setfsgid", cred},

    {"rt_sigaction", sig}, {"rt_sigprocmask", sig}, {"rt_sigreturn", sig},
    {"rt_sigpending", sig}, {"rt_sigsuspend", sig}, {"rt_sigtimedwait", sig},
    {"rt_sigqueueinfo", sig}, {"rt_tgsigqueueinfo", sig}, {"sigaltstack", sig},
    {"signalfd", sig}, {"signalfd4", sig}, {"pause", sig}, {"alarm", sig},

    {"clock_gettime", tm}, {"clock_getres", tm}, {"clock_nanosleep", tm}, {"nanosleep", tm},
    {"gettimeofday", tm}, {"time", tm}, {"getitimer", tm}, {"setitimer", tm},
    {"timer_create", tm}, {"timer_delete", tm}, {"timer_gettime", tm}, {"timer_settime", tm},
    {"timer_getoverrun", tm}, {"timerfd_create", tm}, {"timerfd_gettime", tm},
    {"timerfd_settime", tm},

    {"epoll_create", ev}, {"epoll_create1", ev}, {"epoll_ctl", ev}, {"epoll_wait", ev},
    {"epoll_pwait", ev}, {"epoll_pwait2", ev}, {"epoll_ctl_old", ev}, {"epoll_wait_old", ev},
    {"eventfd", ev}, {"eventfd2", ev}, {"poll", ev}, {"ppoll", ev}, {"select", ev},
    {"pselect6", ev},

    {"socketpair", net}, {"bind", net}, {"listen", net}, {"accept", net}, {"accept4", net},
    {"connect", net}, {"getsockname", net}, {"getpeername", net}, {"getsockopt", net},
    {"setsockopt", net}, {"sendto", net}, {"sendmsg", net}, {"sendmmsg", net},
    {"recvfrom", net}, {"recvmsg", net}, {"recvmmsg", net}, {"shutdown", net},

    {"msgget", ipc}, {"msgctl", ipc}, {"msgrcv", ipc}, {"msgsnd", ipc}, {"semget", ipc},
    {"semctl", ipc}, {"semop", ipc}, {"semtimedop", ipc}, {"shmget", ipc}, {"shmat", ipc},
    {"shmctl", ipc}, {"shmdt", ipc}, {"mq_open", ipc}, {"mq_unlink", ipc},
    {"mq_timedsend", ipc}, {"mq_timedreceive", ipc}, {"mq_notify", ipc},
    {"mq_getsetattr", ipc},

    {"io_setup", aio}, {"io_destroy", aio}, {"io_submit", aio}, {"io_cancel", aio},
    {"io_getevents", aio}, {"io_pgetevents", aio},

    {"arch_prctl", arch}, {"modify_ldt", arch}, {"get_thread_area", arch},
    {"set_thread_area", arch}, {"uretprobe", arch}, {"riscv_hwprobe", arch},
    {"riscv_flush_icache", arch},
};

constexpr filtered_syscall filtered[] = {
    {"socket", "any address family but AF_ALG and AF_VSOCK"},
    {"ioctl", "any request but TIOCSTI and TIOCLINUX, which push input into a terminal: under "
              "`moat run` the user's own, read by their shell once the container is gone (moat's "
              "addition; Docker gives a container a terminal of its own)"},
    {"personality", "only PER_LINUX, PER_LINUX32, UNAME26 with either, and the query 0xffffffff"},
    {"clone", "only without CLONE_NEW* flags (threads and processes, no namespaces)"},
    {"clone3", "fails with ENOSYS: its flags are in memory a filter cannot read, and glibc then "
               "falls back to clone(), which can be checked"},
};

constexpr const char* why_mount =
    "changes the mount table; the container's file system view is fixed by moat (even with "
    "CAP_SYS_ADMIN, which Docker lets mount)";
constexpr const char* why_ns =
    "joins or creates namespaces, undoing the container's confinement (even with CAP_SYS_ADMIN)";
constexpr const char* why_kexec = "replaces the running kernel";
constexpr const char* why_handle =
    "opens files by handle, bypassing the mount namespace and the container's root (the "
    "'shocker' escape); Docker allows it with CAP_DAC_READ_SEARCH and name_to_handle_at "
    "always, moat never";
constexpr const char* why_io_uring =
    "a second system call interface that seccomp cannot see into, and a steady source of "
    "kernel exploits (Docker refuses it since 25.0)";
constexpr const char* why_uffd = "stalls the kernel at will; a building block of kernel exploits";
constexpr const char* why_keys = "kernel keyrings are not namespaced and reach the host's keys";
constexpr const char* why_swap = "host-wide swap";

constexpr const char* why_module = "replaces or extends the running kernel";
constexpr const char* why_bpf = "loads programs into the kernel";
constexpr const char* why_perf = "observes the host's processes and the kernel (perf)";
constexpr const char* why_admin =
    "host-wide: kernel log, disk quotas, file system watches, security module attributes";
constexpr const char* why_uts = "renames the container, whose name moat set";
constexpr const char* why_trace =
    "reads or writes another process's memory or descriptors: a compromised service would take "
    "over its neighbours (Docker allows ptrace and process_vm_* without a capability on kernels "
    ">= 4.8; moat only with CAP_SYS_PTRACE)";
constexpr const char* why_kcmp = "compares other processes' kernel objects: an address-layout oracle";
constexpr const char* why_clock =
    "the clock is not namespaced: setting it changes the host's (adjtimex and clock_adjtime also "
    "read, but one call does both; Docker allows those two without CAP_SYS_TIME, moat does not)";
constexpr const char* why_io = "raw I/O port access to the host's hardware";
constexpr const char* why_boot = "restarts the machine (in a PID namespace: ends the container)";
constexpr const char* why_acct = "host-wide process accounting";
constexpr const char* why_tty = "hangs up the terminal";
constexpr const char* why_numa = "places memory on the host's NUMA nodes";
constexpr const char* why_chroot = "changes the process's root directory (CAP_SYS_CHROOT is kept by default)";

constexpr std::uint64_t cap(int c) { return std::uint64_t{1} << c; }
constexpr std::uint64_t admin = cap(CAP_SYS_ADMIN);
constexpr std::uint64_t ptrace_cap = cap(CAP_SYS_PTRACE);
constexpr std::uint64_t time_cap = cap(CAP_SYS_TIME);
constexpr std::uint64_t module_cap = cap(CAP_SYS_MODULE);

constexpr blocked_syscall blocked[] = {
    // Refused whatever the capabilities.
    {"mount", why_mount, 0}, {"umount", why_mount, 0}, {"umount2", why_mount, 0},
    {"pivot_root", why_mount, 0}, {"fsopen", why_mount, 0}, {"fsconfig", why_mount, 0},
    {"fsmount", why_mount, 0}, {"fspick", why_mount, 0}, {"move_mount", why_mount, 0},
    {"open_tree", why_mount, 0}, {"open_tree_attr", why_mount, 0}, {"mount_setattr", why_mount, 0},
    {"setns", why_ns, 0}, {"unshare", why_ns, 0},
    {"kexec_load", why_kexec, 0}, {"kexec_file_load", why_kexec, 0},
    {"open_by_handle_at", why_handle, 0}, {"name_to_handle_at", why_handle, 0},
    {"io_uring_setup", why_io_uring, 0}, {"io_uring_enter", why_io_uring, 0},
    {"io_uring_register", why_io_uring, 0},
    {"userfaultfd", why_uffd, 0},
    {"keyctl", why_keys, 0}, {"add_key", why_keys, 0}, {"request_key", why_keys, 0},
    {"swapon", why_swap, 0}, {"swapoff", why_swap, 0},

    // Refused unless the process keeps the capability (Docker's "includes").
    {"init_module", why_module, module_cap}, {"finit_module", why_module, module_cap},
    {"delete_module", why_module, module_cap},
    {"bpf", why_bpf, admin | cap(CAP_BPF)},
    {"perf_event_open", why_perf, admin | cap(CAP_PERFMON)},
    {"syslog", why_admin, admin | cap(CAP_SYSLOG)},
    {"quotactl", why_admin, admin}, {"quotactl_fd", why_admin, admin},
    {"fanotify_init", why_admin, admin}, {"lookup_dcookie", why_admin, admin},
    {"lsm_get_self_attr", why_admin, admin}, {"lsm_set_self_attr", why_admin, admin},
    {"lsm_list_modules", why_admin, admin},
    {"sethostname", why_uts, admin}, {"setdomainname", why_uts, admin},
    {"ptrace", why_trace, ptrace_cap}, {"process_vm_readv", why_trace, ptrace_cap},
    {"process_vm_writev", why_trace, ptrace_cap}, {"process_madvise", why_trace, ptrace_cap},
    {"pidfd_getfd", why_trace, ptrace_cap}, {"kcmp", why_kcmp, ptrace_cap},
    {"settimeofday", why_clock, time_cap}, {"clock_settime", why_clock, time_cap},
    {"stime", why_clock, time_cap}, {"adjtimex", why_clock, time_cap},
    {"clock_adjtime", why_clock, time_cap},
    {"iopl", why_io, cap(CAP_SYS_RAWIO)}, {"ioperm", why_io, cap(CAP_SYS_RAWIO)},
    {"reboot", why_boot, cap(CAP_SYS_BOOT)},
    {"acct", why_acct, cap(CAP_SYS_PACCT)},
    {"vhangup", why_tty, cap(CAP_SYS_TTY_CONFIG)},
    {"get_mempolicy", why_numa, cap(CAP_SYS_NICE)}, {"set_mempolicy", why_numa, cap(CAP_SYS_NICE)},
    {"mbind", why_numa, cap(CAP_SYS_NICE)}, {"set_mempolicy_home_node", why_numa, cap(CAP_SYS_NICE)},
    {"chroot", why_chroot, cap(CAP_SYS_CHROOT)},
};

// CLONE_NEWTIME (0x80) is left out: clone() reads its low byte as the exit
// signal, so that flag can only reach the kernel through clone3/unshare,
// which are refused as a whole.
constexpr std::uint64_t clone_ns_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                         CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

constexpr int socket_families[] = {AF_ALG, AF_VSOCK};

// TIOCLINUX's selection subcommands paste into a virtual console the same
// way (the kernel only requires CAP_SYS_ADMIN for them since 6.7).
constexpr std::uint32_t ioctls[] = {TIOCSTI, TIOCLINUX};

constexpr std::uint32_t personalities[] = {0x0, 0x0008, 0x20000, 0x20008, 0xffffffff};

}  // namespace

std::span<const allowed_syscall> allowed_syscalls() { return allowed; }
std::span<const filtered_syscall> filtered_syscalls() { return filtered; }
std::span<const blocked_syscall> blocked_syscalls() { return blocked; }
std::uint64_t blocked_clone_flags() { return clone_ns_flags; }
std::span<const int> blocked_socket_families() { return socket_families; }
std::span<const std::uint32_t> blocked_ioctls() { return ioctls; }
std::span<const std::uint32_t> allowed_personalities() { return personalities; }

std::vector<const char*> named_syscalls() {
    std::vector<const char*> out;
    for (const auto& x : allowed) {
        out.push_back(x.name);
    }
    for (const auto& x : filtered) {
        out.push_back(x.name);
    }
    for (const auto& x : blocked) {
        out.push_back(x.name);
    }
    return out;
}

}  // namespace moat::sandbox
