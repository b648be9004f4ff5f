// `moat check`: is what moat made still there, does egress work, and does
// anything bleed out? Read-only: it changes no kernel state and leaves no
// residue (its sockets and captures close when it returns).
//
// Per container (from the state directory's records):
//  * static: the init and services are alive; the veth (and its bridge),
//    the container's address and default route, the firewall's chains, the
//    forwarding sysctls NAT needs; for VPN egress the tunnel device, the
//    policy rule and the tunnel table's unreachable fallback;
//  * egress (when a probe is configured): a connection from inside the
//    container's network namespace to the probe — it must fail for egress
//    "none" and succeed otherwise; an HTTP probe that answers with the
//    address it sees shows the exit: the uplink's address for "nat", not
//    the uplink's for "vpn";
//  * leak (egress "none" and "vpn"): while the probe runs, AF_PACKET
//    sockets on every other interface of the host (not moat's own links,
//    not tunnels) count packets to the probe's address or from the
//    container's; any is a leak;
//  * host access (every container with a link, probe or not): the host's
//    own listening services the container could reach are probed from
//    inside it, and one that answers on a port its allowedHost*Ports do
//    not list is a failure — a resolver or proxy on the host relays what
//    the leak capture would never see (host_access.hpp).
#pragma once

#include "state/store.hpp"

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace moat::check {

struct finding {
    std::string container;
    std::string check;     // "init", "services", "link", "egress", "leak", "host access", ...
    bool ok = true;
    std::string evidence;  // what was seen
    std::string hint;      // for a failure: what to do
};

struct options {
    std::vector<std::string> names;  // empty: every container
    std::chrono::milliseconds timeout{2000};
};

// Every recorded container (of `opts.names`) appears in the findings: one
// that cannot be checked — its record damaged, its init dead, its veth or
// namespace gone — has its failures with the reason, and the others are
// checked as usual. Throws only when the state directory itself cannot be
// read.
std::vector<finding> run(const state::store& store, const options& opts);

// The static checks alone, of one record (a CNI CHECK of its pod): what
// moat made for it is still there, its tunnel up for VPN egress.
std::vector<finding> static_findings(const state::store& store, const state::container_record& r);

}  // namespace moat::check
