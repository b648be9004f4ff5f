#include "container/spawn.hpp"

#include "container/init_main.hpp"
#include "sys/error.hpp"
#include "sys/title.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace moat::container {

namespace {

// Child side, between clone3 and init_main: no allocation, no exceptions
// until the descriptors are in place.
[[noreturn]] void init_child(int channel, int devnull, const spawn_options& o) noexcept {
    // A session of its own, always: under `moat run` in terminal mode its
    // controlling terminal becomes the pty it makes; otherwise it has none,
    // so the container's /dev/tty (the host's device node) never opens the
    // caller's terminal.
    ::setsid();
    const char* title[] = {"moat-init", o.name ? o.name : "", nullptr};
    sys::set_title("moat-init", title);
    for (int fd = 0; fd < 3; ++fd) {
        if (::dup2(o.stdio[fd] >= 0 ? o.stdio[fd] : devnull, fd) < 0) {
            ::_exit(127);
        }
    }
    // dup2 onto itself keeps O_CLOEXEC; move through a spare fd first.
    int tmp = ::fcntl(channel, F_DUPFD, 10);
    if (tmp < 0 || ::dup2(tmp, init_channel_fd) < 0) {
        ::_exit(127);
    }
    // Nothing of the parent's but the socket and stdio: above all not the
    // state directory's lock, which would stay held for the init's life.
    if (::close_range(init_channel_fd + 1, ~0U, 0) != 0) {
        ::_exit(127);
    }
    int rc = 1;
    try {
        rc = init_main(o.new_network, o.plan);
    } catch (...) {
    }
    ::_exit(rc);
}

}  // namespace

long clone_init(const spawn_options& o, int channel, int devnull, std::uint64_t extra_flags) noexcept {
    clone_args ca{};
    ca.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP | extra_flags;
    if (o.new_network) {
        ca.flags |= CLONE_NEWNET;
    }
    if (o.new_users) {
        ca.flags |= CLONE_NEWUSER;
    }
    if (o.cgroup_fd >= 0) {
        ca.flags |= CLONE_INTO_CGROUP;
        ca.cgroup = static_cast<std::uint64_t>(o.cgroup_fd);
    }
    // With CLONE_PARENT clone3 wants exit_signal 0 and uses the caller's
    // own (the fork server's: SIGCHLD, from fork()).
    ca.exit_signal = (extra_flags & CLONE_PARENT) ? 0 : SIGCHLD;
    long pid = ::syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0) {
        init_child(channel, devnull, o);
    }
    return pid < 0 ? -errno : pid;
}

spawned spawn_init(const spawn_options& o) {
    int pair[2];
    sys::check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), "creating the init's socket");
    sys::unique_fd ours(pair[0]), theirs(pair[1]);
    sys::unique_fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) {
        throw sys::errno_error("opening /dev/null");
    }
    // The child runs on with a copy of our stdio buffers: empty them
    // first, or whatever they hold would be written twice.
    std::fflush(nullptr);
    long pid = clone_init(o, theirs.get(), devnull.get());
    if (pid < 0) {
        throw sys::errno_error(clone_failed, static_cast<int>(-pid));
    }
    return spawned{static_cast<pid_t>(pid), std::move(ours)};
}

}  // namespace moat::container
