// The firewall's part in VPN confinement, besides out_<name> letting
// confined traffic out only into its tunnel (the kill switch proper) and
// to_host keeping the host's resolver closed to confined containers even
// when allowedHost*Ports list it (render_host.cpp; a DNS forwarder on the
// host would resolve through the uplink whatever the tunnel's state):
//  * mark_replies: a connection that reached a confined container from
//    outside its tunnel (a forwarded port) is marked, and so is each of its
//    packets, so the rule "fwmark lookup main" routes the replies back the
//    way the request came instead of into the tunnel. It runs after dstnat,
//    when the destination is already the container's own address.
//  * reach_confined: who outside the tunnel may open a connection to a
//    confined container's own address (its allowed ports; not a forward,
//    which is DNAT'ed and chosen by its side): only its accessibleFrom
//    sources. Packets from moat's own links (its network, other containers,
//    judged by out_/in_ chains) and from its tunnel pass, and the host's own
//    connections never reach prerouting. Replies to what is let in carry
//    the mark above and go back through the main table; the container's
//    own new connections carry none, so a route into those subnets never
//    exists for them (table T stays the only one they see), and out_<name>
//    still lets them only into the tunnel.
#include "firewall/render_detail.hpp"

#include <set>

namespace moat::firewall::detail {

namespace {

void render_reach(std::ostringstream& o, const std::vector<endpoint>& eps, const std::string& not_tunnel) {
    o << "\tchain reach_confined {\n\t\ttype filter hook prerouting priority -90; policy accept;\n";
    for (const auto& e : eps) {
        if (e.egress != "vpn") {
            continue;
        }
        for (bool v4 : {true, false}) {
            auto to = of_family(e.addresses, v4);
            if (to.empty()) {
                continue;
            }
            const char* ip = v4 ? "ip" : "ip6";
            auto from = of_family(e.accessible_from, v4);
            o << "\t\tct state new iifname != @ifaces " << not_tunnel << "ct status & dnat == 0 " << ip << " daddr "
              << addr_set(to) << (from.empty() ? std::string() : " " + std::string(ip) + " saddr != " + prefix_set(from))
              << " drop\n";
        }
    }
    o << "\t}\n\n";
}

}  // namespace

void render_vpn(std::ostringstream& o, const std::vector<endpoint>& eps, std::uint32_t mark) {
    std::vector<sys::ip_address> confined;
    std::set<std::string> tunnels;
    for (const auto& e : eps) {
        if (e.egress == "vpn") {
            confined.insert(confined.end(), e.addresses.begin(), e.addresses.end());
            if (!e.tunnel_if.empty()) {
                tunnels.insert(e.tunnel_if);
            }
        }
    }
    if (confined.empty()) {
        return;
    }
    std::sort(confined.begin(), confined.end());
    auto v4 = of_family(confined, true), v6 = of_family(confined, false);
    o << "\tchain mark_replies {\n\t\ttype filter hook prerouting priority -90; policy accept;\n";
    std::string not_tunnel = tunnels.empty() ? ""
                                             : "iifname != " + join_set(std::vector<std::string>(tunnels.begin(), tunnels.end()), quoted) + " ";
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", mark);
    if (!v4.empty()) {
        o << "\t\tct state new " << not_tunnel << "ip daddr " << addr_set(v4) << " ct mark set " << hex << "\n";
    }
    if (!v6.empty()) {
        o << "\t\tct state new " << not_tunnel << "ip6 daddr " << addr_set(v6) << " ct mark set " << hex << "\n";
    }
    o << "\t\tct mark " << hex << " meta mark set " << hex << "\n\t}\n\n";
    render_reach(o, eps, not_tunnel);
}

}  // namespace moat::firewall::detail
