// The compiled seccomp program, run through a small seccomp interpreter so
// that its answers are checked without root and without loading it: which
// calls pass, with which arguments, for which capabilities.
#include "sandbox/privileges.hpp"
#include "sandbox/seccomp_emit.hpp"

#include "cbpf_interpreter.hpp"

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace moat::sandbox {
namespace {

// Runs a seccomp cBPF program on one seccomp_data the way the kernel does
// (kernel/seccomp.c: 32-bit loads at aligned offsets of seccomp_data). It
// knows the instructions libseccomp and the prologue emit and throws on any
// other, so a change that emits something new fails loudly.
// `read_args` is set when the path taken loaded an argument: the kernel's
// action cache (seccomp_is_const_allow) only caches paths that do not.
std::uint32_t run(std::span<const sock_filter> prog, const seccomp_data& d, bool* read_args = nullptr) {
    unsigned char bytes[sizeof d];
    std::memcpy(bytes, &d, sizeof d);
    std::uint32_t a = 0, x = 0;
    std::size_t pc = 0;
    while (pc < prog.size()) {
        const sock_filter& i = prog[pc++];
        switch (i.code) {
            case BPF_LD | BPF_W | BPF_ABS:
                if (i.k % 4 != 0 || i.k + 4 > sizeof d) {
                    throw std::logic_error("load outside seccomp_data: " + std::to_string(i.k));
                }
                std::memcpy(&a, bytes + i.k, 4);
                if (read_args && i.k >= offsetof(seccomp_data, args)) {
                    *read_args = true;
                }
                break;
            case BPF_ALU | BPF_AND | BPF_K: a &= i.k; break;
            case BPF_MISC | BPF_TAX: x = a; break;
            case BPF_MISC | BPF_TXA: a = x; break;
            case BPF_JMP | BPF_JA: pc += i.k; break;
            case BPF_JMP | BPF_JEQ | BPF_K: pc += a == i.k ? i.jt : i.jf; break;
            case BPF_JMP | BPF_JGE | BPF_K: pc += a >= i.k ? i.jt : i.jf; break;
            case BPF_JMP | BPF_JGT | BPF_K: pc += a > i.k ? i.jt : i.jf; break;
            case BPF_JMP | BPF_JSET | BPF_K: pc += (a & i.k) != 0 ? i.jt : i.jf; break;
            case BPF_RET | BPF_K: return i.k;
            default: throw std::logic_error("unsupported instruction " + std::to_string(i.code));
        }
    }
    throw std::logic_error("ran off the end of the program");
}

constexpr std::uint32_t allow = SECCOMP_RET_ALLOW;
constexpr std::uint32_t eperm = SECCOMP_RET_ERRNO | EPERM;
constexpr std::uint32_t enosys = SECCOMP_RET_ERRNO | ENOSYS;
constexpr std::uint32_t kill = SECCOMP_RET_KILL_PROCESS;

int nr_of(const char* name) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr < 0) {
        throw std::invalid_argument(std::string("no native number for ") + name);
    }
    return nr;
}

std::uint32_t answer(const seccomp_program& p, int nr, std::array<std::uint64_t, 6> args = {},
                     std::uint32_t arch = seccomp_arch_native()) {
    seccomp_data d{};
    d.nr = nr;
    d.arch = arch;
    for (std::size_t i = 0; i < args.size(); ++i) {
        d.args[i] = args[i];
    }
    return run(p.instructions(), d);
}

std::uint32_t answer(const seccomp_program& p, const char* name, std::array<std::uint64_t, 6> args = {}) {
    return answer(p, nr_of(name), args);
}

std::uint64_t cap(int c) { return std::uint64_t{1} << c; }

class SeccompProgram : public ::testing::Test {
protected:
    static void SetUpTestSuite() { def = seccomp_program::compile(kept_capability_mask()); }
    static seccomp_program def;  // Docker's default capability set, as services get it
};
seccomp_program SeccompProgram::def;

