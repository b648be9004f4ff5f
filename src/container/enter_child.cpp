// The joiner and the command before execve; see enter.cpp.
#include "container/enter_child.hpp"

#include "sandbox/privileges.hpp"

#include <errno.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace moat::container::detail {

namespace {

void send_report(int sock, step what, int err, const int* fds, int nfds) noexcept {
    report r{what, err};
    iovec iov{&r, sizeof r};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
    if (nfds > 0) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        std::memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    while (::sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
    }
}

[[noreturn]] void fail(const child_plan& p, step what, int err, int code = 127) noexcept {
    send_report(p.report, what, err, nullptr, 0);
    ::_exit(code);
}

// Closes every descriptor above 2 except those in `keep` (-1 entries ignored).
int close_all_but(std::array<int, 3> keep) noexcept {
    std::sort(keep.begin(), keep.end());
    unsigned next = 3;
    for (int fd : keep) {
        if (fd < 0 || static_cast<unsigned>(fd) < next) {
            continue;
        }
        if (static_cast<unsigned>(fd) > next && ::close_range(next, static_cast<unsigned>(fd) - 1, 0) < 0) {
            return errno;
        }
        next = static_cast<unsigned>(fd) + 1;
    }
    return ::close_range(next, ~0U, 0) < 0 ? errno : 0;
}

[[noreturn]] void command_child(const child_plan& p, int slave) noexcept {
    stdio_relay::reset_child_signals();
    if (slave >= 0) {
        if (int err = attach_terminal_noexcept(slave)) {
            fail(p, step::terminal, err);
        }
    } else if (::setsid() < 0) {
        fail(p, step::terminal, errno);
    }
    // What is left above 2 (the report socket, the master) closes at execve.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
        fail(p, step::stdio, errno);
    }
    if (::chdir(p.cwd) < 0 && ::chdir("/") < 0) {
        fail(p, step::chdir, errno);
    }
    if (int err = sandbox::drop_privileges_noexcept()) {
        fail(p, step::privileges, err);
    }
    // execvpe searches getenv("PATH"), not envp's: the container's PATH,
    // never the caller's, must be the one searched.
    environ = p.envp;
    ::execvpe(p.argv[0], p.argv, p.envp);
    int err = errno;
    fail(p, step::exec, err, err == ENOENT ? 127 : 126);
}

}  // namespace

[[noreturn]] void joiner_child(const child_plan& p) noexcept {
    // Not dumpable, so no process of the container may ptrace this one or
    // the command, or open their /proc/PID/fd, before execve (which makes
    // the command dumpable again): the command is dumpable, and holds only
    // the container's own pty or pipes, once it runs.
    if (::prctl(PR_SET_DUMPABLE, 0) < 0) {
        fail(p, step::stdio, errno);
    }
    for (int fd = 0; fd < 3; ++fd) {
        if (::dup2(p.stdio[fd], fd) < 0) {
            fail(p, step::stdio, errno);
        }
    }
    if (int err = close_all_but({p.init_pidfd, p.cgroup_procs, p.report})) {
        fail(p, step::stdio, err);
    }
    if (p.cgroup_procs >= 0 && (::write(p.cgroup_procs, "0", 1) < 0 || ::close(p.cgroup_procs) < 0)) {
        fail(p, step::cgroup, errno);
    }
    if (::setns(p.init_pidfd, p.ns_flags) < 0) {
        fail(p, step::join, errno);
    }
    ::close(p.init_pidfd);
    // setns(CLONE_NEWUSER) gives a full capability set in the new namespace
    // but keeps our uids, and host root is not mapped in it. setresuid to 0
    // from a uid that is not the namespace's root keeps the capabilities:
    // the kernel (cap_emulate_setxuid) clears them only when every uid goes
    // from root to non-root, and sets effective = permitted when the euid
    // becomes 0. setgroups first: the caller's supplementary groups must
    // not come along (needs setgroups "allow" in the namespace).
    if (p.join_user && (::setgroups(0, nullptr) < 0 || ::setresgid(0, 0, 0) < 0 || ::setresuid(0, 0, 0) < 0)) {
        fail(p, step::become_root, errno);
    }
    int master = -1, slave = -1;
    if (p.mode == stdio_relay::mode::terminal) {
        if (int err = open_pty_noexcept(*p.terminal, master, slave)) {
            fail(p, step::pty, err);
        }
    }
    int pidfd = -1;
    clone_args ca{};
    ca.flags = CLONE_PARENT | CLONE_PIDFD;  // exit_signal must be 0: the joiner's (SIGCHLD) is used
    ca.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
    long pid = ::syscall(SYS_clone3, &ca, sizeof ca);
    if (pid < 0) {
        fail(p, step::clone, errno);
    }
    if (pid == 0) {
        command_child(p, slave);
    }
    int fds[2] = {pidfd, master};
    send_report(p.report, step::started, 0, fds, master >= 0 ? 2 : 1);
    ::_exit(0);
}

}  // namespace moat::container::detail
