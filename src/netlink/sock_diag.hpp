// The listening sockets of a network namespace, as the kernel lists them
// over NETLINK_SOCK_DIAG (what `ss -tuln` reads): no text parsing of
// /proc/net/{tcp,udp}, and the bound device, IPV6_V6ONLY, the socket's
// inode and owner uid come with each.
//
// Two users: `moat check`'s host-access probe (which of the host's services
// could a container reach?) and `moat up`'s refusal of a forward or host
// pipe whose port a host service already holds (converge/ports.hpp).
//
// What counts as listening: TCP sockets in LISTEN, and UDP sockets that are
// bound to a port but not connected (the kernel reports those in TCP_CLOSE
// with a zero destination port) — both receive whatever arrives for their
// address and port.
#pragma once

#include "sys/inet.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace moat::netlink {

struct listening_socket {
    int protocol = 0;          // IPPROTO_TCP | IPPROTO_UDP
    sys::ip_address address;   // as bound (an IPv4-mapped IPv6 one as IPv4); all zero = the family's wildcard
    std::uint16_t port = 0;
    bool v6_only = true;       // AF_INET6 only: false = a wildcard bind takes IPv4 too
    int bound_ifindex = 0;     // SO_BINDTODEVICE; 0 = any
    std::uint64_t inode = 0;   // "socket:[inode]" in /proc/<pid>/fd
    std::uint32_t uid = 0;     // its owner, as the kernel keeps it
};

// TCP listeners and unconnected, bound UDP sockets of the calling thread's
// network namespace, IPv4 and IPv6. Throws errno_error.
std::vector<listening_socket> listening_sockets();

// Whether `a` is its family's wildcard (0.0.0.0, ::).
bool is_wildcard(const sys::ip_address& a);

// "tcp 0.0.0.0:7070", "udp [::1]:53".
std::string describe(const listening_socket& s);

// A process holding a socket, as /proc shows it.
struct socket_holder {
    pid_t pid = 0;
    std::string command;  // /proc/<pid>/comm
};

// The processes whose descriptor tables hold each of `inodes` (a scan of
// /proc/*/fd, done once for all of them). Best effort: processes that exit
// meanwhile, or whose fds this process may not read, are missed, so an
// inode may map to nothing.
std::vector<std::vector<socket_holder>> socket_holders(const std::vector<std::uint64_t>& inodes);

}  // namespace moat::netlink