TEST_F(SeccompProgram, IsAValidProgram) {
    auto code = def.instructions();
    ASSERT_FALSE(code.empty());
    EXPECT_EQ(test::cbpf_structure_error(code), "");
    EXPECT_EQ(BPF_CLASS(code.back().code), BPF_RET);
    EXPECT_EQ(def.capabilities(), kept_capability_mask());
    EXPECT_TRUE(seccomp_program().empty());
    EXPECT_EQ(seccomp_program().load(), EINVAL);
}

// Every name of the brief's list, refused for a service with Docker's
// default capabilities (the x86-only ones where they exist).
TEST_F(SeccompProgram, RefusesTheDangerousCalls) {
    for (const char* name :
         {"io_uring_setup", "io_uring_enter", "io_uring_register", "pidfd_getfd", "kcmp", "ptrace",
          "process_vm_readv", "process_vm_writev", "perf_event_open", "bpf", "keyctl", "add_key",
          "request_key", "userfaultfd", "open_by_handle_at", "name_to_handle_at", "mount", "umount2",
          "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
          "mount_setattr", "setns", "unshare", "kexec_load", "kexec_file_load", "init_module",
          "finit_module", "delete_module", "swapon", "swapoff", "reboot", "acct", "settimeofday",
          "clock_settime", "clock_adjtime", "adjtimex", "quotactl", "quotactl_fd", "syslog", "vhangup",
          "lookup_dcookie", "process_madvise", "fanotify_init", "sethostname", "setdomainname",
          "get_mempolicy", "set_mempolicy", "mbind"
#if defined(__x86_64__)
          ,
          "iopl", "ioperm"
#endif
         }) {
        EXPECT_EQ(answer(def, name), eperm) << name;
    }
    // Not a syscall at all, or one the kernel dropped: EPERM, as Docker.
    EXPECT_EQ(answer(def, "nfsservctl"), eperm);
}

TEST_F(SeccompProgram, AllowsEverydayCalls) {
    for (const char* name :
         {"read", "write", "openat", "close", "mmap", "munmap", "mprotect", "brk", "connect", "bind",
          "listen", "accept4", "sendmsg", "recvmsg", "setsockopt", "epoll_create1", "epoll_ctl", "epoll_wait",
          "epoll_pwait", "execve", "wait4", "waitid", "futex", "getrandom", "statx", "newfstatat", "fcntl",
          "rt_sigaction", "rt_sigprocmask", "exit_group", "pidfd_open", "prctl", "setuid", "setgroups",
          "pipe2", "dup3", "getdents64", "clock_nanosleep", "rseq", "set_robust_list", "prlimit64",
          "sched_getaffinity", "uname", "kill", "chroot" /* CAP_SYS_CHROOT is kept */}) {
        EXPECT_EQ(answer(def, name), allow) << name;
    }
    // Everyday arguments of the argument-checked calls.
    EXPECT_EQ(answer(def, "socket", {AF_INET, SOCK_STREAM}), allow);
    EXPECT_EQ(answer(def, "socket", {AF_INET6, SOCK_DGRAM}), allow);
    EXPECT_EQ(answer(def, "socket", {AF_UNIX, SOCK_STREAM}), allow);
    EXPECT_EQ(answer(def, "socket", {AF_NETLINK, SOCK_RAW}), allow);
    EXPECT_EQ(answer(def, "socket", {AF_PACKET, SOCK_RAW}), allow);
    EXPECT_EQ(answer(def, "socket", {AF_ALG + 1, SOCK_STREAM}), allow);  // AF_NFC, between the two
    EXPECT_EQ(answer(def, "socket", {AF_VSOCK + 1, SOCK_STREAM}), allow);
    EXPECT_EQ(answer(def, "ioctl", {0, TCGETS}), allow);
    EXPECT_EQ(answer(def, "ioctl", {0, TIOCGWINSZ}), allow);
    EXPECT_EQ(answer(def, "ioctl", {0, FIONREAD}), allow);
    EXPECT_EQ(answer(def, "clone", {SIGCHLD}), allow);  // fork
    EXPECT_EQ(answer(def, "clone", {CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                                    CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID}),
              allow);  // a thread
    EXPECT_EQ(answer(def, "clone", {CLONE_VM | CLONE_VFORK | SIGCHLD}), allow);  // posix_spawn
    for (std::uint32_t p : {0x0u, 0x8u, 0x20000u, 0x20008u, 0xffffffffu}) {
        EXPECT_EQ(answer(def, "personality", {p}), allow) << std::hex << p;
    }
}

