// moat's init: PID 1 of every container. It starts the container's
// services, keeps them running by their restart policy, and takes them all
// down on SIGTERM.
//
// Theory of operation: PID 1 of a PID namespace inherits every orphan of the
// namespace and gets no default signal actions from the kernel, so it must
// reap and must itself decide what SIGTERM means. One epoll loop waits on
//  * a signalfd: SIGCHLD, SIGTERM, SIGINT and SIGHUP are blocked and read
//    from it, so nothing runs in signal-handler context;
//  * a timerfd armed for the earliest deadline: the next restart, the end
//    of the shutdown grace period, or a delayed services.json update;
//  * the read end of each service's output pipe.
// Nothing sleeps and nothing polls on a period.
//
//  * Start: services in `after` order (a service starts once those it names
//    have been started — ordering, not readiness, like systemd's After=).
//  * Each service runs in its own session (so one kill(-pgid) reaches all it
//    started), stdin from /dev/null, stdout and stderr the write end of a
//    pipe the init reads (log_file.hpp: the service never holds a descriptor
//    of its log file, so the size cap holds against it), environment =
//    base_environment overlaid with its own, and
//    prepare_child() (dropping privileges) right before execve. argv/envp
//    are built before fork; the child only calls async-signal-safe code,
//    prepare_child and execve.
//  * Exit: on every SIGCHLD, waitpid(-1, WNOHANG) until nothing is left, so
//    orphans adopted from the services are reaped too. A service is
//    restarted by its policy ("no"; "on-failure" = non-zero status or a
//    signal; "always"). The first restart since the service last ran for
//    10 s (or since it was first started) is immediate; each further one
//    waits a back-off that starts at 100 ms and doubles up to 5 s, and a
//    run of 10 s starts the count again: a rare crash (a daemon killed
//    once) restarts at once, a crash loop gets one immediate restart and
//    then backs off, so it never spins.
//  * SIGTERM/SIGINT: restarts stop, SIGTERM goes to every service's process
//    group, and after the grace period SIGKILL goes to everything — as PID 1
//    of a namespace kill(-1) reaches every process in it (only then: outside
//    a PID namespace kill(-1) would reach the whole machine).
//  * exit_with (`moat run`): when that service ends, the others are stopped
//    and init returns its status (signal N -> 128 + N), also when the end
//    was caused by a SIGTERM to init. Without exit_with a stop returns 0.
//  * SIGHUP is passed to the exit_with service (its terminal hung up) and is
//    otherwise only logged.
//
//  * Output: one pipe per service for the init's whole life (a restarted
//    service and the daemons an earlier run left behind write to the same
//    one). Its read end is non-blocking and read at most `read_budget` bytes
//    per wakeup, so a service that writes faster than the init can log only
//    fills its pipe and blocks (back-pressure) while signals, exits and the
//    other services' output are still served. On a service's exit, and
//    before the init returns, its pipe is drained and a last partial line
//    written.
//
// init.log gets one timestamped line per event, bounded like a service's
// log; services.json (replaced atomically in the log directory on every
// change) is what `moat status` and `moat logs` show, in the shape
// docs/JSON.md documents.
#pragma once

#include "config/model.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moat::init {

struct service {
    std::string name;
    std::vector<std::string> argv;  // a script becomes {"/bin/sh", "-c", script}
    std::map<std::string, std::string> environment;
    config::restart_policy restart = config::restart_policy::no;
    std::vector<std::string> after;  // names of services of this container
};

// The size cap of each log (a service's, init.log): `files` files of at most
// `size` bytes each, lines cut at `line` bytes (log_file.hpp).
struct log_limits {
    std::uint64_t size = 1 << 20;
    unsigned files = 2;
    std::size_t line = 16 * 1024;
};

struct spec {
    std::string container;  // named in init.log
    std::vector<service> services;
    int log_dir_fd = -1;  // <service>.log, init.log, services.json; -1: stdio, no files
    log_limits logs;
    std::optional<std::string> exit_with;  // `moat run`
    bool inherit_stdio = false;  // `moat run`: the exit_with service uses init's stdio
    std::map<std::string, std::string> base_environment;  // under each service's own
    std::chrono::milliseconds grace{5000};  // SIGTERM -> SIGKILL
    std::chrono::milliseconds backoff_initial{100};  // the second restart's; the first is immediate
    std::chrono::milliseconds backoff_max{5000};
    std::chrono::milliseconds backoff_reset_after{10000};  // a run this long resets the back-off
};

// Runs until stopped (SIGTERM/SIGINT) or until exit_with ends; returns the
// status init should exit with. Throws moat::usage_error for a bad spec
// (unknown or cyclic `after`, duplicate names, unknown exit_with) before
// anything is started. `prepare_child` (may be empty) runs in each service
// process right before execve and returns 0 or an errno value; on non-zero
// the service exits 126 after saying why in its log.
int run(const spec& s, std::function<int()> prepare_child);

// Indices of s.services in start order: stable (declaration order among
// services that are free to start), each after those it names in `after`.
std::vector<std::size_t> start_order(const std::vector<service>& services);

}  // namespace moat::init
