#include "container/fork_server.hpp"

#include "sys/error.hpp"
#include "sys/spawn.hpp"
#include "sys/title.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace moat::container {

namespace {

// One request: what spawn_options says, but stdio. With it, by
// SCM_RIGHTS, the init's end of its socket and, with has_cgroup, the
// cgroup's descriptor.
struct request {
    std::uint32_t flags = 0;
    char name[128] = {};  // only a title (sys/title.hpp cuts it anyway)
};
constexpr std::uint32_t new_network = 1, new_users = 2, has_cgroup = 4;
constexpr std::size_t max_request_fds = 2;
// The answer: clone_init()'s result, the pid or -errno.
using answer = std::int64_t;

constexpr int server_fd = 3;

// Receives one request; its descriptors into fds (-1 where none came).
// Returns false at EOF or on an error of the socket.
bool receive(request& rq, int (&fds)[max_request_fds], bool& well_formed) noexcept {
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_request_fds)];
    for (;;) {
        iovec iov{&rq, sizeof rq};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        ssize_t n = ::recvmsg(server_fd, &m, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        std::size_t count = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
                continue;
            }
            std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < k; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                if (count < max_request_fds) {
                    fds[count++] = fd;
                } else {
                    ::close(fd);
                }
            }
        }
        std::size_t expected = (rq.flags & has_cgroup) ? 2 : 1;
        well_formed = n == sizeof rq && !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && count == expected;
        rq.name[sizeof rq.name - 1] = '\0';
        return true;
    }
}

// The server's loop, in the fork: no allocation, no exception, no write to
// the heap it shares with every init (the point of it).
[[noreturn]] void serve() noexcept {
    for (;;) {
        request rq;
        int fds[max_request_fds] = {-1, -1};
        bool well_formed = false;
        if (!receive(rq, fds, well_formed)) {
            ::_exit(0);  // `up` is done (or gone)
        }
        answer result = -EPROTO;
        if (well_formed) {
            spawn_options o;
            o.new_network = rq.flags & new_network;
            o.new_users = rq.flags & new_users;
            o.cgroup_fd = (rq.flags & has_cgroup) ? fds[1] : -1;
            o.name = rq.name;
            // fd 0 is /dev/null (server_main). CLONE_PARENT: the init is
            // the CLI's child, as if the CLI had cloned it.
            result = clone_init(o, fds[0], 0, CLONE_PARENT);
        }
        for (int fd : fds) {
            if (fd >= 0) {
                ::close(fd);
            }
        }
        if (::send(server_fd, &result, sizeof result, MSG_NOSIGNAL) != sizeof result) {
            ::_exit(0);
        }
    }
}

// A padding argument: an init titles itself over its argv's strings
// (sys/title.hpp), which the server's short argv would cut to a few bytes.
constexpr char title_room[] =
    "                                                                                                    ";

}  // namespace

int fork_server_main(int argc, char** argv) noexcept {
    // Dies with the CLI (kill -9 included); if the CLI died before this
    // prctl, the parent is already someone else. Run by hand, without a
    // CLI's socket on fd 3, it exits at once.
    int type = 0;
    socklen_t len = sizeof type;
    if (argc != 4 || ::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || std::strtol(argv[2], nullptr, 10) != ::getppid() ||
        ::getsockopt(server_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) {
        return 1;
    }
    const char* title[] = {"moat-forks", nullptr};
    sys::set_title("moat-forks", title);
    serve();
}

fork_server::fork_server(const char* exe) {
    int pair[2];
    sys::check(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), "creating the fork server's socket");
    sys::unique_fd ours(pair[0]), theirs(pair[1]);
    // Above the descriptors the child's dup2s write: dup2 of a descriptor
    // onto itself would keep its close-on-exec flag.
    sys::unique_fd high(::fcntl(theirs.get(), F_DUPFD_CLOEXEC, server_fd + 1));
    if (!high) {
        throw sys::errno_error("starting the fork server");
    }
    // /dev/null on 0-2 (what the inits get), the socket on 3, and nothing
    // else of the CLI's: above all not the state directory's lock. Out of
    // the terminal's process group: a Ctrl-C reaches the CLI, whose death
    // ends the server; never the server alone under a live `up`.
    sys::spawn_setup setup("starting the fork server");
    setup.open(0, "/dev/null", O_RDWR);
    setup.dup2(0, 1);
    setup.dup2(0, 2);
    setup.dup2(high.get(), server_fd);
    setup.close_from(server_fd + 1);
    sigset_t none;
    sigemptyset(&none);
    setup.signal_mask(none);
    setup.own_process_group();
    std::string cli = std::to_string(::getpid());
    char* argv[] = {const_cast<char*>("moat-forks"), const_cast<char*>(fork_server_argument), cli.data(),
                    const_cast<char*>(title_room), nullptr};
    pid_t pid = -1;
    if (int rc = setup.spawn(pid, exe, argv, environ); rc != 0) {
        throw sys::errno_error(std::string("starting the fork server (") + exe + ")", rc);
    }
    _pid = pid;
    _sock = std::move(ours);
}

fork_server::~fork_server() {
    _sock.reset();  // EOF: the server exits
    while (::waitpid(_pid, nullptr, 0) < 0 && errno == EINTR) {
    }
}

spawned fork_server::spawn(const spawn_options& o) {
    for (int fd : o.stdio) {
        if (fd >= 0) {
            throw moat::error("the fork server gives an init /dev/null only");
        }
    }
    int pair[2];
    sys::check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), "creating the init's socket");
    sys::unique_fd ours(pair[0]), theirs(pair[1]);

    request rq;
    rq.flags = (o.new_network ? new_network : 0) | (o.new_users ? new_users : 0) | (o.cgroup_fd >= 0 ? has_cgroup : 0);
    if (o.name) {
        std::strncpy(rq.name, o.name, sizeof rq.name - 1);
    }
    int fds[max_request_fds] = {theirs.get(), o.cgroup_fd};
    std::size_t nfds = o.cgroup_fd >= 0 ? 2 : 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_request_fds)] = {};
    iovec iov{&rq, sizeof rq};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    ssize_t n;
    while ((n = ::sendmsg(_sock.get(), &m, MSG_NOSIGNAL)) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof rq)) {
        throw sys::errno_error(std::string(clone_failed) + ": asking the fork server", n < 0 ? errno : EPIPE);
    }
    answer result = 0;
    while ((n = ::recv(_sock.get(), &result, sizeof result, 0)) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof result)) {
        throw moat::error(std::string(clone_failed) + ": the fork server exited");
    }
    if (result < 0) {
        throw sys::errno_error(clone_failed, static_cast<int>(-result));
    }
    return spawned{static_cast<pid_t>(result), std::move(ours)};
}

}  // namespace moat::container
