#include "sys/notify.hpp"

#include "sys/unique_fd.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace moat::sys {

bool notify_enabled() {
    const char* path = std::getenv("NOTIFY_SOCKET");
    return path && *path;
}

bool notify(const std::string& message) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) {
        return false;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    size_t len = std::strlen(path);
    // A path ("/...") or an abstract name ("@..."); nothing else is valid.
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path) {
        return false;
    }
    std::memcpy(addr.sun_path, path, len);
    if (path[0] == '@') {
        addr.sun_path[0] = '\0';  // abstract: no terminating NUL counts
    }
    socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len + (path[0] == '/' ? 1 : 0));
    unique_fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return false;
    }
    ssize_t n = ::sendto(fd.get(), message.data(), message.size(), MSG_NOSIGNAL,
                         reinterpret_cast<const sockaddr*>(&addr), addr_len);
    return n == static_cast<ssize_t>(message.size());
}

}  // namespace moat::sys
