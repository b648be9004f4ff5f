// A shared library opened when first needed (dlopen), and its functions.
//
// Why: a library the binary names as DT_NEEDED is mapped and relocated at
// every start, for every command, whether that command calls it or not;
// libcrypto alone was about 2 ms of a 4 ms `moat status`. The libraries
// only some commands use (libcrypto/, firewall/libnftables.cpp) are opened
// through this instead, by their SONAME: the system's shared copy, so its
// security updates still apply, resolved RTLD_NOW | RTLD_LOCAL (all at
// once, and never into the global scope where it could satisfy or shadow
// anyone else's symbol). Thread-safe; a library or symbol that is missing
// is a moat::error naming it.
#pragma once

namespace moat::sys {

class shared_library {
public:
    // `soname` and `package` (for the error text) must outlive the object:
    // string literals.
    constexpr shared_library(const char* soname, const char* package) : _soname(soname), _package(package) {}
    // Opens the library once; later calls return the same handle.
    void* handle() const;
    // The address of `name` in it (dlsym).
    void* symbol(const char* name) const;

private:
    const char* _soname;
    const char* _package;
};

}  // namespace moat::sys
