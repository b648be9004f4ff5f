// drop_privileges() for real, each case in a forked child (the changes are
// irreversible); the child reports "" or what went wrong through a pipe.
#include "sandbox/privileges.hpp"
#include "sandbox/steps.hpp"
#include "sandbox_child.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace moat::sandbox {
namespace {

using test::expect_errno;
using test::in_child;
using test::SandboxPrivileges;
using test::status_field;

TEST_F(SandboxPrivileges, ProcStatusShowsTheReducedSets) {
    auto r = in_child([] {
        drop_privileges();
        char mask[32];
        std::snprintf(mask, sizeof mask, "%016llx", static_cast<unsigned long long>(kept_capability_mask()));
        std::string out;
        for (const char* k : {"CapBnd", "CapEff", "CapPrm"}) {
            if (status_field(k) != mask) {
                out += std::string(k) + "=" + status_field(k) + " want " + mask + "; ";
            }
        }
        for (const char* k : {"CapInh", "CapAmb"}) {
            if (status_field(k) != "0000000000000000") {
                out += std::string(k) + "=" + status_field(k) + "; ";
            }
        }
        if (status_field("NoNewPrivs") != "1") {
            out += "NoNewPrivs=" + status_field("NoNewPrivs") + "; ";
        }
        if (status_field("Seccomp") != "2") {
            out += "Seccomp=" + status_field("Seccomp") + "; ";
        }
        return out;
    });
    EXPECT_EQ(r.report, "");
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.status;
}

// A caller that arrives with an inheritable and an ambient capability (a
// service manager's AmbientCapabilities=) loses both: the positive control
// is that /proc shows them set before the drop.
TEST_F(SandboxPrivileges, InheritableAndAmbientCapabilitiesAreCleared) {
    auto r = in_child([] {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct sets[_LINUX_CAPABILITY_U32S_3] = {};
        if (::syscall(SYS_capget, &header, sets) != 0) {
            return std::string("capget: ") + std::strerror(errno);
        }
        sets[0].inheritable |= 1u << CAP_NET_ADMIN;
        if (::syscall(SYS_capset, &header, sets) != 0 ||
            ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0) != 0) {
            return std::string("raising CAP_NET_ADMIN: ") + std::strerror(errno);
        }
        if (status_field("CapInh") == "0000000000000000" || status_field("CapAmb") == "0000000000000000") {
            return "not raised: CapInh=" + status_field("CapInh") + " CapAmb=" + status_field("CapAmb");
        }
        drop_privileges();
        std::string out;
        for (const char* k : {"CapInh", "CapAmb"}) {
            if (status_field(k) != "0000000000000000") {
                out += std::string(k) + "=" + status_field(k) + "; ";
            }
        }
        return out;
    });
    EXPECT_EQ(r.report, "");
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) << r.status;
}

TEST_F(SandboxPrivileges, NoexceptVariantReturnsZero) {
    auto r = in_child([] {
        int rc = drop_privileges_noexcept();
        return rc == 0 && status_field("Seccomp") == "2" ? "" : "rc " + std::to_string(rc);
    });
    EXPECT_EQ(r.report, "");
}

TEST_F(SandboxPrivileges, BlockedCallsFailWithEperm) {
    char dir[] = "/tmp/moat-sandbox-mnt-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    auto r = in_child([&] {
        drop_privileges();
        std::string out;
        out += expect_errno("mount", ::mount("none", dir, "tmpfs", 0, nullptr), EPERM);
        out += expect_errno("unshare(NEWNET)", ::unshare(CLONE_NEWNET), EPERM);
        out += expect_errno("keyctl", ::syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), EPERM);
        out += expect_errno("ptrace", ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr), EPERM);
        out += expect_errno("clone(NEWNET)", ::syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0), EPERM);
        out += expect_errno("clone(NEWPID)", ::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0), EPERM);
        out += expect_errno("clone3", ::syscall(SYS_clone3, nullptr, 0), ENOSYS);
        out += expect_errno("setns", ::setns(0, 0), EPERM);
        return out;
    });
    ::rmdir(dir);
    EXPECT_EQ(r.report, "");
}

