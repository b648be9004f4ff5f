// Declarative pipes ([pipes.<name>]) as services.
//
// A pipe is a long-running `moat pipe ... -F` process, so it gets what a
// service gets: supervision with restart and back-off by a moat init, logs,
// state in `moat status`, removal by `down`, and the reduced privileges and
// seccomp filter (a pipe needs neither). A pipe with `container = X` becomes
// a service of X — it shares X's network namespace, so the service it
// exposes can stay bound to X's 127.0.0.1. Pipes without a container are the
// services of one internal container, `_pipes`, that shares the host's
// network; it has a user namespace of its own ("pick") unless one of its
// pipes listens on a host port below 1024. Each pipe reads a copy of its
// key in the container's private /run (plan.hpp, secret_plan).
#pragma once

#include "config/model.hpp"
#include "plan/plan.hpp"

#include <string>
#include <vector>

namespace moat::plan {

// The internal container that runs the host's pipes.
inline constexpr const char* host_pipes_container = "_pipes";

// Where the moat binary appears inside a container that runs moat itself
// (pipes, tunnels): its real path may be hidden (under the container's
// private /tmp, or outside a directory root), so it is bind-mounted
// read-only into the private /run.
inline constexpr const char* moat_in_container = "/run/moat/bin/moat";
void add_binary_mount(container_plan& c, const std::string& moat_exe);

// Adds each pipe as a service to its container's plan (when that container
// is in `plans`) and, when `with_host_pipes`, appends the `_pipes` plan for
// the others. `moat_exe` is the binary the services run. A target or source
// "<container>:<port>" is resolved to that container's address. Throws
// config_error (exit 2) for a container without an address or a key file
// that cannot be read.
void plan_pipes(const config::model& m, std::vector<container_plan>& plans, const std::string& moat_exe,
                bool with_host_pipes);

}  // namespace moat::plan
