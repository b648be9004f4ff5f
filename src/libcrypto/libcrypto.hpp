// libcrypto on demand.
//
// Why. Resolving libcrypto.so.3 when the binary starts is most of what a
// moat command pays before main(): about 3,400 of its own symbol references
// are bound by the dynamic loader, each looked up through every library in
// the search scope (LD_DEBUG=bindings; an empty program linked against
// moat's 18 libraries starts in 3.9 ms of CPU, 1.7 ms without libcrypto).
// Only `moat pipe`/`spipe`/keygen, the plan's file digests (`up`, `plan`)
// and WireGuard key checks call it; `run`, `exec`, `status`, `down` and the
// container's init never do.
//
// Theory of operation. forward.cpp defines, under their OpenSSL names and
// types (the declarations of OpenSSL's own headers), the few functions moat
// calls. Each forwards to the real one, found once with dlsym() in
// libcrypto.so.<OPENSSL_SHLIB_VERSION> (the ABI moat was built against),
// which load() opens once, RTLD_NOW | RTLD_LOCAL: the system's shared
// library, so Debian's OpenSSL security updates reach moat as before
// (static linking would have frozen a copy until the next rebuild). The
// definitions are hidden: never exported, so they cannot interpose on the
// real library's symbols even in a program (a test) linked to it as well.
// OPENSSL_cleanse is explicit_bzero(3) and loads nothing: a destructor may
// wipe a secret in a process that never needed libcrypto.
//
// Loading needs openat/mmap of the library as the dynamic loader would
// need at exec; commands that then confine themselves (the pipe daemon
// drops its user) call load() first, where a missing library is a clean
// error rather than a failure half-way through a connection.
#pragma once

namespace moat::libcrypto {

// Opens libcrypto.so.3 once (thread-safe); throws moat::error saying what
// is missing when it cannot.
void load();

}  // namespace moat::libcrypto
