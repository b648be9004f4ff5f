// Process identity and waiting. moat does not stay running after `up`, so it
// finds its containers' init processes again by PID; a PID alone can be
// reused, so every recorded process is (pid, start time since boot in clock
// ticks, /proc/<pid>/stat field 22), which no other process can share.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace moat::sys {

// The path of the running binary (/proc/self/exe): what containers run as
// moat's helpers (pipes, tunnel runners).
std::string own_executable();

struct process_id {
    pid_t pid = 0;
    std::uint64_t start_time = 0;
    bool operator==(const process_id&) const = default;
};

// Start time of `pid`, or nullopt if there is no such process.
std::optional<std::uint64_t> process_start_time(pid_t pid);
// True when the recorded process is still the same, live process (zombies count as gone).
bool process_alive(const process_id& p);
// Waits until the process is gone or the timeout expires (pidfd + poll, so
// it works for processes that are not our children). True when gone.
bool wait_gone(const process_id& p, std::chrono::milliseconds timeout);

}  // namespace moat::sys
