// The two processes between moat and the command of `moat exec`: the
// joiner and the command before execve (enter.cpp has the theory). No
// exceptions and no allocation here; failures go to moat through the report
// socket as (step, errno).
#pragma once

#include "container/relay.hpp"

#include <array>
#include <cstdint>

namespace moat::container::detail {

// What a report names: the joiner's "started" (with the command's pidfd and
// the pty master attached), or the step that failed.
enum class step : std::int32_t { started, stdio, cgroup, join, become_root, pty, clone, terminal, chdir, privileges, exec };

struct report {
    step what;
    std::int32_t err;
};


// Everything the joiner and the command need, built before the fork.
struct child_plan {
    int init_pidfd = -1;
    int ns_flags = 0;
    bool join_user = false;
    int cgroup_procs = -1;
    int report = -1;
    stdio_relay::mode mode = stdio_relay::mode::pipes;
    std::array<int, 3> stdio{-1, -1, -1};
    const terminal_settings* terminal = nullptr;
    char** argv = nullptr;
    char** envp = nullptr;
    const char* cwd = "/";
};

// The joiner: runs in a child of moat, never returns.
[[noreturn]] void joiner_child(const child_plan& p) noexcept;

}  // namespace moat::container::detail
