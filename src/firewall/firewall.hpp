// The firewall: moat's one nftables table, `inet moat`.
//
// Theory of operation
// -------------------
// moat owns exactly one nftables table and never touches any other (the "No
// collateral" guarantee in PRODUCT.md). render() turns a plain spec (what the
// planner derived from the config) into the WHOLE table as nft script text,
// deterministically, and context::apply() commits "add table; delete table;
// <table>" as ONE libnftables batch. The kernel runs a batch as one
// transaction, so the old table is replaced atomically, or — on any error —
// nothing changes at all. There is never a moment in which a container runs
// without its rules. CNI ADD and DEL instead commit only what differs
// between the last committed render and the new one (incremental_update(),
// also one batch); render() keeps a container's part of the table in chains
// of its own and elements of named sets so that this is small.
//
// Shape of the table (render.cpp has the details). An endpoint is one
// container; its "link" is the host interface its traffic is routed
// through: its own veth (point-to-point) or its network's bridge.
//  * Base chains `forward`, `output` and `input` (filter hooks, policy
//    accept) only look at packets whose input or output interface is a
//    container link (set @ifaces); everything else falls through to policy
//    accept, so the host's own firewall (its own tables, hooked at the same
//    points) keeps deciding about it: nftables runs every table's base
//    chain, a drop anywhere wins.
//  * Traffic from containers is dispatched by (input link, source address)
//    through verdict maps to the sender's `out_<name>` chain; a source no
//    container owns on that link is dropped. Traffic to containers by
//    (output link, destination address) to the receiver's `in_<name>`.
//  * guard_<name>: an ingress hook on the container's veth drops packets
//    whose source is not the container's own address, before bridging or
//    routing: a bridge member cannot pose as another member.
//  * in_<name>: established/related in, invalid out, ICMP/ICMPv6 in (IPv6
//    neighbour discovery and ping need it), the allowed TCP/UDP ports and
//    the DNAT'ed forwardPorts in, everything else dropped.
//  * out_<name>: replies pass; new traffic that would be FORWARDED is judged
//    by the egress mode: "none" drops, "nat" passes only out of the uplink
//    (masqueraded in `postrouting`), "vpn" passes only into the tunnel
//    interface and fails closed without one. Before that, a DNAT'ed
//    connection to a container (a forwarded port reached through the
//    host's address) passes, and so does traffic to its own network; any
//    other container link is another network and is dropped.
//  * to_host (from `input`, render_host.cpp): traffic from a container to
//    the host ITSELF — any of its addresses: the link's own, another link's,
//    the uplink's, 127.0.0.1 — is input, which the forward hook never sees.
//    It passes only as a reply (established/related: the host's own
//    connections into containers, forwarded ports, ICMP errors), as the
//    neighbour solicitations/advertisements IPv6 needs on the link, as an
//    ICMP echo to the host's address on the container's own link (its
//    gateway, as with Docker), or to a port of the container's
//    allowedHostTCPPorts/allowedHostUDPPorts, matched by (input link,
//    source address, protocol, port) in one set lookup (host4/host6).
//    Everything else is dropped: a resolver or any other service on the
//    host is not a relay out of "none" or around a tunnel. For egress
//    "vpn", DNS (53, 853) stays closed even when listed: the host's
//    resolver resolves through the uplink whatever the tunnel does.
//    Nothing opens a host port implicitly — not a pipe of `_pipes`
//    listening on a link's host address (the containers meant to use it
//    list its port), so a pipe on a bridge's gateway is not opened to
//    every member of the network by accident.
//  * The localnet guard, first in to_host after replies: a packet from a
//    container link to 127.0.0.0/8 that is neither a reply nor DNAT'ed is
//    dropped (kube-proxy's "block incoming localnet connections",
//    CVE-2020-8558). The kernel alone drops such "martian" destinations
//    unless net.ipv4.conf.<link>.route_localnet (or .all) is 1, which the
//    caller sets only on links with a forward reachable from 127.0.0.1
//    (forwards_from_localhost()); the guard holds even where it is 1. IPv6
//    has no such switch: ip6_rcv_core() drops ::1 arriving on any
//    non-loopback device before netfilter sees it (RFC 4291 2.5.3).
//  * Port forwards are DNAT in `prerouting` (from outside and from
//    containers; by the forward's side: "uplink" on every interface but
//    moat's tunnel devices, "tunnel" only on the confined container's own
//    tunnel device — plus, for its accessibleFrom sources, elsewhere —
//    "both" anywhere) and `nat_output` (sides "uplink" and "both": from the
//    host itself, including
//    127.0.0.1 — whose replies arrive on the link addressed to 127.0.0.1
//    after un-NAT, hence route_localnet above). Each (protocol, host port)
//    is a chain of its own (dnat_P_N, dnato_P_N), jumped to through the
//    verdict maps dnat_pre/dnat_out keyed by (l4proto, th dport); the
//    masquerade's sources are the elements of masq4/masq6 ((output
//    interface, source address)): a container's part is objects of its own. Connections from 127/8 or
//    from another container are masqueraded on the way in, so that the
//    reply comes back through the host and is un-NAT'ed.
//
// Whose table it is. Two moat instances (state directories) in one network
// namespace would both want this one table; the first to make it writes its
// claim into the table's comment — "moat:<instance id>:<state dir>"
// (nftables table comments, kernel 5.10 userdata, nft 0.9.7+; at most 128
// bytes) — and every other instance refuses to replace or delete a table
// whose claim is not its own (converge/host.hpp). A table is only ever
// made with "create table" in the same transaction as its contents, so two
// instances racing for an absent table cannot both win: the loser's batch
// fails with EEXIST and changes nothing.
//
// Chain names are unquoted nft identifiers (nft 1.0.6 does not accept quoted
// chain names): "in_"/"out_"/"guard_" + a container name of [A-Za-z0-9_-], which can
// never collide with an nft keyword.
//
// libnftables 1.0.6 opens its netlink socket in nft_ctx_new(), so a context
// acts on the network namespace its creating thread was in, wherever it is
// used later: construct it inside the namespace it is meant for (e.g. under
// a netlink::netns_guard).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sys/inet.hpp"

