// Per-thread network namespace switching. setns(CLONE_NEWNET) changes only
// the calling thread, and everything that resolves "the current network
// namespace" at call time — socket(), /proc/sys/net, /proc/thread-self/net —
// follows it. netns_guard makes such a switch scoped so that no exception
// path can leave a thread (and every socket it opens later) in a container's
// namespace.
#pragma once

#include <string>

#include "sys/unique_fd.hpp"

namespace moat::netlink {

// Opens a namespace file read-only with O_CLOEXEC: "/run/netns/NAME",
// "/proc/PID/ns/net", ... Throws errno_error on failure.
sys::unique_fd open_netns(const std::string& path);

// The inode of the calling thread's network namespace
// (/proc/thread-self/ns/net), to compare namespaces.
unsigned long current_netns_inode();

class netns_guard {
public:
    // Moves the calling thread into `netns_fd`; throws errno_error (and
    // stays where it was) on failure.
    explicit netns_guard(int netns_fd);
    // Moves the thread back. If that fails the process aborts: a thread left
    // in the wrong namespace would configure the wrong network silently.
    ~netns_guard();
    netns_guard(const netns_guard&) = delete;
    netns_guard& operator=(const netns_guard&) = delete;

private:
    sys::unique_fd _original;
};

}  // namespace moat::netlink
