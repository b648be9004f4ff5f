// What a container process may do, beyond what its namespaces confine.
//
// Theory: container processes run as root inside, so the kernel's own checks
// are what keep them in. We take away what a service has no business with,
// in three independent layers, applied in this order right before execve:
//
//  1. Capabilities. The bounding set (and effective/permitted) is reduced
//     to Docker's default set, so even an exec of a setuid-root binary can
//     never regain CAP_SYS_ADMIN, CAP_NET_ADMIN (reconfiguring its network,
//     including moat's firewall in a shared namespace), CAP_SYS_MODULE, ...
//     Ambient and inheritable sets are cleared.
//  2. no_new_privs (Linux 3.5): setuid/setgid/file capabilities no longer
//     raise privileges across execve; also the precondition for installing a
//     seccomp filter without CAP_SYS_ADMIN.
//  3. A seccomp filter (default allow; listed calls fail with EPERM; calls
//     made through another architecture's ABI, e.g. 32-bit int 0x80, kill
//     the process, since the list only names native numbers).
//
// The capability and syscall lists are data (below) so tests and docs use
// the same source of truth.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moat::isolation {

// Capability numbers kept (linux/capability.h).
const std::vector<int>& kept_capabilities();
// The kept set as the 64-bit mask /proc/<pid>/status prints for CapBnd/CapEff.
std::uint64_t kept_capability_mask();

struct blocked_syscall {
    const char* name;
    const char* why;
};
const std::vector<blocked_syscall>& blocked_syscalls();

// Applies all three layers to the calling (single-threaded) process.
// Returns 0, or an errno value; never throws, so it is safe between fork
// and execve.
int drop_privileges_noexcept() noexcept;

}  // namespace moat::isolation
