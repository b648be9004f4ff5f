// `moat exec` / `moat login`: run a command inside a running container.
//
// Theory of operation. Three processes, so that nothing of the operator's
// reaches the container (relay.hpp says why that matters):
//
//  * moat itself never joins the container. It keeps the operator's
//    terminal and descriptors and relays the command's stdio (stdio_relay).
//  * The joiner, forked from moat, first makes its fds 0-2 the command's
//    (the relay's pipe ends, or /dev/null until the pty exists) and closes
//    every other descriptor but the three it needs (close_range), so nothing
//    of the caller's is left before anything of the container is joined.
//    It moves itself into the container's cgroup (writing "0" to
//    cgroup.procs moves the writer; it must happen before setns, while the
//    host's cgroup namespace and credentials still apply), then joins all
//    of the init's namespaces with one setns(pidfd, flags) (Linux 5.8): the
//    kernel installs them together, the user namespace first so that the
//    others are checked against the capabilities held in it. A user
//    namespace is joined only when the init's differs from moat's
//    (joining one's own fails with EINVAL). In terminal mode it then
//    allocates the pty from the container's devpts. setns(CLONE_NEWPID)
//    moves only children, so it clones the command — with CLONE_PARENT,
//    making moat its parent, which reaps and signals it by pidfd — sends
//    moat the command's pidfd and the pty master over a unix socket, and
//    exits. It is never in the container's PID namespace, so no process
//    inside can see it.
//  * The command: a session of its own (in pipe mode it must not keep
//    moat's controlling terminal: the container's /dev/tty is the host's
//    device node, and opening it opens the caller's controlling terminal),
//    the pty as controlling terminal in terminal mode, the privilege drop of
//    services (sandbox::drop_privileges_noexcept), then execve with an
//    environment of PATH, HOME and TERM only, none of it the caller's but
//    TERM's name.
//
// Failures between fork and execve come back through the socket as (step,
// errno); it is O_CLOEXEC, so its EOF means the command was exec'd (or the
// joiner died).
#include "container/relay.hpp"
#include "container/runtime.hpp"

#include "sandbox/privileges.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace moat::container {

namespace {

constexpr const char* container_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

enum class step : std::int32_t { started, stdio, cgroup, join, become_root, pty, clone, terminal, chdir, privileges, exec };

const char* doing(step s) {
    switch (s) {
    case step::started: return "starting";
    case step::stdio: return "setting up the command's stdio";
    case step::cgroup: return "joining the container's cgroup";
    case step::join: return "joining the container's namespaces";
    case step::become_root: return "becoming root of the container's user namespace";
    case step::pty: return "allocating a pty from the container's /dev/pts/ptmx";
    case step::clone: return "starting the command in the container's PID namespace";
    case step::terminal: return "making the pty the command's terminal";
    case step::chdir: return "changing to the command's directory";
    case step::privileges: return "dropping privileges";
    case step::exec: return "executing the command";
    }
    return "entering";
}

struct report {
    step what;
    std::int32_t err;
};

// Everything the joiner and the command need, built before the fork.
struct child_plan {
    int init_pidfd = -1;
    int ns_flags = 0;
    bool join_user = false;
    int cgroup_procs = -1;
    int report = -1;
    stdio_relay::mode mode = stdio_relay::mode::pipes;
    std::array<int, 3> stdio{-1, -1, -1};
    const terminal_settings* terminal = nullptr;
    char** argv = nullptr;
    char** envp = nullptr;
    const char* cwd = "/";
};

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

[[noreturn]] void joiner_child(const child_plan& p) noexcept {
    for (int fd = 0; fd < 3; ++fd) {
        if (::dup2(p.stdio[fd], fd) < 0) {
            fail(p, step::stdio, errno);
        }
    }
    if (int err = close_all_but({p.init_pidfd, p.cgroup_procs, p.report})) {
        fail(p, step::stdio, err);
    }
    if (p.cgroup_procs >= 0 && ::write(p.cgroup_procs, "0", 1) < 0) {
        fail(p, step::cgroup, errno);
    }
    if (::setns(p.init_pidfd, p.ns_flags) < 0) {
        fail(p, step::join, errno);
    }
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

struct outcome {
    sys::unique_fd command;  // pidfd
    sys::unique_fd master;
    std::optional<report> failure;
};

// Reads the children's reports until EOF (the command exec'd or died).
outcome collect(int sock) {
    outcome out;
    for (;;) {
        report r{};
        iovec iov{&r, sizeof r};
        alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n == 0) {
            return out;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw sys::errno_error("reading from the process joining the container");
        }
        std::vector<sys::unique_fd> fds;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (std::size_t i = 0; i < count; ++i) {
                    int fd;
                    std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                    fds.emplace_back(fd);
                }
            }
        }
        if (r.what == step::started && !fds.empty()) {
            out.command = std::move(fds[0]);
            if (fds.size() > 1) {
                out.master = std::move(fds[1]);
            }
        } else if (r.what != step::started && !out.failure) {
            out.failure = r;
        }
    }
}

