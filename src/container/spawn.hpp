// Starting a container's PID 1.
//
// clone3(2) creates the process directly in new PID, mount, UTS, IPC (and,
// for a private network, network) namespaces and — with CLONE_INTO_CGROUP
// (Linux 5.7) — directly inside the container's cgroup, so there is no
// window in which it or its children run outside the cgroup that `down`
// kills. Without an address space flag clone3 behaves like fork(). The child
// rearranges its file descriptors, closes every other one (the state lock,
// netlink and nftables sockets) and runs the init code directly. The caller
// must be single-threaded. This is not an exec of moat's own binary: that
// costs ~7-15 ms of loader work and page faults per container on this kind
// of machine (a dozen shared libraries), the copy-on-write fork almost
// nothing. stdio buffers are flushed before the clone, so that the init
// (which shares the terminal under `moat run`) never writes the parent's
// pending output again.
//
// One socket ties the new init to the `moat` process that started it, at
// the init's fd 3 (handoff.hpp): the specification and the descriptors to
// build from come in, sent only after the host side (user ids, veth,
// addresses, firewall) is ready; EOF before a complete spec (the parent
// died) makes the init exit, so a kill -9 of `moat up` never leaves a
// half-configured init. "ok" (or the error) goes back once the root file
// system is built.
//
// With a user namespace (CLONE_NEWUSER in the same clone3), every other
// namespace of the container is owned by it; its uid/gid maps are written
// by the host side before the spec is sent (users.hpp).
#pragma once

#include "sys/unique_fd.hpp"

#include <array>
#include <cstdint>

#include <sys/types.h>

namespace moat::plan {
struct container_plan;
}

namespace moat::container {

struct spawn_options {
    bool new_network = true;   // CLONE_NEWNET
    bool new_users = false;    // CLONE_NEWUSER
    int cgroup_fd = -1;        // CLONE_INTO_CGROUP when >= 0
    // The init's stdin/stdout/stderr: /dev/null, or these three descriptors
    // (`moat run` in pipe mode: the relay's pipes, never the caller's own).
    std::array<int, 3> stdio{-1, -1, -1};
    // What `ps` shows for the init (sys/title.hpp): "moat-init <container>"
    // rather than a copy of the command line that forked it.
    const char* name = nullptr;
    // The container's plan, in this process's memory: the init, a
    // copy-on-write copy of it, reads it there instead of parsing it back
    // from the spec (handoff.hpp), whose "plan" is then null. Only for
    // spawn_init(); the fork server's children are not copies of the caller.
    const plan::container_plan* plan = nullptr;
};

struct spawned {
    pid_t pid = -1;
    sys::unique_fd channel;  // the host side's end of the init's socket
};

spawned spawn_init(const spawn_options& options);

// The clone3 itself, for spawn_init() and the fork server (fork_server.hpp):
// the child runs the init with `channel` (moved to fd 3) and stdio from
// options.stdio or `devnull`; returns the child's pid, or -errno.
// extra_flags: CLONE_PARENT from the fork server. No allocation, no throw.
long clone_init(const spawn_options& options, int channel, int devnull, std::uint64_t extra_flags = 0) noexcept;
// The message of a failed clone_init(), wherever it ran.
inline constexpr const char* clone_failed = "creating the container's namespaces (clone3)";

// The fd the init finds its socket on.
inline constexpr int init_channel_fd = 3;

}  // namespace moat::container
