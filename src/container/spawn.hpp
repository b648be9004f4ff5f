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
// Two pipes tie the new init to the `moat` process that started it:
//   fd 3 (read)  the init's specification as JSON, sent only after the host
//                side (veth, addresses, firewall) is ready; EOF before a
//                complete spec (the parent died) makes the init exit, so a
//                kill -9 of `moat up` never leaves a half-configured init.
//   fd 4 (write) "ok" once the root file system is built, or the error.
#pragma once

#include "sys/unique_fd.hpp"

#include <sys/types.h>

namespace moat::container {

struct spawn_options {
    bool new_network = true;   // CLONE_NEWNET
    int cgroup_fd = -1;        // CLONE_INTO_CGROUP when >= 0
    bool new_session = true;   // detach from the caller's terminal (not for `moat run`)
    bool null_stdio = true;    // stdin/stdout/stderr from /dev/null (not for `moat run`)
};

struct spawned {
    pid_t pid = -1;
    sys::unique_fd spec_write;  // write the JSON spec here, then close
    sys::unique_fd ready_read;  // read "ok" or an error message
};

spawned spawn_init(const spawn_options& options);

// The fds the init finds its pipes on.
inline constexpr int init_spec_fd = 3;
inline constexpr int init_ready_fd = 4;

}  // namespace moat::container
