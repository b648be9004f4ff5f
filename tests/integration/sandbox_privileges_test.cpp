// drop_privileges() for real, each case in a forked child (the changes are
// irreversible); the child reports "" or what went wrong through a pipe.
#include "sandbox/privileges.hpp"
#include "sandbox/steps.hpp"
#include "sys/fs.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/kcmp.h>
#include <linux/keyctl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

// Counts the allocations of the whole test binary (libseccomp, libcap and
// libstdc++ all call malloc through the PLT), so a test can show that the
// seccomp step in a child allocates nothing. glibc's own entry points do
// the work; free() stays glibc's, which owns every block either way.
#if defined(__SANITIZE_ADDRESS__)
#define MOAT_COUNTS_ALLOCATIONS 0
#else
#define MOAT_COUNTS_ALLOCATIONS 1
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
}
namespace {
std::atomic<unsigned long> allocations{0};
}
extern "C" void* malloc(std::size_t n) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t n, std::size_t size) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(n, size);
}
extern "C" void* realloc(void* p, std::size_t n) noexcept {
    allocations.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(p, n);
}
#endif

namespace moat::sandbox {
namespace {

struct child_result {
    int status = 0;
    std::string report;
};

child_result in_child(const std::function<std::string()>& body) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) {
        return {-1, "pipe failed"};
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        std::string r;
        try {
            r = body();
        } catch (const std::exception& e) {
            r = std::string("exception: ") + e.what();
        }
        [[maybe_unused]] auto n = ::write(fds[1], r.data(), r.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    child_result out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
        out.report.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    ::waitpid(pid, &out.status, 0);
    return out;
}

std::string status_field(const std::string& key) {
    std::istringstream in(sys::read_file("/proc/self/status"));
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(key + ":", 0) == 0) {
            auto v = line.substr(key.size() + 1);
            return v.substr(v.find_first_not_of(" \t"));
        }
    }
    return "";
}

std::string expect_errno(const char* what, long rc, int want) {
    if (rc == -1 && errno == want) {
        return "";
    }
    return std::string(what) + " returned " + std::to_string(rc) + " errno " + std::strerror(errno) + "; ";
}

class SandboxPrivileges : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root";
        }
    }
};

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

// The calls an attacker inside a container used: io_uring (its own ring
// too, made before the drop), pidfd_getfd, kcmp, clone(CLONE_NEWUSER).
// Each reports "name=ok" or "name=<errno>".
std::string attack_surface(int ring, int pidfd) {
    std::string out;
    auto note = [&](const char* name, long rc) {
        out += std::string(name) + "=" + (rc >= 0 ? "ok" : strerrorname_np(errno)) + " ";
    };
    io_uring_params params{};
    long fd = ::syscall(SYS_io_uring_setup, 4, &params);
    note("io_uring_setup", fd);
    if (fd >= 0) {
        ::close(static_cast<int>(fd));
    }
    alignas(io_uring_probe) unsigned char probe[sizeof(io_uring_probe) + 256 * sizeof(io_uring_probe_op)] = {};
    note("io_uring_register", ::syscall(SYS_io_uring_register, ring, IORING_REGISTER_PROBE, probe, 256));
    note("io_uring_enter", ::syscall(SYS_io_uring_enter, ring, 0, 0, 0, nullptr, 0));
    long stolen = ::syscall(SYS_pidfd_getfd, pidfd, STDERR_FILENO, 0);
    note("pidfd_getfd", stolen);
    if (stolen >= 0) {
        ::close(static_cast<int>(stolen));
    }
    note("kcmp", ::syscall(SYS_kcmp, ::getpid(), ::getpid(), KCMP_FILE, STDERR_FILENO, STDERR_FILENO));
    long child = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (child == 0) {
        ::_exit(0);
    }
    note("clone(NEWUSER)", child);
    if (child > 0) {
        ::waitpid(static_cast<pid_t>(child), nullptr, 0);
    }
    return out;
}

