// `moat exec` / `moat login`: run a command inside a running container.
//
// Theory of operation. Three processes, so that nothing of the operator's
// reaches the container (relay.hpp says why that matters):
//
//  * moat itself never joins the container. It keeps the operator's
//    terminal and descriptors and relays the command's stdio (stdio_relay).
//  * The joiner, forked from moat, is not dumpable (PR_SET_DUMPABLE 0, kept
//    by the command until its execve): no process of the container may
//    ptrace it or open its /proc/PID/fd. It makes its fds 0-2 the
//    command's (the relay's pipe ends, or /dev/null until the pty exists)
//    and closes every other descriptor but the three it needs
//    (close_range), so nothing of the caller's is left before anything of
//    the container is joined.
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
#include "container/enter_child.hpp"
#include "container/init_main.hpp"
#include "container/relay.hpp"
#include "container/runtime.hpp"
#include "sandbox/privileges.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace moat::container {

namespace {

using detail::child_plan;
using detail::report;
using detail::step;

constexpr const char* container_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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

// A pidfd of the recorded init. It names that process only if it is still
// alive after pidfd_open; and the user namespace read through /proc/PID was
// its own only if it is still alive after that.
sys::unique_fd open_init(const state::container_record& rec, bool& other_user_ns) {
    if (rec.origin == "cni") {
        throw moat::error("container " + rec.name + " is a CNI attachment (" + rec.cni.value("container_id", "") +
                          " on network " + rec.cni.value("network", "") +
                          "): its processes are its engine's; use the engine's exec");
    }
    sys::unique_fd init(static_cast<int>(::syscall(SYS_pidfd_open, rec.init.pid, 0)));
    if (!init || !sys::process_alive(rec.init)) {
        throw moat::error("container " + rec.name + " is not running");
    }
    other_user_ns = other_user_namespace(rec.init.pid);
    if (!sys::process_alive(rec.init)) {
        throw moat::error("container " + rec.name + " is not running");
    }
    return init;
}

sys::unique_fd open_cgroup_procs(const state::container_record& rec) {
    if (rec.cgroup.empty() || !sys::path_exists(rec.cgroup + "/cgroup.procs")) {
        return {};
    }
    sys::unique_fd fd(::open((rec.cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
        throw sys::errno_error("opening " + rec.cgroup + "/cgroup.procs");
    }
    return fd;
}

// Forks the joiner with plan `p` and returns what it and the command
// reported, once the command was exec'd or failed.
outcome start(child_plan& p) {
    int sv[2];
    sys::check(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), "creating a socket pair");
    sys::unique_fd ours(sv[0]), theirs(sv[1]);
    p.report = theirs.get();
    std::fflush(nullptr);  // the child must not write our buffered output again
    sandbox::prepare_privileges();  // the command's process only loads the filter
    pid_t joiner = ::fork();
    sys::check(joiner, "forking");
    if (joiner == 0) {
        detail::joiner_child(p);
    }
    theirs.reset();
    auto started = collect(ours.get());
    wait_pid(joiner);
    if (started.failure && started.command) {
        wait_pidfd(started.command.get());
    }
    return started;
}

}  // namespace

int enter(const state::container_record& rec, const std::vector<std::string>& argv, const enter_options& opts) {
    ensure_stdio_open();  // before a descriptor of ours can take 0, 1 or 2
    // The same privileges as the container's services.
    sandbox::keep_also(extra_capabilities(plan::plan_from_json(rec.spec)));
    child_plan p;
    sys::unique_fd init = open_init(rec, p.join_user);
    try {
        p.init_pidfd = init.get();
        p.ns_flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWCGROUP |
                     (p.join_user ? CLONE_NEWUSER : 0);
        sys::unique_fd cgroup = open_cgroup_procs(rec);
        p.cgroup_procs = cgroup.get();
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

        auto started = start(p);
        if (started.failure) {
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