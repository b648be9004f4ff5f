// Busy host ports: `moat up` refuses, before it touches anything, a forward
// or a host pipe whose port a host socket already holds.
//
// Theory of operation
//
//  * A forward is DNAT in prerouting and output (firewall/render_nat.cpp):
//    once committed, connections to the host's port reach the container, and
//    a host service listening there becomes unreachable without an error
//    anywhere. A host pipe (`_pipes`, host network) whose source is taken
//    fails its bind() after `up` has returned 0 and restarts forever. Both are
//    found here first and are configuration errors (exit 2, nothing changed).
//  * Each entry claims (protocol, port, coverage). Coverage is a set of
//    addresses where a family's wildcard stands for every address of that
//    family: a forward without hostAddress covers the wildcard of each family
//    the container has (its DNAT matches `fib daddr type local`, the
//    loopback included); with hostAddress, that one address; a host pipe,
//    the address it binds (moat pipe sets IPV6_V6ONLY, so "[::]" is IPv6 only).
//  * A listening socket (netlink/sock_diag.hpp: TCP LISTEN, unconnected bound
//    UDP) covers its bound address, and an IPv6 wildcard without IPV6_V6ONLY
//    also covers IPv4 (the kernel delivers IPv4 to it as mapped addresses).
//    Two coverages meet when they share a family and either side is that
//    family's wildcard or both name the same address — the same rule the
//    kernel's bind() applies to listeners (inet_csk_bind_conflict), and the
//    one that says which service a DNAT rule would shadow. A socket bound to
//    a device still counts: DNAT takes the port on every device.
//  * moat's own sockets do not count: a host pipe of this state directory,
//    already running from an earlier `up`, is held by a process in the
//    cgroup of the container that runs it (`_pipes`: the record's
//    moat/<instance>/_pipes), so a second `up` stays idempotent. Exempt are
//    sockets whose every holder is in the cgroup of a container this `up`
//    converges: whatever such a container holds is either replaced by the
//    new plan or claimed again by the file — and the file's claims are
//    compared with each other (a forward and a host pipe on one port; two
//    forwards are the validator's). A container left alone (`up NAME`
//    without `_pipes`) is not exempt: its pipes keep their ports.
//    Limit: a service of a container without a network of its own is not a
//    claim (moat does not know its ports), so a forward of the same file on
//    its port is not refused once it runs.
//  * Holders (pid, command) are found by the socket's inode in /proc/*/fd,
//    only for the conflicting sockets, and named "where visible".
#pragma once

#include "config/loader.hpp"
#include "config/model.hpp"
#include "netlink/sock_diag.hpp"
#include "plan/plan.hpp"
#include "state/store.hpp"

#include <string>
#include <vector>

namespace moat::converge {

// What one entry of the file will take on the host.
struct port_claim {
    config::location where;
    std::string what;       // "container 'web': forwardPorts tcp 7070", "pipe 'front': source 127.0.0.1:7000"
    std::string key;        // the config key to change ("hostPort", "source")
    int protocol = 0;       // IPPROTO_TCP | IPPROTO_UDP
    std::uint16_t port = 0;
    std::vector<sys::ip_address> covers;  // a family's wildcard = all its addresses
};

// The claims of the planned containers' forwards and of the pipes that
// listen in the host's namespace (run by a planned `_pipes` or a planned
// container without a network of its own): their source as the pipe will
// bind it, a name resolved as the pipe resolves it (unresolvable: skipped).
std::vector<port_claim> port_claims(const config::model& m, const std::vector<plan::container_plan>& plans);

// Whether `claim` and `socket` want the same port (the rule above).
bool conflicts(const port_claim& claim, const netlink::listening_socket& socket);
bool conflicts(const port_claim& a, const port_claim& b);

// A claim that cannot be had: the host sockets holding its port, or an
// earlier claim of the same file (pointers into find_busy's `claims`).
struct busy_port {
    const port_claim* claim = nullptr;
    std::vector<netlink::listening_socket> sockets;
    const port_claim* earlier = nullptr;
};
std::vector<busy_port> find_busy(const std::vector<port_claim>& claims,
                                 const std::vector<netlink::listening_socket>& sockets);

// "file:line:col: error: container 'web': forwardPorts tcp 7070: taken on
// the host by tcp 0.0.0.0:7070 (pid 812, python3)"; `holders` align with
// b.sockets (empty: not visible).
config::diagnostic diagnostic_of(const busy_port& b, const std::vector<std::vector<netlink::socket_holder>>& holders);

// All of the above against the calling thread's network namespace: empty
// when every claimed port is free. Touches nothing; the caller turns the
// diagnostics into a config_error (exit 2).
std::vector<config::diagnostic> busy_host_ports(const config::model& m, const std::vector<plan::container_plan>& plans,
                                                const state::store& store);

}  // namespace moat::converge
