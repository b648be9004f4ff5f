// Which IP addresses and prefixes can be part of a container network: the
// address-level half of the one validator (names.hpp is the other half),
// shared by the configuration's validator and the planner's host checks.
//
// A container's addresses (hostAddress, localAddress and their IPv6 twins)
// and a network's subnet become addresses and routes on the host. Some
// addresses can never work there, whatever the host looks like, and the
// kernel accepts several of them without complaint, so they are refused
// when the file is loaded (exit 2, file:line:col):
//
//   unspecified    0.0.0.0, ::          means "any": no one can be addressed by it
//   this network   0.0.0.0/8            never routed (RFC 1122 3.2.1.3; a martian to Linux)
//   loopback       127.0.0.0/8, ::1     the host's own lo; the localnet guard drops them
//   link-local     169.254.0.0/16, fe80::/10   never forwarded (RFC 3927 2.7, RFC 4291 2.5.6),
//                                        and `moat run` takes 169.254.172.0/22
//   multicast      224.0.0.0/4, ff00::/8 a group, not an interface
//   broadcast      255.255.255.255      every host of the link
//   IPv4-mapped    ::ffff:0:0/96         an IPv4 address in IPv6 clothes
//
// A prefix shorter than /8 (IPv4) or /16 (IPv6) cannot be a container
// network: 0.0.0.0/0 would be a second default route, and anything that
// wide covers networks the host reaches through its uplink. Whether a
// subnet clashes with what THIS host routes is decided at plan time
// (plan/host_checks.hpp), because only the host knows.
#pragma once

#include "sys/inet.hpp"

#include <optional>
#include <string>

namespace moat::config {

inline constexpr int min_network_prefix_v4 = 8;
inline constexpr int min_network_prefix_v6 = 16;
int min_network_prefix(const sys::ip_address& a);

// Why `a` can never be the address of one end of a container's link, e.g.
// "is a loopback address (127.0.0.0/8)"; nullopt for an ordinary unicast one.
// `host_scope_ok`: loopback and link-local addresses pass (a forward's
// hostAddress names one of the host's own addresses, and 127.0.0.1 is one).
std::optional<std::string> special_address(const sys::ip_address& a, bool host_scope_ok = false);

// Why `p` cannot be a container network (a subnet, or an address pair with
// a prefix length): too short, or overlapping one of the ranges above.
std::optional<std::string> network_problem(const sys::ip_prefix& p);

}  // namespace moat::config
