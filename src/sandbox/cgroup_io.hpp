// Small helpers shared by cgroup.cpp and cgroup_kill.cpp.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace moat::sandbox::detail {

// Whole small kernfs file; throws errno_error with `path` as context.
std::string read_knob(const std::string& path);
// One write(2) of `value` (kernfs takes a knob write in one call).
void write_knob(const std::string& path, const std::string& value);
std::vector<pid_t> parse_pids(const std::string& procs);
// The value of `key` in a flat-keyed file such as cgroup.events, or -1.
long keyed_value(const std::string& text, const std::string& key);

}  // namespace moat::sandbox::detail
