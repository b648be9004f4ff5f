#include "container/spawn.hpp"

#include "container/init_main.hpp"
#include "sys/error.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

namespace moat::container {

namespace {

// Child side, between clone3 and init_main: no allocation, no exceptions
// until the descriptors are in place.
[[noreturn]] void init_child(int spec_r, int ready_w, int devnull, const spawn_options& o) noexcept {
    if (o.new_session) {
        ::setsid();
    }
    if (o.null_stdio) {
        for (int fd = 0; fd < 3; ++fd) {
            if (::dup2(devnull, fd) < 0) {
                ::_exit(127);
            }
        }
    }
    // dup2 onto itself keeps O_CLOEXEC; move through a spare fd first.
    int tmp_spec = ::fcntl(spec_r, F_DUPFD, 10);
    int tmp_ready = ::fcntl(ready_w, F_DUPFD, 10);
    if (tmp_spec < 0 || tmp_ready < 0 || ::dup2(tmp_spec, init_spec_fd) < 0 ||
        ::dup2(tmp_ready, init_ready_fd) < 0) {
        ::_exit(127);
    }
    // Nothing of the parent's but the pipes and stdio: above all not the
    // state directory's lock, which would stay held for the init's life.
    if (::close_range(init_ready_fd + 1, ~0U, 0) != 0) {
        ::_exit(127);
    }
    int rc = 1;
    try {
        rc = init_main();
    } catch (...) {
    }
    ::_exit(rc);
}

}  // namespace

spawned spawn_init(const spawn_options& o) {
    int spec_pipe[2];
    int ready_pipe[2];
    sys::check(::pipe2(spec_pipe, O_CLOEXEC), "creating a pipe");
    sys::unique_fd spec_r(spec_pipe[0]), spec_w(spec_pipe[1]);
    sys::check(::pipe2(ready_pipe, O_CLOEXEC), "creating a pipe");
    sys::unique_fd ready_r(ready_pipe[0]), ready_w(ready_pipe[1]);
    sys::unique_fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (!devnull) {
        throw sys::errno_error("opening /dev/null");
    }

    clone_args ca{};
    ca.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
    if (o.new_network) {
        ca.flags |= CLONE_NEWNET;
    }
    if (o.cgroup_fd >= 0) {
        ca.flags |= CLONE_INTO_CGROUP;
        ca.cgroup = static_cast<std::uint64_t>(o.cgroup_fd);
    }
    ca.exit_signal = SIGCHLD;
    // The child runs on with a copy of our stdio buffers: empty them
    // first, or whatever they hold would be written twice.
    std::fflush(nullptr);
    long pid = ::syscall(SYS_clone3, &ca, sizeof ca);
    if (pid < 0) {
        throw sys::errno_error("creating the container's namespaces (clone3)");
    }
    if (pid == 0) {
        init_child(spec_r.get(), ready_w.get(), devnull.get(), o);
    }
    return spawned{static_cast<pid_t>(pid), std::move(spec_w), std::move(ready_r)};
}

}  // namespace moat::container