TEST_F(SeccompProgram, ChecksArguments) {
    EXPECT_EQ(answer(def, "socket", {AF_VSOCK, SOCK_STREAM}), eperm);
    EXPECT_EQ(answer(def, "socket", {AF_ALG, SOCK_SEQPACKET}), eperm);
    // The kernel reads the family as an int: bits above 32 must not sneak
    // AF_VSOCK past a "greater than" comparison.
    EXPECT_EQ(answer(def, "socket", {(std::uint64_t{1} << 32) | AF_VSOCK, SOCK_STREAM}), eperm);
    EXPECT_EQ(answer(def, "ioctl", {0, TIOCSTI}), eperm);
    EXPECT_EQ(answer(def, "ioctl", {0, TIOCLINUX}), eperm);
    EXPECT_EQ(answer(def, "ioctl", {0, (std::uint64_t{1} << 32) | TIOCSTI}), eperm);
    for (std::uint64_t p : {std::uint64_t{READ_IMPLIES_EXEC}, std::uint64_t{ADDR_NO_RANDOMIZE},
                            std::uint64_t{PER_BSD}, std::uint64_t{PER_LINUX32} | ADDR_NO_RANDOMIZE}) {
        EXPECT_EQ(answer(def, "personality", {p}), eperm) << std::hex << p;
    }
    for (std::uint64_t flag : {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                               CLONE_NEWCGROUP}) {
        EXPECT_EQ(answer(def, "clone", {flag | SIGCHLD}), eperm) << std::hex << flag;
        EXPECT_EQ(answer(def, "clone", {flag | CLONE_VM | CLONE_THREAD}), eperm) << std::hex << flag;
    }
    EXPECT_EQ(answer(def, "clone3"), enosys);
}

TEST_F(SeccompProgram, NumbersBeyondTheTableAreNotImplemented) {
    const auto top = def.highest_known_syscall();
    EXPECT_GE(top, static_cast<std::uint32_t>(nr_of("clone3")));
    EXPECT_EQ(answer(def, static_cast<int>(top) + 1), enosys);
    EXPECT_EQ(answer(def, 0x3fffffff), enosys);
    // open_tree_attr (467 on every architecture with the common numbering
    // since 5.1): refused whether this libseccomp can name it or not.
    EXPECT_NE(answer(def, 467), allow);
}

TEST_F(SeccompProgram, ForeignAbisKill) {
    EXPECT_EQ(answer(def, 20, {}, AUDIT_ARCH_I386), kill);
    EXPECT_EQ(answer(def, nr_of("read"), {}, AUDIT_ARCH_I386), kill);
#if defined(__x86_64__)
    EXPECT_EQ(answer(def, -1), eperm);  // a tracer's "skip this call": not a foreign ABI
    EXPECT_EQ(answer(def, 0x40000000 | nr_of("getpid")), kill);  // x32
    EXPECT_EQ(answer(def, 0x40000000 | 500), kill);  // x32 beyond the table: still a foreign ABI
#endif
}

// A call Docker allows only with a capability appears exactly with it, and
// for no other capability.
TEST_F(SeccompProgram, CapabilityConditionalCallsFollowTheirCapability) {
    const std::uint64_t base = kept_capability_mask();
    std::size_t checked = 0;
    for (const auto& b : blocked_syscalls()) {
        if (b.unless_caps != 0 && (b.unless_caps & base) == 0 && seccomp_syscall_resolve_name(b.name) >= 0) {
            EXPECT_EQ(answer(def, b.name), eperm) << b.name << " without its capability";
        }
    }
    for (int c = 0; c <= CAP_LAST_CAP; ++c) {
        if ((base & cap(c)) != 0) {
            continue;
        }
        auto p = seccomp_program::compile(base | cap(c));
        for (const auto& b : blocked_syscalls()) {
            if (seccomp_syscall_resolve_name(b.name) < 0) {
                continue;
            }
            std::uint32_t want = (b.unless_caps & (base | cap(c))) != 0 ? allow : eperm;
            EXPECT_EQ(answer(p, b.name), want) << b.name << " with capability " << c;
            ++checked;
        }
    }
    EXPECT_GT(checked, 100u);
    auto ptr = seccomp_program::compile(base | cap(CAP_SYS_PTRACE));
    for (const char* name : {"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"}) {
        EXPECT_EQ(answer(ptr, name), allow) << name;
    }
}