// The filter alone, with every capability still held: proves that it is
// seccomp, not a missing CAP_SYS_ADMIN, that refuses. The child first gets
// a private mount namespace so a filter that failed open changes nothing.
TEST_F(SandboxPrivileges, FilterRefusesEvenWithAllCapabilities) {
    char dir[] = "/tmp/moat-sandbox-mnt-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    auto r = in_child([&] {
        if (::unshare(CLONE_NEWNS) < 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
            return std::string("setup failed: ") + std::strerror(errno);
        }
        if (detail::set_no_new_privs() != 0 || detail::install_seccomp_filter() != 0) {
            return std::string("filter failed");
        }
        std::string out;
        out += expect_errno("mount", ::mount("none", dir, "tmpfs", 0, nullptr), EPERM);
        out += expect_errno("unshare(NEWNET)", ::unshare(CLONE_NEWNET), EPERM);
        out += expect_errno("clone(NEWUSER)", ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), EPERM);
        out += expect_errno("init_module", ::syscall(SYS_init_module, nullptr, 0, ""), EPERM);
        out += expect_errno("settimeofday", ::syscall(SYS_settimeofday, nullptr, nullptr), EPERM);
        return out;
    });
    ::rmdir(dir);
    EXPECT_EQ(r.report, "");
}

TEST_F(SandboxPrivileges, OrdinaryWorkStillWorks) {
    auto r = in_child([] {
        drop_privileges();
        std::string out;
        pid_t pid = ::fork();  // glibc's fork is clone() without namespace flags
        if (pid == 0) {
            ::execl("/bin/true", "true", static_cast<char*>(nullptr));
            ::_exit(99);
        }
        int st = -1;
        if (pid < 0 || ::waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            out += "fork+exec /bin/true failed; ";
        }
        bool ran = false;
        std::thread t([&] { ran = true; });  // clone3 -> ENOSYS -> glibc falls back to clone
        t.join();
        out += ran ? "" : "thread did not run; ";
        int s = ::socket(AF_INET, SOCK_STREAM, 0);
        out += s >= 0 ? "" : std::string("socket: ") + std::strerror(errno) + "; ";
        ::close(s);
        int sv[2];
        out += ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 ? "" : "socketpair failed; ";
        char path[] = "/tmp/moat-sandbox-file-XXXXXX";
        int fd = ::mkstemp(path);
        out += fd >= 0 && ::write(fd, "x", 1) == 1 ? "" : "temp file failed; ";
        ::close(fd);
        out += ::chown(path, 1, 1) == 0 ? "" : std::string("chown (CAP_CHOWN is kept): ") + std::strerror(errno) + "; ";
        ::unlink(path);
        return out;
    });
    EXPECT_EQ(r.report, "");
}

#if defined(__x86_64__)
// x32 shares the x86_64 audit architecture; only the 0x40000000 bit in
// the number tells it apart, and the filter must not let it through.
TEST_F(SandboxPrivileges, X32AbiKillsTheProcess) {
    auto r = in_child([] {
        drop_privileges();
        long ret = ::syscall(0x40000000L | SYS_getpid);
        return std::string("survived the x32 ABI, got ") + std::to_string(ret);
    });
    EXPECT_TRUE(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSYS) << r.report << " status " << r.status;
}

long i386_getpid() {
    long ret;
    // i386 getpid (20) through int 0x80: not in the native filter.
    asm volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
    return ret;
}

TEST_F(SandboxPrivileges, ForeignAbiKillsTheProcess) {
    auto probe = in_child([] { return std::to_string(i386_getpid()); });
    if (WIFSIGNALED(probe.status) && WTERMSIG(probe.status) == SIGSEGV) {
        GTEST_SKIP() << "this kernel runs without the i386 ABI (ia32_emulation=0): nothing to filter";
    }
    auto r = in_child([] {
        drop_privileges();
        return std::string("survived the i386 ABI, got ") + std::to_string(i386_getpid());
    });
    EXPECT_TRUE(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSYS) << r.report << " status " << r.status;
}
#endif

}  // namespace
}  // namespace moat::sandbox
