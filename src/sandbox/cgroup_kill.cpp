#include "sandbox/cgroup.hpp"

#include "sandbox/cgroup_io.hpp"
#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>

namespace moat::sandbox {

namespace {

using std::chrono::milliseconds;
using clock = std::chrono::steady_clock;

// Re-reads cgroup.events from the start: that is also what re-arms POLLPRI
// for the next change (kernfs compares the file's event count with the one
// seen by the last read).
bool still_populated(int fd, const std::string& path) {
    char buf[256];
    ssize_t n;
    do {
        n = ::pread(fd, buf, sizeof buf - 1, 0);
    } while (n < 0 && errno == EINTR);
    sys::check(n, "reading " + path);
    return detail::keyed_value(std::string(buf, static_cast<size_t>(n)), "populated") == 1;
}

void wait_for_change(int fd, milliseconds timeout) {
    pollfd p{fd, POLLPRI, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::max<long long>(timeout.count(), 0)));
    if (rc < 0 && errno != EINTR) {
        throw sys::errno_error("waiting for the cgroup to empty");
    }
}

}  // namespace

void cgroup::kill_all(milliseconds timeout, kill_method method) const {
    const auto deadline = clock::now() + timeout;
    const std::string events_path = _path + "/cgroup.events";
    sys::unique_fd events(::open(events_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!events) {
        if (errno == ENOENT) {
            return;  // already gone
        }
        throw sys::errno_error("opening " + events_path);
    }
    // Empty already (a `run` whose init has exited): nothing to signal.
    if (!still_populated(events.get(), events_path)) {
        return;
    }
    const bool atomic = method == kill_method::automatic && ::access((_path + "/cgroup.kill").c_str(), F_OK) == 0;
    if (atomic) {
        detail::write_knob(_path + "/cgroup.kill", "1");
    }
    for (;;) {
        if (!still_populated(events.get(), events_path)) {
            return;
        }
        if (!atomic) {
            for (pid_t pid : pids()) {
                ::kill(pid, SIGKILL);  // ESRCH: it exited between the read and now
            }
        }
        auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
        if (left <= milliseconds::zero()) {
            throw moat::error("killing the processes of cgroup " + _path + ": " +
                              std::to_string(pids().size()) + " still running after " +
                              std::to_string(timeout.count()) + " ms");
        }
        // cgroup.kill reaches every member, including ones forked meanwhile;
        // per-PID signals can miss a child forked after cgroup.procs was
        // read, and "populated" then never changes, so look again soon.
        wait_for_change(events.get(), atomic ? left : std::min(left, milliseconds(50)));
    }
}

}  // namespace moat::sandbox
