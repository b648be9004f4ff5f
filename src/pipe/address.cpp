#include "pipe/address.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "sys/error.hpp"

namespace moat::pipe {

std::string sock_addr::str() const {
    char host[INET6_ADDRSTRLEN] = "?";
    if (family() == AF_UNIX) {
        return reinterpret_cast<const sockaddr_un*>(&storage)->sun_path;
    }
    if (family() == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
    }
    auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
}

std::vector<sock_addr> resolve(const std::string& spec) {
    if (!spec.empty() && spec[0] == '/') {
        sock_addr a;
        auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
        if (spec.size() >= sizeof un->sun_path) {
            throw usage_error("socket path too long: " + spec);
        }
        un->sun_family = AF_UNIX;
        std::memcpy(un->sun_path, spec.c_str(), spec.size() + 1);
        a.len = socklen_t(offsetof(sockaddr_un, sun_path) + spec.size() + 1);
        return {a};
    }
    std::string host, port;
    int flags = AI_ADDRCONFIG;
    if (!spec.empty() && spec[0] == '[') {
        auto close = spec.find(']');
        if (close == std::string::npos || close + 1 >= spec.size() || spec[close + 1] != ':') {
            throw usage_error("bad socket address " + spec + " (expected [addr]:port)");
        }
        host = spec.substr(1, close - 1);
        port = spec.substr(close + 2);
        flags = AI_NUMERICHOST;
    } else {
        auto colon = spec.rfind(':');
        if (colon == std::string::npos || colon == 0) {
            throw usage_error("bad socket address " + spec + " (expected /path, host:port or [addr]:port)");
        }
        host = spec.substr(0, colon);
        port = spec.substr(colon + 1);
    }
    if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) {
        throw usage_error("bad port in socket address " + spec);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = flags | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
        throw moat::error("resolving " + spec + ": " + gai_strerror(rc));
    }
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(res, freeaddrinfo);
    std::vector<sock_addr> out;
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        sock_addr a;
        std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
        a.len = ai->ai_addrlen;
        out.push_back(a);
    }
    if (out.empty()) {
        throw moat::error("resolving " + spec + ": no addresses");
    }
    return out;
}

void tune_socket(int fd, int family, bool keepalive) {
    if (family == AF_UNIX) {
        return;
    }
    int one = 1;
    // Failures here only cost latency or dead-peer detection, never data.
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (keepalive) {
        (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    }
}

sys::unique_fd listen_on(const sock_addr& addr) {
    sys::unique_fd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw sys::errno_error("creating socket for " + addr.str());
    }
    if (addr.family() == AF_UNIX) {
        const char* path = reinterpret_cast<const sockaddr_un*>(&addr.storage)->sun_path;
        struct stat st{};
        if (::lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            ::unlink(path);
        }
    } else {
        int one = 1;
        sys::check(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), "setting SO_REUSEADDR");
        if (addr.family() == AF_INET6) {
            // "[::]:port" means IPv6 only, as in spiped; v4 needs its own -s.
            sys::check(setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one),
                       "setting IPV6_V6ONLY");
        }
    }
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr.storage), addr.len) != 0) {
        throw sys::errno_error("binding " + addr.str());
    }
    if (::listen(fd.get(), 10) != 0) {
        throw sys::errno_error("listening on " + addr.str());
    }
    return fd;
}

sys::unique_fd start_connect(const sock_addr& addr, bool* in_progress) {
    sys::unique_fd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw sys::errno_error("creating socket for " + addr.str());
    }
    *in_progress = false;
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr.storage), addr.len) != 0) {
        if (errno != EINPROGRESS) {
            throw sys::errno_error("connecting to " + addr.str());
        }
        *in_progress = true;
    }
    return fd;
}

}  // namespace moat::pipe