struct nft_ctx;

namespace moat::firewall {

// The one table moat owns.
inline constexpr const char* table_family = "inet";
inline constexpr const char* table_name = "moat";

struct port_forward {
    std::string protocol;                     // "tcp" | "udp"
    std::uint16_t host_port = 0;
    std::uint16_t container_port = 0;
    std::optional<sys::ip_address> host_address;  // unset: every local address of the host
    sys::ip_address container_address;
    // "uplink": DNAT'ed on every interface but moat's tunnels (and from the
    // host itself); "tunnel": only on packets arriving on the endpoint's
    // tunnel_if (and, for the endpoint's accessible_from sources, on the
    // other interfaces); "both": everywhere.
    std::string side = "uplink";
};

// One container attachment.
struct endpoint {
    std::string name;                         // container name, [A-Za-z0-9_-]{1,64}
    std::string host_if;                      // host end of its veth, e.g. "ve-webapp"
    std::string bridge_if;                    // its network's bridge; empty = point-to-point
    std::vector<sys::ip_address> addresses;   // the container's addresses (v4 and/or v6)
    std::vector<std::uint16_t> tcp_ports;     // allowed inbound
    std::vector<std::uint16_t> udp_ports;
    std::vector<std::uint16_t> host_tcp_ports;  // the host's own ports it may open connections to
    std::vector<std::uint16_t> host_udp_ports;
    std::string egress = "none";              // "none" | "nat" | "vpn"
    std::string uplink;                       // egress "nat": the only way out; empty = none
    std::string tunnel_if;                    // egress "vpn": the tunnel's interface; empty = drop all
    std::vector<port_forward> forwards;
    // egress "vpn": sources outside the tunnel that may open connections to
    // its allowed ports and tunnel-side forwards (render_vpn.cpp).
    std::vector<sys::ip_prefix> accessible_from;
    // Receives its tunnel's provider-forwarded port (render_forwarding.cpp):
    // the runner fills its map and set at run time.
    bool provider_forwarding = false;