// Runs attack_surface() in a child, after `drop` (nothing for the control).
std::string attack_in_child(const std::function<int()>& drop) {
    io_uring_params params{};
    int ring = static_cast<int>(::syscall(SYS_io_uring_setup, 4, &params));
    auto r = in_child([&] {
        int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0));
        if (ring < 0 || pidfd < 0) {
            return std::string("setup failed: ") + std::strerror(errno);
        }
        if (int err = drop(); err != 0) {
            return std::string("drop failed: ") + std::strerror(err);
        }
        return attack_surface(ring, pidfd);
    });
    if (ring >= 0) {
        ::close(ring);
    }
    return r.report;
}

TEST_F(SandboxPrivileges, AttackerCallsAreRefused) {
    // Positive control: the same calls, in a sibling without the filter,
    // reach the kernel and succeed (io_uring_disabled = 0 here).
    EXPECT_EQ(attack_in_child([] { return 0; }),
              "io_uring_setup=ok io_uring_register=ok io_uring_enter=ok pidfd_getfd=ok kcmp=ok "
              "clone(NEWUSER)=ok ");
    prepare_privileges();
    EXPECT_EQ(attack_in_child([] { return drop_privileges_noexcept(); }),
              "io_uring_setup=EPERM io_uring_register=EPERM io_uring_enter=EPERM pidfd_getfd=EPERM kcmp=EPERM "
              "clone(NEWUSER)=EPERM ");
}

// A container given CAP_SYS_PTRACE gets what Docker gives it with that
// capability, and still no io_uring or namespaces.
TEST_F(SandboxPrivileges, ExtraCapabilityOpensItsCalls) {
    EXPECT_EQ(attack_in_child([] {
                  keep_also(std::uint64_t{1} << CAP_SYS_PTRACE);  // in the child only
                  return drop_privileges_noexcept();
              }),
              "io_uring_setup=EPERM io_uring_register=EPERM io_uring_enter=EPERM pidfd_getfd=ok kcmp=ok "
              "clone(NEWUSER)=EPERM ");
}

// The filter alone, every capability held: TIOCSTI and AF_VSOCK are the
// filter's refusals, not the kernel's. The control shows the kernel takes
// both from this process without the filter.
TEST_F(SandboxPrivileges, TerminalInjectionAndVsockAreRefused) {
    auto probe = [](bool filtered) {
        return in_child([filtered] {
            int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (master < 0 || ::grantpt(master) < 0 || ::unlockpt(master) < 0) {
                return std::string("no pty: ") + std::strerror(errno);
            }
            int tty = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (tty < 0) {
                return std::string("no pty slave: ") + std::strerror(errno);
            }
            if (filtered && (detail::set_no_new_privs() != 0 || detail::install_seccomp_filter() != 0)) {
                return std::string("filter failed");
            }
            std::string out;
            char c = 'x';
            out += ::ioctl(tty, TIOCSTI, &c) == 0 ? "TIOCSTI=ok " : std::string("TIOCSTI=") + strerrorname_np(errno) + " ";
            int v = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
            out += v >= 0 ? "vsock=ok" : std::string("vsock=") + strerrorname_np(errno);
            return out;
        });
    };
    auto control = probe(false).report;
    EXPECT_TRUE(control.starts_with("TIOCSTI=ok ")) << control;
    // Without the vsock module the kernel says EAFNOSUPPORT: still the kernel's answer.
    EXPECT_TRUE(control.ends_with("vsock=ok") || control.ends_with("vsock=EAFNOSUPPORT")) << control;
    EXPECT_EQ(probe(true).report, "TIOCSTI=EPERM vsock=EPERM");
}

TEST_F(SandboxPrivileges, ChildLoadsTheParentsProgramWithoutAllocating) {
    if (!MOAT_COUNTS_ALLOCATIONS) {
        GTEST_SKIP() << "malloc is the sanitizer's here";
    }
    prepare_privileges();
    const unsigned compiled = seccomp_compilations();
    auto measure = [&](bool change_caps) {
        return in_child([&] {
            if (change_caps) {
                keep_also(std::uint64_t{1} << CAP_SYS_NICE);  // not what the parent compiled for
            }
            if (detail::set_no_new_privs() != 0) {
                return std::string("no_new_privs failed");
            }
            unsigned long before = allocations.load();
            int rc = detail::install_seccomp_filter();
            unsigned long allocated = allocations.load() - before;
            return "rc=" + std::to_string(rc) + " allocations=" + (allocated == 0 ? "0" : "some") +
                   " compiled=" + std::to_string(seccomp_compilations() - compiled) +
                   " Seccomp=" + status_field("Seccomp");
        }).report;
    };
    EXPECT_EQ(measure(false), "rc=0 allocations=0 compiled=0 Seccomp=2");
    // Control: a child whose capabilities differ from the parent's compiles
    // its own, and the counter sees that allocate.
    EXPECT_EQ(measure(true), "rc=0 allocations=some compiled=1 Seccomp=2");
}

