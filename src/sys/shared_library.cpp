#include "sys/shared_library.hpp"

#include "sys/error.hpp"

#include <dlfcn.h>

#include <map>
#include <mutex>
#include <string>

namespace moat::sys {

void* shared_library::handle() const {
    // One handle per SONAME for the process; dlopen itself is thread-safe,
    // the map and the error text are what the lock guards.
    static std::mutex lock;
    static std::map<std::string, void*> opened;
    std::lock_guard hold(lock);
    auto& h = opened[_soname];
    if (!h) {
        h = ::dlopen(_soname, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char* why = ::dlerror();
            throw moat::error(std::string("loading ") + _soname + " (" + _package + "): " + (why ? why : "not found"));
        }
    }
    return h;
}

void* shared_library::symbol(const char* name) const {
    void* h = handle();
    void* f = ::dlsym(h, name);
    if (!f) {
        throw moat::error(std::string(_soname) + " has no " + name + " (" + _package + " too old?)");
    }
    return f;
}

}  // namespace moat::sys
