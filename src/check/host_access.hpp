// The host-access check of `moat check`: can a container reach a service of
// the host itself? The firewall's to_host chain says no unless the
// container's allowedHostTCPPorts/allowedHostUDPPorts list the port; a
// resolver or proxy on the host that answers anyway is a relay out of
// "egress = none" or around a tunnel, so this check looks for one with
// evidence instead of trusting the table.
//
//  * The host's listening sockets are read in the host's namespace through
//    NETLINK_SOCK_DIAG (TCP listeners, UDP sockets bound but not connected;
//    netlink/sock_diag.hpp).
//  * For each container, those it could reach: bound on a wildcard address
//    (probed at its gateway, the host's address on its own link) or on one
//    of the host's global addresses (probed there), of a family it has, not
//    bound to another device. Loopback-bound ones are out of its routing's
//    reach; the table's localnet guard and route_localnet keep them so and
//    are checked statically. At most max_probes per container.
//  * Each is probed from a socket made in the container's namespace, all
//    at once on one poll: TCP must complete its handshake; UDP port 53 gets
//    a DNS question and must get an answer. Other UDP ports are only listed:
//    without the service's own protocol nothing would prove an answer.
//  * An answer on a port the container's configuration does not open is a
//    failure: "host service reachable: tcp 10.171.1.1:22 (not in
//    allowedHostTCPPorts)".
#pragma once

#include "check/detail.hpp"
#include "netlink/sock_diag.hpp"

namespace moat::check::detail {

// Read with netlink::listening_sockets() in the host's namespace.
using host_socket = netlink::listening_socket;

constexpr std::size_t max_probes = 48;

// What one container may be probed for.
struct host_access_subject {
    std::string name;
    std::string netns;                            // its network namespace, as a path
    int link_ifindex = 0;                         // its veth or bridge on the host
    std::optional<sys::ip_address> gateway4, gateway6;  // the host's address on that link
    std::vector<std::uint16_t> allowed_tcp, allowed_udp;  // as the firewall opens them
};

// One finding "host access" per subject, probing in parallel; `host_addresses`
// are the host's global addresses.
void host_access_checks(const std::vector<host_access_subject>& subjects, const std::vector<host_socket>& sockets,
                        const std::vector<sys::ip_address>& host_addresses, std::chrono::milliseconds timeout,
                        std::vector<finding>& out);

}  // namespace moat::check::detail
