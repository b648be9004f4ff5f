// The NAT half of the table: masquerading for egress, DNAT for forwardPorts.
#include "firewall/render_detail.hpp"

#include <map>

namespace moat::firewall::detail {
namespace {

std::string dnat_rule(const port_forward& f) {
    bool v4 = f.container_address.is_v4();
    std::string match = f.host_address
                            ? std::string(v4 ? "ip" : "ip6") + " daddr " + f.host_address->str()
                            // Only connections to the host itself, never ones it routes
                            // elsewhere (Docker's "ADDRTYPE --dst-type LOCAL").
                            : std::string("meta nfproto ") + (v4 ? "ipv4" : "ipv6") + " fib daddr type local";
    std::string target = v4 ? f.container_address.str() : "[" + f.container_address.str() + "]";
    return "\t\t" + match + " " + f.protocol + " dport " + std::to_string(f.host_port) + " dnat " +
           (v4 ? "ip" : "ip6") + " to " + target + ":" + std::to_string(f.container_port) + "\n";
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
    std::string rules;
    for (const auto& e : eps) {
        for (const auto& f : e.forwards) {
            rules += dnat_rule(f);
        }
    }
    o << "\tchain prerouting {\n"
         "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
      << rules << forwarding_dnat_rules(eps) << "\t}\n\n"
      << "\tchain nat_output {\n"
         "\t\ttype nat hook output priority -100; policy accept;\n"
      << rules << "\t}\n\n";
    render_postrouting(o, eps);
}

}  // namespace moat::firewall::detail
