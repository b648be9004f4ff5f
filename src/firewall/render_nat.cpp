// The NAT half of the table: masquerading for egress, DNAT for forwardPorts.
//
// Shaped so that a container's part is objects of its own or elements of
// named sets (firewall::incremental_update() adds and removes those alone
// on CNI ADD and DEL): the masquerade's sources are the elements of
// masq4/masq6, and each (protocol, host port) of a forward is a chain of
// its own (dnat_P_PORT from prerouting, dnato_P_PORT from nat_output),
// jumped to through the verdict maps dnat_pre/dnat_out. A packet matches a
// DNAT rule only with its protocol and destination port, so looking those
// up first changes nothing about which rule matches.
#include "firewall/render_detail.hpp"

#include <map>
#include <set>

namespace moat::firewall::detail {
namespace {

// `iif`: the input-interface match that chooses the forward's side ("" in
// nat_output, where there is no input interface); `from`: a source match.
std::string dnat_rule(const port_forward& f, const std::string& iif = "", const std::string& from = "") {
    bool v4 = f.container_address.is_v4();
    std::string match = f.host_address
                            ? std::string(v4 ? "ip" : "ip6") + " daddr " + f.host_address->str()
                            // Only connections to the host itself, never ones it routes
                            // elsewhere (Docker's "ADDRTYPE --dst-type LOCAL").
                            : std::string("meta nfproto ") + (v4 ? "ipv4" : "ipv6") + " fib daddr type local";
    std::string target = v4 ? f.container_address.str() : "[" + f.container_address.str() + "]";
    return "\t\t" + iif + from + match + " " + f.protocol + " dport " + std::to_string(f.host_port) + " dnat " +
           (v4 ? "ip" : "ip6") + " to " + target + ":" + std::to_string(f.container_port) + "\n";
}

// moat's tunnel devices: what "uplink" forwards are not opened on.
std::string not_tunnels(const std::vector<endpoint>& eps) {
    std::set<std::string> tunnels;
    for (const auto& e : eps) {
        if (e.egress == "vpn" && !e.tunnel_if.empty()) {
            tunnels.insert(e.tunnel_if);
        }
    }
    return tunnels.empty() ? "" : "iifname != " + join_set(std::vector<std::string>(tunnels.begin(), tunnels.end()), quoted) + " ";
}

// prerouting's DNAT rules of one forward of an endpoint, by its side.
std::string prerouting_rules(const endpoint& e, const port_forward& f, const std::string& outside) {
    if (f.side == "both") {
        return dnat_rule(f);
    }
    if (f.side == "uplink") {
        return dnat_rule(f, outside);
    }
    std::string rules;
    // No tunnel device (a damaged record): no way in, as no way out.
    if (!e.tunnel_if.empty()) {
        rules += dnat_rule(f, "iifname " + quoted(e.tunnel_if) + " ");
    }
    auto from = of_family(e.accessible_from, f.container_address.is_v4());
    if (!from.empty()) {
        rules += dnat_rule(f, outside, std::string(f.container_address.is_v4() ? "ip" : "ip6") + " saddr " +
                                           prefix_set(from) + " ");
    }
    return rules;
}

// Where each endpoint's new connections are masqueraded: egress "nat" out
// of its uplink, egress "vpn" into its tunnel.
std::map<std::string, std::vector<sys::ip_address>> masquerade_sources(const std::vector<endpoint>& eps) {
    std::map<std::string, std::vector<sys::ip_address>> by_if;
    for (const auto& e : eps) {
        if (e.egress != "nat" && e.egress != "vpn") {
            continue;
        }
        const std::string& out = e.egress == "nat" ? e.uplink : e.tunnel_if;
        if (!out.empty()) {
            auto& v = by_if[out];
            v.insert(v.end(), e.addresses.begin(), e.addresses.end());
        }
    }
    for (auto& [ifname, addrs] : by_if) {
        std::sort(addrs.begin(), addrs.end());
    }
    return by_if;
}

// The masquerade's sources, as elements of the named sets masq4/masq6
// ((output interface, source address)): one pod's entry is added or
// removed without touching the rule (firewall::incremental_update()).
void render_masquerade_sets(std::ostringstream& o, const std::vector<endpoint>& eps) {
    std::vector<std::string> v4, v6;
    for (const auto& [ifname, addrs] : masquerade_sources(eps)) {
        for (const auto& a : addrs) {
            (a.is_v4() ? v4 : v6).push_back(quoted(ifname) + " . " + a.str());
        }
    }
    for (const auto* family : {&v4, &v6}) {
        bool four = family == &v4;
        o << "	set " << (four ? "masq4" : "masq6") << " {\n\t\ttype ifname . " << (four ? "ipv4_addr" : "ipv6_addr")
          << "\n";
        if (!family->empty()) {
            o << "\t\telements = " << join_set(*family, [](const std::string& s) { return s; }) << "\n";
        }
        o << "\t}\n\n";
    }
}

void render_postrouting(std::ostringstream& o, const std::vector<endpoint>& eps) {
    o << "\tchain postrouting {\n"
         "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
         "\t\toifname . ip saddr @masq4 masquerade\n"
         "\t\toifname . ip6 saddr @masq6 masquerade\n";
    bool v4_forward = false, any_forward = false;
    for (const auto& e : eps) {
        for (const auto& f : e.forwards) {
            v4_forward |= f.container_address.is_v4();
            any_forward = true;
        }
    }
    if (v4_forward) {
        // 127.0.0.1:hostPort -> container: a loopback source cannot leave
        // through a container link (the container could not answer it).
        o << "\t\tip saddr 127.0.0.0/8 oifname @ifaces ct status dnat masquerade\n";
    }
    if (any_forward) {
        // Hairpin: container A -> host:port -> container B. Without this B
        // would answer A directly (same bridge) and A would drop the reply.
        o << "\t\tiifname @ifaces oifname @ifaces ct status dnat masquerade\n";
    }
    o << "\t}\n\n";
}

// DNAT rules by (protocol, host port): one chain per key, reached through
// a verdict map, so that a pod's forwards are a chain and a map element
// of their own (a key two pods share is one chain with both's rules, in
// the endpoints' order) rather than rules in the middle of a shared chain.
using dnat_chains = std::map<std::pair<std::string, std::uint16_t>, std::string>;

void render_dnat(std::ostringstream& o, const char* map, const char* prefix, const dnat_chains& chains) {
    std::vector<std::string> elements;
    for (const auto& [key, rules] : chains) {
        elements.push_back(l4proto(key.first) + " . " + std::to_string(key.second) + " : jump " + prefix + key.first + "_" +
                           std::to_string(key.second));
    }
    o << "\tmap " << map << " {\n\t\ttype inet_proto . inet_service : verdict\n";
    if (!elements.empty()) {
        o << "\t\telements = " << join_set(elements, [](const std::string& s) { return s; }) << "\n";
    }
    o << "\t}\n\n";
    for (const auto& [key, rules] : chains) {
        o << "\tchain " << prefix << key.first << "_" << key.second << " {\n" << rules << "\t}\n\n";
    }
}

}  // namespace

void render_nat(std::ostringstream& o, const std::vector<endpoint>& eps) {
    dnat_chains pre, out;
    const std::string outside = not_tunnels(eps);
    for (const auto& e : eps) {
        for (const auto& f : e.forwards) {
            pre[{f.protocol, f.host_port}] += prerouting_rules(e, f, outside);
            if (f.side != "tunnel") {  // the host's own connections never come from a tunnel
                out[{f.protocol, f.host_port}] += dnat_rule(f);
            }
        }
    }
    // A key whose rules are all absent (a tunnel forward without a tunnel)
    // gets no chain.
    std::erase_if(pre, [](const auto& kv) { return kv.second.empty(); });
    render_masquerade_sets(o, eps);
    render_dnat(o, "dnat_pre", "dnat_", pre);
    render_dnat(o, "dnat_out", "dnato_", out);
    o << "\tchain prerouting {\n"
         "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
         "\t\tmeta l4proto . th dport vmap @dnat_pre\n"
      << forwarding_dnat_rules(eps) << "\t}\n\n"
      << "\tchain nat_output {\n"
         "\t\ttype nat hook output priority -100; policy accept;\n"
         "\t\tmeta l4proto . th dport vmap @dnat_out\n"
         "\t}\n\n";
    render_postrouting(o, eps);
}

}  // namespace moat::firewall::detail
