// moat's error model (docs/ARCHITECTURE.md, "Errors"):
//
//  * Runtime failures are exceptions derived from std::runtime_error. A
//    system call failure is a std::system_error built by errno_error(), whose
//    what() reads "<what moat was doing>: <strerror>", e.g.
//    "creating veth ve-webapp: File exists". Callers that add context wrap
//    with add_context(), producing "starting container webapp: creating veth
//    ve-webapp: File exists". The CLI prints what() and exits 1.
//  * Bad usage and bad configuration are moat::usage_error (and
//    moat::config::config_error, which derives from it); the CLI exits 2 and
//    guarantees that nothing was changed, because these are thrown before the
//    first kernel object is touched.
//  * Between clone() and execve() nothing throws or allocates: child code
//    reports failures through a pipe and _exit().
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace moat {

// Exit code 2: the user asked for something invalid; nothing was changed.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A runtime failure with context prepended; keeps the errno when there is one.
class error : public std::runtime_error {
public:
    explicit error(const std::string& what, int err = 0)
        : std::runtime_error(what), _errno(err) {}
    int code() const noexcept { return _errno; }

private:
    int _errno;
};

namespace sys {

// std::system_error for the current errno (or `err`), with `what` as context.
std::system_error errno_error(const std::string& what, int err = errno);

// Throws errno_error(what) when `rc` is negative; returns rc otherwise.
long check(long rc, const std::string& what);

}  // namespace sys

// Rethrows the exception currently being handled with `context: ` prepended,
// keeping usage errors usage errors and errno values intact.
[[noreturn]] void add_context(const std::string& context);

}  // namespace moat
