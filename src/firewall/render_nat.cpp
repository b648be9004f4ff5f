// The NAT half of the table: masquerading for egress, DNAT for forwardPorts.
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

// prerouting's DNAT rules of one endpoint, by each forward's side.
std::string prerouting_rules(const endpoint& e, const std::string& outside) {
    std::string rules;
    for (const auto& f : e.forwards) {
        if (f.side == "both") {
            rules += dnat_rule(f);
        } else if (f.side == "uplink") {
            rules += dnat_rule(f, outside);
        } else {
            // No tunnel device (a damaged record): no way in, as no way out.
            if (!e.tunnel_if.empty()) {
                rules += dnat_rule(f, "iifname " + quoted(e.tunnel_if) + " ");
            }
            auto from = of_family(e.accessible_from, f.container_address.is_v4());
            if (!from.empty()) {
                rules += dnat_rule(f, outside, std::string(f.container_address.is_v4() ? "ip" : "ip6") + " saddr " +
                                                   prefix_set(from) + " ");
            }
        }
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

void render_postrouting(std::ostringstream& o, const std::vector<endpoint>& eps) {
    o << "\tchain postrouting {\n"
         "\t\ttype nat hook postrouting priority srcnat; policy accept;\n";
    for (const auto& [ifname, addrs] : masquerade_sources(eps)) {
        if (auto v4 = of_family(addrs, true); !v4.empty()) {
            o << "\t\toifname " << quoted(ifname) << " ip saddr " << addr_set(v4) << " masquerade\n";
        }
        if (auto v6 = of_family(addrs, false); !v6.empty()) {
            o << "\t\toifname " << quoted(ifname) << " ip6 saddr " << addr_set(v6) << " masquerade\n";
        }
    }
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

}  // namespace

void render_nat(std::ostringstream& o, const std::vector<endpoint>& eps) {
    std::string pre, out;
    const std::string outside = not_tunnels(eps);
    for (const auto& e : eps) {
        pre += prerouting_rules(e, outside);
        for (const auto& f : e.forwards) {
            if (f.side != "tunnel") {  // the host's own connections never come from a tunnel
                out += dnat_rule(f);
            }
        }
    }
    o << "\tchain prerouting {\n"
         "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
      << pre << forwarding_dnat_rules(eps) << "\t}\n\n"
      << "\tchain nat_output {\n"
         "\t\ttype nat hook output priority -100; policy accept;\n"
      << out << "\t}\n\n";
    render_postrouting(o, eps);
}

}  // namespace moat::firewall::detail