// Even with every capability, moat keeps the container's view: no mounts,
// no namespaces, no file handles, no io_uring.
TEST_F(SeccompProgram, SomeCallsStayRefusedWithEveryCapability) {
    auto all = seccomp_program::compile(~std::uint64_t{0});
    std::size_t never = 0;
    for (const auto& b : blocked_syscalls()) {
        if (b.unless_caps == 0 && seccomp_syscall_resolve_name(b.name) >= 0) {
            EXPECT_EQ(answer(all, b.name), eperm) << b.name;
            ++never;
        }
    }
    EXPECT_GE(never, 20u);
    EXPECT_EQ(answer(all, "clone", {CLONE_NEWUSER | SIGCHLD}), eperm);
    EXPECT_EQ(answer(all, "clone3"), enosys);
    EXPECT_EQ(answer(all, "ioctl", {0, TIOCSTI}), eperm);
    EXPECT_EQ(answer(all, "bpf"), allow);  // the positive control: CAP_SYS_ADMIN does open what Docker opens
    EXPECT_EQ(answer(all, "sethostname"), allow);
}

// The tables name real syscalls: a typo would otherwise be skipped silently
// as "not on this architecture" (libseccomp knows every architecture's
// names), and no name is both allowed and refused.
TEST(SeccompProfile, TableResolvesWithLibseccomp) {
    // Newer than libseccomp 2.5.4 (Debian 12): they resolve with 2.6.
    const std::set<std::string> newer = {"statmount",  "listmount", "lsm_get_self_attr", "lsm_set_self_attr",
                                         "lsm_list_modules", "mseal", "setxattrat", "getxattrat", "listxattrat",
                                         "removexattrat", "uretprobe", "riscv_hwprobe", "open_tree_attr"};
    std::set<std::string> seen;
    auto check = [&](const char* name) {
        EXPECT_TRUE(seen.insert(name).second) << name << " appears twice";
        EXPECT_TRUE(seccomp_syscall_resolve_name(name) != __NR_SCMP_ERROR || newer.count(name)) << name;
    };
    for (const auto& a : allowed_syscalls()) {
        check(a.name);
        EXPECT_STRNE(a.group, "") << a.name;
    }
    for (const auto& f : filtered_syscalls()) {
        check(f.name);
        EXPECT_STRNE(f.rule, "") << f.name;
    }
    for (const auto& b : blocked_syscalls()) {
        check(b.name);
        EXPECT_STRNE(b.why, "") << b.name;
    }
    EXPECT_EQ(seccomp_syscall_resolve_name("no_such_syscall"), __NR_SCMP_ERROR);
    EXPECT_GT(allowed_syscalls().size(), 250u);
}

// Exhaustively over the number space: each number gets the answer the
// tables give it (the argument-checked calls aside).
TEST_F(SeccompProgram, EveryNumberGetsTheTablesAnswer) {
    std::set<int> allowed, filtered;
    for (const auto& a : allowed_syscalls()) {
        allowed.insert(seccomp_syscall_resolve_name(a.name));
    }
    for (const auto& b : blocked_syscalls()) {
        if ((b.unless_caps & kept_capability_mask()) != 0) {
            allowed.insert(seccomp_syscall_resolve_name(b.name));
        }
    }
    for (const auto& f : filtered_syscalls()) {
        filtered.insert(seccomp_syscall_resolve_name(f.name));
    }
    const int top = static_cast<int>(def.highest_known_syscall());
    for (int nr = 0; nr <= top + 50; ++nr) {
        if (filtered.count(nr)) {
            continue;
        }
        std::uint32_t want = nr > top ? enosys : allowed.count(nr) ? allow : eperm;
        EXPECT_EQ(answer(def, nr), want) << "syscall " << nr;
    }
}

