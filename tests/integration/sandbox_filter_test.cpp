// The seccomp filter against what an attacker in a container tried, with
// a sibling without the filter as the positive control; real programs
// under it; and the child's load of the parent's compiled program.
#include "sandbox/privileges.hpp"
#include "sandbox/steps.hpp"
#include "sandbox_child.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/kcmp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
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

using test::in_child;
using test::SandboxPrivileges;
using test::status_field;

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

}  // namespace
}  // namespace moat::sandbox
