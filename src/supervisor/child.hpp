// Starting one service process.
#pragma once

#include "supervisor/supervisor.hpp"

#include <sys/types.h>

namespace moat::supervisor {

// Forks and execs the service; returns its PID. argv/envp and the log file
// are prepared before the fork. With `inherit_stdio` the service keeps the
// init's stdio and session (a `moat run` command on the user's terminal);
// otherwise it gets its own session, /dev/null as stdin and its log file.
pid_t start_service(const service& svc, const spec& s, const std::function<int()>& prepare_child);

}  // namespace moat::supervisor
