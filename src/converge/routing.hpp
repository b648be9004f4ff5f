// The routing layer of VPN confinement: policy rules and one routing table
// per tunnel, so a confined container's packets can only be routed into
// its tunnel — with or without moat's firewall.
//
// Table T of tunnel X (plan::tunnel_table) holds
//   * "default dev <X's device>", kept there by the tunnel runner while the
//     tunnel is up (src/tunnel), and removed by the kernel with the device;
//   * "unreachable default" (IPv4 and IPv6) with the worst metric, from
//     the moment `_tunnels` serves X (so the runner's rules below go with
//     the table when it stops, members or not), so that
//     without the tunnel the answer is "unreachable" at once, never the
//     main table (routing has no fall-through: table T never consults main,
//     which is also why a more specific route in main — TunnelVision,
//     CVE-2024-3661 — cannot pull confined traffic out);
//   * the confined containers' own links (the bridge's subnet or the
//     veth's /32), because the host's replies to them come from an address
//     inside that subnet and would otherwise go into the tunnel.
// Rules: "from <container address> lookup T" at priority 10000 for each
// confined address; at 10001, added by the tunnel runner while the tunnel
// is up, one for each of the tunnel's own addresses, so the host's own
// packets from it — e.g. a RST for a flow whose NAT died with the device —
// never take the uplink (the runner drops those of addresses the device no
// longer has; rules into a table moat no longer wants are removed with
// it); and "fwmark 0x6d6f6174 lookup main" at 9999 for replies of
// connections that came in from outside the tunnel (a forwarded port): the
// firewall marks those, so they go back the way they came.
#pragma once

#include "netlink/netlink.hpp"
#include "plan/plan.hpp"
#include "plan/tunnel.hpp"
#include "state/store.hpp"

#include <vector>

namespace moat::converge {

inline constexpr std::uint32_t reply_mark = 0x6d6f6174;  // "moat"
using plan::confined_rule_priority;

struct routing_plan {
    std::vector<netlink::route> routes;
    std::vector<netlink::rule> rules;
};

routing_plan routing_for(const std::vector<plan::container_plan>& running);

// Deletes the tunnel devices of the internal `_tunnels` container's
// runners, once it is stopped. A runner deletes its device when it stops,
// but an OpenVPN device is persistent (the daemon is unprivileged, see
// src/tunnel/daemon.hpp), so one whose runner was killed with -9 stays
// until the next runner of that tunnel starts — or until this. Only tun
// devices of `instance` (their alias, netlink/owner.hpp; or none, made by
// an older moat) are deleted; absent ones are fine.
void remove_tunnel_devices(const plan::container_plan& tunnels, const std::string& instance);

// Adds to `h` the routes and rules routing_for(plans) makes that it does
// not record yet, so that sync_routing() removes them once they are no
// longer wanted: a damaged host.json is rebuilt from the records (damage.hpp).
void record_routing(state::host_record& h, const std::vector<plan::container_plan>& plans);

// Records, then adds what routing_for(plans) wants, deleting nothing: for
// `up` before `_tunnels`' runners start (the tables they serve end in
// "unreachable" before their rules exist); sync_routing() follows.
void add_routing(state::store& store, const std::vector<plan::container_plan>& plans);

// Adds what routing_for(running) wants (drift included) and removes what an
// earlier run recorded and is no longer wanted; recorded before it is made.
void sync_routing(state::store& store, const std::vector<plan::container_plan>& running);

}  // namespace moat::converge