    // The interface the host routes the container's traffic through.
    const std::string& link() const { return bridge_if.empty() ? host_if : bridge_if; }
};

struct spec {
    std::vector<endpoint> endpoints;
    // Set on connections into a VPN-confined container from outside its
    // tunnel, so that their replies are routed back the same way.
    std::uint32_t reply_mark = 0x6d6f6174;
};

// The whole `table inet moat { ... }` as nft script text. Deterministic:
// endpoints, ports and addresses are sorted, so the same spec (in any order)
// renders byte-identical text. Throws moat::error for a spec nft could
// not express safely (bad names, duplicate interfaces, unknown egress, port 0,
// mixed address families in a forward).
std::string render(const spec& s);

// The nft commands (one batch) that turn table inet moat as committed from
// render() text `committed` into render() text `wanted` in place: only the
// chains, rules and set elements that differ (incremental.cpp). nullopt
// when it cannot be done so (a set or a chain's hook changed, text not in
// render()'s shape): then the whole table is replaced. Empty when equal.
std::optional<std::string> incremental_update(const std::string& committed, const std::string& wanted);

// A listing with its top-level sets, maps and chains sorted by kind and
// name, their text unchanged: the kernel lists chains in creation order,
// which after incremental updates is not render()'s. Compare listings so.
std::string canonical_listing(const std::string& listing);

// The host's own ports (of `protocol`, "tcp" or "udp") that new traffic of
// `e` may reach: its host_*_ports, less 53 and 853 for egress "vpn".
std::vector<std::uint16_t> allowed_host_ports(const endpoint& e, const std::string& protocol);

// Whether a forward of `e` is reachable from the host's 127.0.0.1 (IPv4,
// without hostAddress or with a 127/8 one): then, and only then, its link
// needs net.ipv4.conf.<link>.route_localnet = 1 for the replies.
bool forwards_from_localhost(const endpoint& e);

// The provider's forwarded port (render_forwarding.cpp): the names of a
// container's map and set, the nft commands that make them hold exactly
// `ports` (one transaction), and a listing without their elements (which
// are the runner's, not drift).
struct forwarded_port {
    std::string protocol;  // "tcp" | "udp"
    std::uint16_t tunnel_port = 0;     // where it arrives at the tunnel's address
    std::uint16_t container_port = 0;  // where the container listens
};
std::string forwarding_map(const std::string& container);
std::string forwarding_set(const std::string& container);
std::string forwarding_update(const std::string& container, const std::vector<forwarded_port>& ports);
std::string without_forwarded_elements(const std::string& listing);

// The table's claim: which moat instance made it, and from which state
// directory (to tell the user; the id is what counts).
struct claim {
    std::string instance;   // state::store::instance_id()
    std::string state_dir;  // as given to that instance; may be shortened
    bool operator==(const claim&) const = default;
};

// "moat:<instance>:<state dir>", at most 128 bytes (nft's limit for a
// comment), without characters an nft string cannot hold: a longer path
// keeps its tail after "...", other characters become '?'.
std::string claim_comment(const claim& c);
// The claim in a table comment; nullopt when it is not moat's.
std::optional<claim> parse_claim(const std::string& comment);
// The comment of the table in a `list table` listing; nullopt when it has none.
std::optional<std::string> listing_comment(const std::string& listing);

// Whether table inet moat exists (nullopt: it does not) and its comment
// (inner nullopt: it has none), read with one NFT_MSG_GETTABLE: what the
// claim check needs, without listing the table (table_comment.cpp).
std::optional<std::optional<std::string>> table_comment();

// For a command about to exit (the CNI plugin, whose exit the runtime
// waits for): the last close of a NETLINK_NETFILTER socket after a commit
// waits for nf_tables' deferred destruction (an RCU grace period; see
// context.cpp), and at exit that close is the exit's. A child cloned here
// (sharing the caller's memory, so that it costs no copy of its page
// tables) takes this process's netfilter sockets (the parked context's,
// conntrack's), closes every other descriptor at once (stdout: the runtime
// sees EOF; the state lock) and makes that last close instead, so the
// caller's exit does not wait. Returns at once; when the clone fails the
// exit waits, as before. Call it only right before exiting.
void release_netfilter_sockets_at_exit() noexcept;

// RAII over struct nft_ctx with buffered output and error streams.
class context {
public:
    context();
    ~context();
    context(const context&) = delete;
    context& operator=(const context&) = delete;
    context(context&&) noexcept;
    context& operator=(context&&) noexcept;

    // Replaces table inet moat with `script` (render()'s output) in one
    // transaction; on error nothing changes and moat::error carries nft's text.
    // `comment` (claim_comment()) becomes the table's comment; the script
    // must then open with "table inet moat {" (render() does), else
    // moat::error and nothing is sent. With
    // `create`, the transaction fails (EEXIST, nothing changes) if the table
    // exists: for making a table believed absent.
    void apply(const std::string& script, const std::string& comment = "", bool create = false);
    // Deletes table inet moat if present; absent is fine.
    void remove();
    // "list table inet moat", or nullopt when the table does not exist.
    std::optional<std::string> current();
    // Runs any nft command(s) and returns the buffered output; throws
    // moat::error with nft's error text on failure.
    std::string run(const std::string& cmd);

    // Parse and evaluate only; the kernel is not changed (nft --check).
    void set_dry_run(bool on);

private:
    struct deleter {
        void operator()(nft_ctx* c) const noexcept;
    };
    std::unique_ptr<nft_ctx, deleter> _ctx;
};

}  // namespace moat::firewall
