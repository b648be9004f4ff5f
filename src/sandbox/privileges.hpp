// What a container process may still do once its namespaces confine it.
//
// Theory of operation: services run as root inside their container, so what
// keeps them in is the set of privileges the kernel checks. Right before
// execve each service process gives up, in this order (each step needs the
// privilege the next one takes away, so the order matters):
//
//  1. Capabilities. The bounding set is cut to Docker's default set, so no
//     execve — not even of a setuid-root or file-capability binary — can
//     ever regain CAP_SYS_ADMIN (mounts, namespaces), CAP_NET_ADMIN (moat's
//     firewall and routes in a shared namespace), CAP_SYS_MODULE, CAP_BPF...
//     Effective and permitted shrink to the same set; inheritable and
//     ambient are cleared so nothing is handed on implicitly. Dropping the
//     bounding set needs CAP_SETPCAP, hence first.
//  2. PR_SET_NO_NEW_PRIVS (Linux 3.5): execve can never raise privileges
//     again (setuid bits and file capabilities are ignored). It is also what
//     lets an unprivileged process install a seccomp filter.
//  3. A seccomp filter (libseccomp): default allow, the calls listed in
//     blocked_syscalls() fail with EPERM, clone() with a CLONE_NEW* flag
//     fails with EPERM, clone3() fails with ENOSYS (its flags live in memory
//     a BPF filter cannot read, so glibc is made to fall back to clone()).
//     A syscall made through a non-native ABI (int 0x80 on x86_64, x32)
//     kills the process: the list names native numbers only, and a second
//     ABI would be a way around it. The filter is inherited across fork and
//     execve and cannot be removed.
//
// The capability and syscall lists are data so that tests and docs use the
// same source of truth as the code.
#pragma once

#include <cstdint>
#include <span>

namespace moat::sandbox {

struct kept_capability {
    int number;        // linux/capability.h CAP_*
    const char* name;  // "CAP_CHOWN"
};
// Docker's default capability set: what ordinary daemons need (changing
// file ownership, binding ports < 1024, switching to a service user, ...).
std::span<const kept_capability> kept_capabilities();
// The kept set as the bit mask /proc/<pid>/status shows in CapBnd/CapEff.
std::uint64_t kept_capability_mask();

struct blocked_syscall {
    const char* name;  // as libseccomp resolves it; absent on some architectures
    const char* why;   // the group's reason, for docs
};
// Blocked outright (EPERM). clone/clone3 are handled separately (see above).
std::span<const blocked_syscall> blocked_syscalls();

// The CLONE_NEW* flags whose presence makes clone() fail with EPERM.
std::uint64_t blocked_clone_flags();

// Applies all three layers to the calling, single-threaded process.
// Throws moat::error naming the step ("dropping the capability bounding
// set: Operation not permitted").
void drop_privileges();

// The same for use between fork and execve: returns 0 or an errno value
// and never throws. (It may allocate: libseccomp builds the filter in
// memory; the child after fork of a single-threaded parent may do so.)
int drop_privileges_noexcept() noexcept;

// Also keep these capabilities (a mask of 1 << CAP_*) in every later drop of
// this process and the children it forks: moat's own tunnel daemons need
// CAP_NET_ADMIN for their device. Call before forking; not for user services.
void keep_also(std::uint64_t mask) noexcept;

}  // namespace moat::sandbox