struct program_run {
    int status = -1;
    std::string output;
};

// Runs argv in a child after drop_privileges_noexcept() (the parent prepared
// the program), optionally in a private network namespace with lo up, and
// collects stdout and stderr; killed after 20 s.
program_run run_filtered(const std::vector<std::string>& argv, bool own_netns = false) {
    prepare_privileges();
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) {
        return {};
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        if (own_netns) {
            ifreq ifr{};
            std::strcpy(ifr.ifr_name, "lo");
            int s = -1;
            if (::unshare(CLONE_NEWNET) < 0 || (s = ::socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
                ::ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags |= IFF_UP, ::ioctl(s, SIOCSIFFLAGS, &ifr)) < 0) {
                ::_exit(124);
            }
            ::close(s);
        }
        int null = ::open("/dev/null", O_RDONLY);
        if (null < 0 || ::dup2(null, 0) < 0 || ::dup2(fds[1], 1) < 0 || ::dup2(fds[1], 2) < 0 ||
            drop_privileges_noexcept() != 0) {
            ::_exit(125);
        }
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    program_run r;
    char buf[4096];
    for (;;) {
        pollfd p{fds[0], POLLIN, 0};
        if (::poll(&p, 1, 20000) <= 0) {
            ::kill(pid, SIGKILL);
            r.output += "[timed out]";
            break;
        }
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        r.output.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    ::waitpid(pid, &r.status, 0);
    return r;
}

bool exited_zero(const program_run& r) { return WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0; }

TEST_F(SandboxPrivileges, RealProgramsWorkUnderTheFilter) {
    auto sh = run_filtered({"/bin/sh", "-c", "echo shell-ok; (echo sub-ok) | cat; grep '^Seccomp:' /proc/self/status"});
    EXPECT_TRUE(exited_zero(sh)) << sh.output;
    EXPECT_EQ(sh.output, "shell-ok\nsub-ok\nSeccomp:\t2\n");

    // Threads (clone3 -> ENOSYS -> clone), subprocess (vfork-style clone),
    // sockets, getrandom, TLS and hashing, all under the filter.
    auto py = run_filtered({"/usr/bin/python3", "-c",
                            "import os, socket, ssl, hashlib, threading, subprocess\n"
                            "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
                            "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.close()\n"
                            "ssl.create_default_context(); hashlib.sha256(os.urandom(16)).hexdigest()\n"
                            "print('py-ok', subprocess.run(['true']).returncode)\n"});
    EXPECT_TRUE(exited_zero(py)) << py.output;
    EXPECT_EQ(py.output, "py-ok 0\n");

    // A TCP connection over loopback, in a namespace of its own.
    auto nc = run_filtered({"/bin/sh", "-c",
                            "nc -l 127.0.0.1 7777 & sleep 0.3; echo nc-ok | nc -N 127.0.0.1 7777; wait"},
                           true);
    EXPECT_TRUE(exited_zero(nc)) << nc.output;
    EXPECT_EQ(nc.output, "nc-ok\n");

    auto ip = run_filtered({"ip", "-o", "link"}, true);  // a netlink dump, read-only
    EXPECT_TRUE(exited_zero(ip)) << ip.output;
    EXPECT_NE(ip.output.find("1: lo: <LOOPBACK,UP"), std::string::npos) << ip.output;

    for (auto [argv, want] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"curl", "--version"}, "curl "},
             {{"openvpn", "--version"}, "OpenVPN "},
             {{"wireguard-go", "--version"}, "wireguard-go v"}}) {
        auto r = run_filtered(argv);
        EXPECT_TRUE(exited_zero(r)) << argv[0] << ": " << r.output;
        EXPECT_EQ(r.output.rfind(want, 0), 0u) << argv[0] << ": " << r.output;
    }
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
