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
//     bounding set needs CAP_SETPCAP, hence first. keep_also() adds to the
//     set (moat's tunnel runner keeps CAP_NET_ADMIN).
//  2. PR_SET_NO_NEW_PRIVS (Linux 3.5): execve can never raise privileges
//     again (setuid bits and file capabilities are ignored). It is also what
//     lets an unprivileged process install a seccomp filter.
//  3. A seccomp filter: an allowlist modelled on Docker's default profile
//     (seccomp_profile.hpp has the tables, each refusal with its reason).
//     - allowed_syscalls() pass with any arguments;
//     - filtered_syscalls() pass with some arguments only: socket() but
//       AF_ALG/AF_VSOCK, ioctl() but TIOCSTI/TIOCLINUX, Docker's harmless
//       personality() values, clone() without CLONE_NEW* flags; clone3()
//       fails with ENOSYS (its flags live in memory a BPF filter cannot
//       read, so glibc is made to fall back to clone(), which is checked);
//     - blocked_syscalls() with `unless_caps` pass when the process keeps
//       one of those capabilities, as in Docker ("includes caps"): the
//       filter is built for the capability mask the process keeps;
//     - everything else fails with EPERM, Docker's default action — except
//       numbers above the highest one the table can name on this system
//       (kernel newer than libseccomp or than the table), which fail with
//       ENOSYS: "not implemented" is what an older kernel says, so programs
//       already fall back (glibc's fchmodat retries without fchmodat2 on
//       ENOSYS only), where EPERM would be an error, as for clone3.
//     Stricter than Docker, whatever the capabilities: mount family,
//     setns/unshare, clone namespace flags, clone3, open_by_handle_at and
//     name_to_handle_at, io_uring, TIOCSTI; adjtimex/clock_adjtime need
//     CAP_SYS_TIME and ptrace/process_vm_* CAP_SYS_PTRACE (Docker allows
//     them without). A syscall made through a non-native ABI (int 0x80 on
//     x86_64, x32) kills the process: the table is resolved to native
//     numbers only, and a second ABI would be a way around it. The filter
//     is inherited across fork and execve and cannot be removed.
//
// Compile once, load many. seccomp_emit.cpp emits the classic BPF program
// itself from the tables, ~230 instructions. For Docker's default
// capability set the build does it (seccomp_gen.cpp, where libseccomp
// resolves the names to this architecture's numbers; moat does not load
// libseccomp): compile() returns that constant. Any other set is emitted
// at run time from the numbers the build resolved (~20 us warm). The
// program does not change while the capability mask does not;
// seccomp_program holds it, and its load() is one prctl() that allocates
// nothing, so it is safe between fork and execve. prepare_privileges()
// compiles the process's program in the parent (the container's init while
// it waits for its spec, again only if the spec adds capabilities; `moat
// exec` before it forks); the drops in the children it forks then only
// load it.
// A drop without a prepared program (or after keep_also() changed the
// mask) compiles on the spot, which works but allocates in the child. Not
// thread-safe: prepare and fork from one thread, as the init and `moat
// exec` do.
//
// The capability and syscall lists are data so that tests and docs use the
// same source of truth as the code.
#pragma once

#include "sandbox/seccomp_profile.hpp"

#include <linux/filter.h>

#include <cstdint>
#include <span>
#include <vector>

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
// That set plus what keep_also() added: what drop_privileges() keeps and
// the seccomp filter is built for.
std::uint64_t kept_capability_mask_with_extras() noexcept;

// A compiled seccomp filter, a value: copy it, keep it, load it in children.
class seccomp_program {
public:
    seccomp_program() = default;  // empty: load() fails with EINVAL
    // Builds the filter for a process keeping the capabilities in `caps`
    // (1 << CAP_*). Throws std::system_error naming the step.
    static seccomp_program compile(std::uint64_t caps);

    // Installs it on the calling thread (needs no_new_privs or
    // CAP_SYS_ADMIN). Returns 0 or an errno value; async-signal-safe.
    int load() const noexcept;

    bool empty() const noexcept { return instructions().empty(); }
    std::uint64_t capabilities() const noexcept { return _caps; }
    std::span<const sock_filter> instructions() const noexcept {
        return _builtin.empty() ? std::span<const sock_filter>(_code) : _builtin;
    }
    // Numbers above this fail with ENOSYS (see the theory above).
    std::uint32_t highest_known_syscall() const noexcept { return _highest; }

private:
    std::vector<sock_filter> _code;
    std::span<const sock_filter> _builtin;  // the build's program for the default set
    std::uint64_t _caps = 0;
    std::uint32_t _highest = 0;
};

// Compiles this process's filter (for kept_capability_mask_with_extras())
// unless it is compiled already, so later drops here and in forked children
// only load it. Call in the parent before forking, after keep_also().
void prepare_privileges();

// How many times this process compiled a filter (tests check that a child
// only loads the parent's).
unsigned seccomp_compilations() noexcept;

// Applies all three layers to the calling, single-threaded process.
// Throws moat::error naming the step ("dropping the capability bounding
// set: Operation not permitted").
void drop_privileges();

// The same for use between fork and execve: returns 0 or an errno value
// and never throws. The seccomp step allocates nothing when
// prepare_privileges() ran in the parent for the same capabilities
// (the capability step allocates nothing either).
int drop_privileges_noexcept() noexcept;

// Also keep these capabilities (a mask of 1 << CAP_*) in every later drop of
// this process and the children it forks: moat's own tunnel daemons need
// CAP_NET_ADMIN for their device. Call before prepare_privileges() and
// forking; not for user services.
void keep_also(std::uint64_t mask) noexcept;

}  // namespace moat::sandbox
