// Turns seccomp_profile's tables into a classic BPF program once and loads
// it with one prctl() per process. privileges.hpp has the theory.
//
// moat emits the program itself (seccomp_emit.cpp). (Building the same
// allowlist through libseccomp's rule database took 1.3 ms and ~400
// instructions; this takes a few tens of microseconds warm and about half
// the instructions.) The program for Docker's default capability set, which
// nearly every process gets, is emitted when moat is built
// (seccomp_gen.cpp, with libseccomp's names for this architecture): here it
// is a constant that compile() returns without work. A set with more
// capabilities is emitted here, with the numbers the build resolved. The
// program:
//
//   arch != native                      -> kill the process
//   x86_64: nr >= 0x40000000 (x32 ABI)  -> kill the process (nr -1: EPERM)
//   socket, ioctl, personality, clone   -> their argument rules
//   clone3                              -> ENOSYS
//   nr > highest number the table names -> ENOSYS
//   otherwise a binary search over the intervals of allowed numbers
//                                       -> allow or EPERM
//
// The front part is a few dozen instructions; the search has one compare
// and one `ja` per level (about 8 levels).
//
// Every path that ends in "allow" without an argument rule reads only the
// number and the architecture, so the kernel's action cache (5.11+) marks
// those calls as always allowed and skips the filter for them.
#include "sandbox/privileges.hpp"
#include "sandbox/seccomp_emit.hpp"
#include "sandbox/seccomp_tables.hpp"
#include "sandbox/steps.hpp"
#include "sys/error.hpp"

#include <linux/seccomp.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <string>

namespace moat::sandbox {

namespace {

bool by_name(const generated::syscall_number& a, const char* name) { return std::strcmp(a.name, name) < 0; }

unsigned compilations = 0;
// This process's program, made by prepare_privileges(). A global because
// the children that load it are forked from this process and see its memory.
seccomp_program prepared;

}  // namespace

seccomp_program seccomp_program::compile(std::uint64_t caps) {
    seccomp_program p;
    p._caps = caps;
    if (caps == generated::default_capabilities) {
        p._builtin = generated::default_program;
        p._highest = generated::default_highest;
        return p;
    }
    ++compilations;
    auto emitted = detail::emit_seccomp_program(caps, detail::native_syscall_number, generated::native_arch);
    if (emitted.code.size() > BPF_MAXINSNS) {
        throw sys::errno_error("the seccomp program has " + std::to_string(emitted.code.size()) + " instructions",
                               E2BIG);
    }
    p._code = std::move(emitted.code);
    p._highest = emitted.highest;
    return p;
}

int seccomp_program::load() const noexcept {
    const auto code = instructions();
    if (code.empty()) {
        return EINVAL;
    }
    // Same as seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog), which libseccomp
    // would call; the prctl form exists since Linux 3.5.
    sock_fprog prog{static_cast<unsigned short>(code.size()), const_cast<sock_filter*>(code.data())};
    return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0 ? 0 : errno;
}

void prepare_privileges() {
    const auto caps = kept_capability_mask_with_extras();
    if (prepared.empty() || prepared.capabilities() != caps) {
        prepared = seccomp_program::compile(caps);
    }
}

unsigned seccomp_compilations() noexcept { return compilations; }

namespace detail {

int native_syscall_number(const char* name) noexcept {
    const auto* end = std::end(generated::syscall_numbers);
    const auto* it = std::lower_bound(std::begin(generated::syscall_numbers), end, name, by_name);
    return it != end && std::strcmp(it->name, name) == 0 ? it->number : -1;
}

std::uint32_t native_audit_arch() noexcept { return generated::native_arch; }

int set_no_new_privs() noexcept {
    return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno;
}

int install_seccomp_filter() noexcept {
    if (!prepared.empty() && prepared.capabilities() == kept_capability_mask_with_extras()) {
        return prepared.load();
    }
    // Not prepared by the parent: compile here (allocates; see the theory).
    try {
        return seccomp_program::compile(kept_capability_mask_with_extras()).load();
    } catch (const std::system_error& e) {
        return e.code().value() != 0 ? e.code().value() : EINVAL;
    } catch (...) {
        return ENOMEM;
    }
}

}  // namespace detail

}  // namespace moat::sandbox
