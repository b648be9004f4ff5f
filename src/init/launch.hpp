// Starting one service process (init.hpp has the theory).
#pragma once

#include "init/init.hpp"

#include <sys/types.h>

#include <functional>

namespace moat::init::detail {

// argv and "KEY=value" strings, built once per service; launch() points the
// child's arrays into them.
struct command {
    std::vector<std::string> argv;
    std::vector<std::string> env;  // base overlaid with the service's own
};
command command_for(const service& svc, const std::map<std::string, std::string>& base);

struct launch_options {
    int stdin_fd = -1;   // dup2'ed to 0, 1, 2 when >= 0; -1 keeps init's own
    int output_fd = -1;
    bool own_terminal = false;  // inherit_stdio: a new process group that takes the terminal
};

// Starts the child sharing init's memory until it execs (no copy of init's
// address space, sys/spawn.hpp); returns its PID. init's own `environ` is
// the same afterwards. Throws errno_error when the clone fails. In the child, failures are written to stderr (the service's log)
// and end in _exit: 126 when prepare_child fails or exec is refused, 127
// when the program does not exist.
pid_t launch(const std::string& name, const command& cmd, const launch_options& opts,
             const std::function<int()>& prepare_child);

}  // namespace moat::init::detail
