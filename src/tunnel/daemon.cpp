#include "tunnel/daemon.hpp"

#include "sandbox/seccomp_emit.hpp"
#include "sandbox/steps.hpp"
#include "sys/error.hpp"
#include "sys/spawn.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <iterator>
#include <string_view>

extern char** environ;

namespace moat::tunnel {

namespace {

// wireguard-go (0.0.20220316, tun/tun_linux.go CreateTUNFromFile) sets the
// MTU of the device it is given with ioctl(SIOCSIFMTU) on an AF_INET
// socket, and exits when that fails. That ioctl needs CAP_NET_ADMIN over
// the device's network namespace — the host's — which is exactly what the
// daemon must not have; the runner already set the MTU (from the wg-quick
// file's MTU, else wireguard-go's own 1420) before handing the device over.
// So this filter answers that one request with success and does nothing
// (SECCOMP_RET_ERRNO with 0: the kernel returns -0). It is stacked on moat's own
// filter; for each call the kernel takes the strictest of all answers
// (ERRNO over ALLOW), and nothing else is changed. Every other thing
// wireguard-go does needs no privilege: its netlink sockets only listen to
// multicast groups and ask RTM_GETROUTE, its ioctls read (TUNGETIFF,
// SIOCGIFINDEX, SIOCGIFMTU), and its UDP sockets bind an ordinary port.
int install_fake_set_mtu_filter() noexcept {
    // The low word of ioctl's request (the kernel takes it as an unsigned int).
    constexpr std::uint32_t request = sandbox::detail::seccomp_arg_low(1);
    // A call of another ABI is let through here: moat's own filter, below
    // this one, kills it.
    const sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, sandbox::detail::native_audit_arch(), 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, request),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SIOCSIFMTU, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0),
    };
    sock_fprog prog{static_cast<unsigned short>(std::size(code)), const_cast<sock_filter*>(code)};
    return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0 ? 0 : errno;
}

// All three remaining sets to 0 (capset(2) directly: no allocation).
int clear_capabilities() noexcept {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    return ::syscall(SYS_capset, &header, data) == 0 ? 0 : errno;
}

enum class step : int { fds = 1, cwd, privileges, exec };

const char* step_name(int s) {
    switch (static_cast<step>(s)) {
    case step::fds: return "passing its file descriptors";
    case step::cwd: return "entering its directory";
    case step::privileges: return "dropping its privileges";
    case step::exec: return "executing it";
    }
    return "?";
}

struct failure {
    int step = 0;
    int err = 0;
};

// fds[i] becomes 3 + i. Each goes through a copy above the targets first,
// so a source that already sits on another's target is not overwritten;
// dup2 leaves the target without FD_CLOEXEC. Everything else above 2 gets
// FD_CLOEXEC (the report pipe has it already), so the daemon inherits
// nothing of the runner's: no netlink socket, no management listener.
int pass_fds(const std::vector<int>& fds) noexcept {
    const int first_free = 3 + static_cast<int>(fds.size());
    int copies[8];
    if (fds.size() > sizeof copies / sizeof copies[0]) {
        return E2BIG;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if ((copies[i] = ::fcntl(fds[i], F_DUPFD_CLOEXEC, first_free)) < 0) {
            return errno;
        }
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
        if (::dup2(copies[i], 3 + static_cast<int>(i)) < 0) {
            return errno;
        }
    }
    return ::syscall(SYS_close_range, first_free, ~0u, CLOSE_RANGE_CLOEXEC) == 0 ? 0 : errno;
}

// `report` is moved out of the way of the daemon's fds first, so that a
// failure can still be reported.
// It shares the runner's memory until it execs (sys/spawn.hpp), so the
// runner's handlers (its stop flag) go before any signal is unblocked.
failure exec_child(const daemon_spec& s, char* const* argv, char* const* envp, pid_t runner, int& report) noexcept {
    sys::reset_signals();
    int moved = ::fcntl(report, F_DUPFD_CLOEXEC, 3 + static_cast<int>(s.fds.size()));
    if (moved < 0) {
        return {static_cast<int>(step::fds), errno};
    }
    report = moved;
    if (int e = pass_fds(s.fds)) {
        return {static_cast<int>(step::fds), e};
    }
    if (!s.cwd.empty() && ::chdir(s.cwd.c_str()) != 0) {
        return {static_cast<int>(step::cwd), errno};
    }
    if (int e = become_daemon_user(s.who, s.fake_set_mtu)) {
        return {static_cast<int>(step::privileges), e};
    }
    // Cleared by the credential change above, so set only now.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != runner) {
        ::_exit(127);  // the runner died before the line above
    }
    ::execvpe(argv[0], argv, envp);
    return {static_cast<int>(step::exec), errno};
}

}  // namespace

