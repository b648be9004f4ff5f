// spiped's socket address syntax: "/absolute/unix/socket", "host:port",
// "[v4]:port" and "[v6]:port". Resolution goes through getaddrinfo; numeric
// forms never touch DNS.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "sys/unique_fd.hpp"

namespace moat::pipe {

struct sock_addr {
    sockaddr_storage storage{};
    socklen_t len = 0;
    int family() const { return storage.ss_family; }
    std::string str() const;
};

// Resolves `spec`; throws moat::usage_error for a malformed spec and
// moat::error when the name does not resolve.
std::vector<sock_addr> resolve(const std::string& spec);

// A non-blocking listening socket (backlog 10, SO_REUSEADDR; a stale Unix
// socket file is replaced).
sys::unique_fd listen_on(const sock_addr& addr);

// Starts a non-blocking connect. Returns the socket; `*in_progress` tells
// whether the caller must wait for writability.
sys::unique_fd start_connect(const sock_addr& addr, bool* in_progress);

// TCP_NODELAY always, SO_KEEPALIVE unless disabled; no-ops on Unix sockets.
void tune_socket(int fd, int family, bool keepalive);

}  // namespace moat::pipe