// Every allowed name that exists here passes, whatever its arguments, on a
// path that reads only the number and the architecture, so the kernel can
// cache it as always allowed and skip the filter for it.
TEST_F(SeccompProgram, EveryAllowedNamePassesWithoutReadingArguments) {
    std::size_t n = 0;
    for (const auto& a : allowed_syscalls()) {
        if (seccomp_syscall_resolve_name(a.name) < 0) {
            continue;
        }
        seccomp_data d{};
        d.nr = nr_of(a.name);
        d.arch = seccomp_arch_native();
        d.args[0] = 1;
        bool read_args = false;
        EXPECT_EQ(run(def.instructions(), d, &read_args), allow) << a.name;
        EXPECT_FALSE(read_args) << a.name;
        ++n;
    }
    EXPECT_GT(n, 250u);
    // The control: an argument-checked call does read them.
    seccomp_data d{};
    d.nr = nr_of("socket");
    d.arch = seccomp_arch_native();
    bool read_args = false;
    run(def.instructions(), d, &read_args);
    EXPECT_TRUE(read_args);
}

// The build resolved the names with libseccomp (seccomp_gen.cpp); moat
// loads no libseccomp. Here libseccomp, at test time, is the oracle.
int libseccomp_number(const char* name) {
    int nr = seccomp_syscall_resolve_name(name);
    return nr == __NR_SCMP_ERROR || nr < 0 ? -1 : nr;
}

TEST(SeccompBuild, TheBuildsNumbersAreLibseccompsAnswers) {
    const auto names = named_syscalls();
    EXPECT_EQ(names.size(), allowed_syscalls().size() + filtered_syscalls().size() + blocked_syscalls().size());
    std::size_t known = 0;
    for (const char* name : names) {
        EXPECT_EQ(detail::native_syscall_number(name), libseccomp_number(name)) << name;
        known += detail::native_syscall_number(name) >= 0;
    }
    EXPECT_GT(known, 300u) << "of " << names.size();
    // Controls: a name the table lacks, and one spelled almost like a real one.
    EXPECT_EQ(detail::native_syscall_number("no_such_syscall"), -1);
    EXPECT_EQ(detail::native_syscall_number("opena"), -1);
    EXPECT_EQ(detail::native_syscall_number("openat"), libseccomp_number("openat"));
    EXPECT_NE(detail::native_syscall_number("openat"), -1);
    EXPECT_EQ(detail::native_audit_arch(), seccomp_arch_native());
}

// The default set's program is the build's constant: no compilation, and
// the same instructions as emitting it now with libseccomp's names. A set
// with one more capability is emitted at run time, and is also the same.
TEST(SeccompBuild, TheDefaultProgramIsTheOneLibseccompsNamesGive) {
    auto same = [](std::span<const sock_filter> a, const std::vector<sock_filter>& b) {
        return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
                   return x.code == y.code && x.jt == y.jt && x.jf == y.jf && x.k == y.k;
               });
    };
    const auto base = kept_capability_mask();
    const unsigned before = seccomp_compilations();
    auto def = seccomp_program::compile(base);
    EXPECT_EQ(seccomp_compilations(), before);
    auto oracle = detail::emit_seccomp_program(base, libseccomp_number, seccomp_arch_native());
    EXPECT_TRUE(same(def.instructions(), oracle.code));
    EXPECT_EQ(def.highest_known_syscall(), oracle.highest);
    auto more = seccomp_program::compile(base | cap(CAP_SYS_PTRACE));
    EXPECT_EQ(seccomp_compilations(), before + 1);
    EXPECT_TRUE(same(more.instructions(), detail::emit_seccomp_program(base | cap(CAP_SYS_PTRACE),
                                                                        libseccomp_number, seccomp_arch_native())
                                              .code));
    // Control: the two sets' programs differ (ptrace is allowed in one).
    auto ptrace_set = more.instructions();
    EXPECT_FALSE(same(def.instructions(), std::vector<sock_filter>(ptrace_set.begin(), ptrace_set.end())));
}

}  // namespace
}  // namespace moat::sandbox