// A stdio descriptor that is closed would be reused by the relay's pipes,
// and dup2 onto itself would leave it O_CLOEXEC in the command.
void ensure_stdio_open() {
    for (int fd = 0; fd < 3; ++fd) {
        if (::fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int null = ::open("/dev/null", O_RDWR);  // the lowest free number: fd
            if (null != fd) {
                throw sys::errno_error("opening /dev/null for a closed stdio descriptor");
            }
        }
    }
}

bool other_user_namespace(pid_t pid) {
    struct stat mine {}, theirs {};
    sys::check(::stat("/proc/self/ns/user", &mine), "reading moat's user namespace");
    sys::check(::stat(("/proc/" + std::to_string(pid) + "/ns/user").c_str(), &theirs),
               "reading the container's user namespace");
    return mine.st_dev != theirs.st_dev || mine.st_ino != theirs.st_ino;
}

// TERM names a terminfo entry; anything else (a path, an escape) is dropped.
std::optional<std::string> sane_term() {
    const char* term = ::getenv("TERM");
    if (!term || !*term || std::strlen(term) > 64) {
        return std::nullopt;
    }
    for (const char* c = term; *c; ++c) {
        if (!std::isalnum(static_cast<unsigned char>(*c)) && !std::strchr("-_.+", *c)) {
            return std::nullopt;
        }
    }
    return std::string(term);
}

// argv and envp as the C arrays execve takes, owned here.
struct image {
    std::vector<std::string> args, env;
    std::vector<char*> argv, envp;

    image(const std::vector<std::string>& command, stdio_relay::mode mode) : args(command) {
        env = {container_path, "HOME=/root"};
        if (auto term = sane_term(); term && mode == stdio_relay::mode::terminal) {
            env.push_back("TERM=" + *term);
        }
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        for (auto& e : env) {
            envp.push_back(e.data());
        }
        envp.push_back(nullptr);
    }
};

void wait_pid(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

void wait_pidfd(int pidfd) {
    siginfo_t si{};
    while (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &si, WEXITED) < 0 && errno == EINTR) {
    }
}

}  // namespace

int enter(const state::container_record& rec, const std::vector<std::string>& argv, const enter_options& opts) {
    // The pidfd names the recorded init only if it is still alive after
    // pidfd_open; the user namespace read through /proc/PID was its own
    // only if it is still alive after that.
    sys::unique_fd init(static_cast<int>(::syscall(SYS_pidfd_open, rec.init.pid, 0)));
    if (!init || !sys::process_alive(rec.init)) {
        throw moat::error("container " + rec.name + " is not running");
    }
    child_plan p;
    p.join_user = other_user_namespace(rec.init.pid);
    if (!sys::process_alive(rec.init)) {
        throw moat::error("container " + rec.name + " is not running");
    }
    try {
        ensure_stdio_open();
        p.init_pidfd = init.get();
        p.ns_flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWCGROUP |
                     (p.join_user ? CLONE_NEWUSER : 0);
        sys::unique_fd cgroup;
        if (!rec.cgroup.empty() && sys::path_exists(rec.cgroup + "/cgroup.procs")) {
            cgroup = sys::unique_fd(::open((rec.cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
            if (!cgroup) {
                throw sys::errno_error("opening " + rec.cgroup + "/cgroup.procs");
            }
            p.cgroup_procs = cgroup.get();
        }

        stdio_relay relay(stdio_relay::mode_for_stdin());
        image img(argv, relay.kind());
        sys::unique_fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
        if (!devnull) {
            throw sys::errno_error("opening /dev/null");
        }
        p.mode = relay.kind();
        p.stdio = p.mode == stdio_relay::mode::pipes ? relay.child_stdio()
                                                      : std::array<int, 3>{devnull.get(), devnull.get(), devnull.get()};
        p.terminal = &relay.initial_terminal();
        p.argv = img.argv.data();
        p.envp = img.envp.data();
        p.cwd = opts.cwd.c_str();
        int sv[2];
        sys::check(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "creating a socket pair");
        sys::unique_fd ours(sv[0]), theirs(sv[1]);
        p.report = theirs.get();

        std::fflush(nullptr);  // the child must not write our buffered output again
        pid_t joiner = ::fork();
        sys::check(joiner, "forking");
        if (joiner == 0) {
            joiner_child(p);
        }
        theirs.reset();
        auto started = collect(ours.get());
        wait_pid(joiner);
        if (started.failure) {
            if (started.command) {
                wait_pidfd(started.command.get());
            }
            int err = started.failure->err;
            if (started.failure->what == step::exec) {
                std::fprintf(stderr, "moat: exec: cannot run '%s' in container %s: %s\n", argv[0].c_str(),
                             rec.name.c_str(), std::strerror(err));
                return err == ENOENT ? 127 : 126;
            }
            throw sys::errno_error(doing(started.failure->what), err);
        }
        if (!started.command) {
            throw moat::error("the process joining the container died before starting the command");
        }
        if (started.master) {
            relay.set_master(std::move(started.master));
        }
        return relay.run(started.command.get());
    } catch (...) {
        moat::add_context("entering container " + rec.name);
    }
}

}  // namespace moat::container
