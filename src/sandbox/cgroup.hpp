// cgroup v2: one cgroup per container, so that stopping it kills every
// process it ever started, however deep it forked and whatever it did with
// sessions, process groups and signal dispositions.
//
// Theory of operation: only the unified (v2) hierarchy is used. Its mount is
// found in /proc/self/mountinfo — /sys/fs/cgroup on a pure v2 machine,
// /sys/fs/cgroup/unified on a hybrid one; without one, callers fall back to
// killing the PID namespace's init, which takes the namespace with it.
//  * Paths are relative to that mount ("moat/<instance>/<container>"); an
//    absolute path inside the mount is accepted too. Every component of the
//    relative path below the mount's root or a delegated base (cgroup_layout.hpp)
//    belongs to moat: remove() deletes the leaf and then moat/<instance> and
//    moat when they have become empty, and tolerates EBUSY/ENOENT on parents
//    that other containers still use or that a racing `down` removed.
//  * kill_all() writes "1" to cgroup.kill (Linux 5.14), which SIGKILLs every
//    member atomically — no race with a fork in progress. Older kernels get
//    SIGKILL for every PID in cgroup.procs, re-read and repeated until none
//    is left. Either way emptiness is read from cgroup.events ("populated
//    0"), waiting in poll() for POLLPRI, which kernfs raises whenever that
//    file changes. Zombies do not count: a task leaves its cgroup when it
//    exits, before it is reaped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moat::sandbox {

// The cgroup2 mount point of this process's mount namespace, or nullopt.
// Read from mountinfo once per process and mount namespace (cgroup.cpp).
std::optional<std::string> cgroup_mount();
// The same from the text of a mountinfo file (exposed for tests).
std::optional<std::string> cgroup_mount_from(std::string_view mountinfo);
// True when this mount namespace shows no cgroup2 file system but PID 1's
// does: cgroups exist that this process cannot see (`ip netns exec` mounts
// a /sys without them). False on a host without cgroup2 at all.
bool cgroups_hidden();
// How to run moat where they are, for the errors that refuse because of it.
std::string cgroups_hidden_hint();

enum class kill_method {
    automatic,   // cgroup.kill when the kernel has it, else signals
    signal_each, // SIGKILL per PID (what kernels before 5.14 get); for tests
};

class cgroup {
public:
    // mkdir -p of the cgroup (idempotent); nullopt without cgroup v2.
    static std::optional<cgroup> create(const std::string& path);
    // Kills everything in the cgroup at `path` and removes it and its empty
    // moat-owned parents: cleanup from recorded state, e.g. after moat was
    // killed. An absent cgroup (or no cgroup v2) is fine.
    static void destroy(const std::string& path, std::chrono::milliseconds timeout);
    // remove() for a recorded path, without killing.
    static void remove_path(const std::string& path);

    const std::string& path() const { return _path; }  // absolute
    void attach(pid_t pid) const;
    std::vector<pid_t> pids() const;
    bool populated() const;
    // Throws moat::error when processes remain after `timeout`.
    void kill_all(std::chrono::milliseconds timeout, kill_method method = kill_method::automatic) const;
    void remove() const;

private:
    cgroup(std::string mount, std::string relative);

    std::string _mount;     // the cgroup2 mount point
    std::string _relative;  // "moat/<instance>/<container>", no leading or trailing '/'
    std::string _path;      // _mount + "/" + _relative
};

}  // namespace moat::sandbox
