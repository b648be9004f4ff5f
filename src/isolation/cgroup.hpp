// cgroup v2: one cgroup per container, so `down` can kill every process of
// it, however deep it forked or whatever it did with sessions and signals.
//
// Theory: the container's init is born inside its cgroup (clone3 with
// CLONE_INTO_CGROUP), so nothing it starts can escape to the parent.
// Teardown writes "1" to cgroup.kill (Linux 5.14), which SIGKILLs every
// member atomically, with no race against forks; on older kernels every
// listed PID is killed repeatedly until the cgroup is empty. Emptiness is
// read from cgroup.events ("populated 0"), waiting with poll(POLLPRI), which
// the kernel raises when that file changes — no sleeping loop. Only cgroup2
// is used; on a machine without it (or where /sys/fs/cgroup is not visible)
// moat falls back to killing the PID namespace's init, which kills the
// namespace.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace moat::isolation {

// Where cgroup2 is mounted ("/sys/fs/cgroup" on a pure v2 machine,
// "/sys/fs/cgroup/unified" on a hybrid one), or nullopt.
std::optional<std::string> cgroup2_mount();

// mkdir -p of an absolute cgroup path; fine if it exists.
void create_cgroup(const std::string& path);

// Kills every process in the cgroup, waits (up to `timeout`) until it is
// empty, removes it and then each parent up to and including the first
// component named "moat" when they are empty. Absent is fine.
void destroy_cgroup(const std::string& path, std::chrono::milliseconds timeout);

}  // namespace moat::isolation
