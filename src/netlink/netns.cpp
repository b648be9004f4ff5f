#include "netlink/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sys/error.hpp"

namespace moat::netlink {

sys::unique_fd open_netns(const std::string& path) {
    sys::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw sys::errno_error("opening network namespace " + path);
    }
    return fd;
}

unsigned long current_netns_inode() {
    struct stat st {};
    sys::check(::stat("/proc/thread-self/ns/net", &st), "reading /proc/thread-self/ns/net");
    return st.st_ino;
}

netns_guard::netns_guard(int netns_fd) : _original(open_netns("/proc/thread-self/ns/net")) {
    if (::setns(netns_fd, CLONE_NEWNET) < 0) {
        throw sys::errno_error("entering network namespace (fd " + std::to_string(netns_fd) + ")");
    }
}

netns_guard::~netns_guard() {
    if (::setns(_original.get(), CLONE_NEWNET) < 0) {
        // Not an exception: we may be unwinding already, and carrying on
        // would apply the caller's next change to a container's network.
        std::fprintf(stderr, "moat: fatal: returning to the original network namespace: %s\n",
                     std::strerror(errno));
        std::abort();
    }
}

}  // namespace moat::netlink