int become_daemon_user(const daemon_identity& who, bool fake_set_mtu) noexcept {
    if (who.uid == 0 || who.gid == 0) {
        return EINVAL;
    }
    if (int e = sandbox::detail::drop_bounding_and_ambient(0)) {
        return e;
    }
    // The uid last: after it, CAP_SETGID is gone. Raw system calls: glibc's
    // wrappers would also change the credentials of the other threads of
    // the process they think they are in, which for a child sharing the
    // runner's memory (start_daemon) are the runner's.
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, who.gid, who.gid, who.gid) != 0 ||
        ::syscall(SYS_setresuid, who.uid, who.uid, who.uid) != 0) {
        return errno;
    }
    if (int e = clear_capabilities()) {
        return e;
    }
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        return errno;
    }
    return fake_set_mtu ? install_fake_set_mtu_filter() : 0;
}

sys::unique_fd listen_unix(const std::string& path, const daemon_identity& who) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) {
        throw moat::error("socket path too long: " + path);
    }
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        throw sys::errno_error("removing " + path);
    }
    sys::unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw sys::errno_error("creating a socket for " + path);
    }
    sys::check(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), "binding " + path);
    sys::check(::chown(path.c_str(), who.uid, who.gid), "handing " + path + " to the daemon");
    sys::check(::chmod(path.c_str(), 0600), "restricting " + path);
    sys::check(::listen(fd.get(), 4), "listening on " + path);
    return fd;
}

pid_t start_daemon(const daemon_spec& s) {
    // Built before fork: the child only makes system calls. The spec's
    // variables replace any of the same name (getenv takes the first).
    std::vector<std::string> env_strings;
    for (char** e = environ; e && *e; ++e) {
        std::string_view var(*e);
        bool replaced = std::any_of(s.env.begin(), s.env.end(), [&](const std::string& mine) {
            return var.substr(0, var.find('=') + 1) == std::string_view(mine).substr(0, mine.find('=') + 1);
        });
        if (!replaced) {
            env_strings.emplace_back(var);
        }
    }
    env_strings.insert(env_strings.end(), s.env.begin(), s.env.end());
    std::vector<char*> argv, envp;
    for (const auto& a : s.argv) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    for (const auto& e : env_strings) {
        envp.push_back(const_cast<char*>(e.c_str()));
    }
    envp.push_back(nullptr);
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
        throw sys::errno_error("starting " + s.argv[0]);
    }
    sys::unique_fd rd(report[0]), wr(report[1]);
    struct args {
        const daemon_spec& s;
        char* const* argv;
        char* const* envp;
        pid_t runner;
        int report;
    } a{s, argv.data(), envp.data(), ::getpid(), wr.get()};
    pid_t pid = sys::spawn_sharing_memory(
        [](void* p) -> int {
            auto* a = static_cast<args*>(p);
            int report_fd = a->report;
            failure f = exec_child(a->s, a->argv, a->envp, a->runner, report_fd);
            (void)!::write(report_fd, &f, sizeof f);
            return 127;
        },
        &a);
    if (pid < 0) {
        throw sys::errno_error("starting " + s.argv[0]);
    }
    wr.reset();
    failure f;
    ssize_t n;
    do {
        n = ::read(rd.get(), &f, sizeof f);
    } while (n < 0 && errno == EINTR);
    if (n == sizeof f) {
        ::waitpid(pid, nullptr, 0);
        throw sys::errno_error("starting " + s.argv[0] + ": " + step_name(f.step), f.err);
    }
    return pid;
}

}  // namespace moat::tunnel
