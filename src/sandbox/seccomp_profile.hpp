// moat's seccomp profile as data: which system calls a container process may
// make, which it may not and why. privileges.hpp has the theory; the filter
// emitter (seccomp_filter.cpp), the tests and the docs all read these tables.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace moat::sandbox {

// Allowed whatever the capabilities, with any arguments.
struct allowed_syscall {
    const char* name;   // as libseccomp resolves it; absent on some architectures
    const char* group;  // what it is for ("files", "network", ...), for docs
};
std::span<const allowed_syscall> allowed_syscalls();

// Allowed only with some arguments (socket, personality, clone) or answered
// with a chosen errno (clone3). seccomp_filter.cpp has one rule per name.
struct filtered_syscall {
    const char* name;
    const char* rule;  // what passes, for docs
};
std::span<const filtered_syscall> filtered_syscalls();

// Refused (EPERM) with the reason. `unless_caps` is a mask of 1 << CAP_*:
// when the process keeps any of those capabilities the call is allowed,
// as in Docker's profile, because the capability is then what the kernel
// checks and the user asked for it. 0 means refused whatever is kept.
struct blocked_syscall {
    const char* name;
    const char* why;
    std::uint64_t unless_caps;
};
std::span<const blocked_syscall> blocked_syscalls();

// The CLONE_NEW* flags whose presence makes clone() fail with EPERM.
std::uint64_t blocked_clone_flags();

// Address families socket() refuses (EPERM): AF_ALG (the kernel's crypto API,
// a recurring source of kernel bugs) and AF_VSOCK (talks to the hypervisor
// and to VMs on the host; not namespaced).
std::span<const int> blocked_socket_families();

// The ioctl() requests that fail with EPERM: TIOCSTI and TIOCLINUX.
std::span<const std::uint32_t> blocked_ioctls();

// The personality() values that pass (Docker's): PER_LINUX, PER_LINUX32,
// UNAME26 with either, and 0xffffffff, which only queries.
std::span<const std::uint32_t> allowed_personalities();

// Every name the three tables above mention, in their order.
std::vector<const char*> named_syscalls();

}  // namespace moat::sandbox
