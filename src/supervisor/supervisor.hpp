// The container's PID 1: starts its services, keeps them running by their
// restart policy, and takes them all down on SIGTERM.
//
// Theory: PID 1 of a PID namespace inherits every orphan and the kernel
// gives it no default signal handling, so it must reap and must decide what
// SIGTERM means. One poll loop waits on a signalfd (SIGCHLD, SIGTERM,
// SIGINT, SIGHUP are blocked and read from it) with a timeout that is the
// next restart or the shutdown deadline — nothing sleeps and nothing spins.
//  * Start: services in the order given (the planner resolved `after`:
//    a service starts once the ones it names have been started).
//  * Exit of a service: restart by policy ("no", "on-failure" = non-zero
//    status or a signal, "always") after a back-off that starts at 100 ms,
//    doubles per consecutive restart up to 5 s, and resets once a run lasted
//    10 s — so a crash loop costs little CPU and a rare crash restarts fast.
//  * SIGTERM/SIGINT: no more restarts; SIGTERM to every service's process
//    group; after the grace period SIGKILL to everything (kill(-1) from a
//    namespace's PID 1 reaches the whole namespace); return.
//  * exit_with (`moat run`): when that service ends, everything else is
//    stopped and its status becomes the init's (signal N → 128 + N).
// Each service writes to <name>.log in the log directory (opened on the host
// side before pivot_root); init.log gets one line per event and
// services.json the current state of each service for `moat status`.
#pragma once

#include "config/model.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moat::supervisor {

struct service {
    std::string name;
    std::vector<std::string> argv;
    std::map<std::string, std::string> environment;
    config::restart_policy restart = config::restart_policy::no;
};

struct spec {
    std::vector<service> services;         // in start order
    int log_dir_fd = -1;
    std::optional<std::string> exit_with;  // `moat run`
    bool inherit_stdio = false;            // `moat run`: the command uses init's stdio and session
    std::map<std::string, std::string> base_environment;
    std::chrono::milliseconds grace{5000};
    std::chrono::milliseconds backoff_initial{100};
    std::chrono::milliseconds backoff_max{5000};
    std::chrono::milliseconds backoff_reset_after{10000};
};

// Runs until told to stop (or exit_with ends); returns the exit status.
// `prepare_child` runs in each service process right before execve and
// returns 0 or an errno (the service then exits 126).
int run(const spec& s, const std::function<int()>& prepare_child);

}  // namespace moat::supervisor
