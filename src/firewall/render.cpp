// render(): spec -> the whole `table inet moat` as nft script text.
//
// Everything is sorted first, so text depends only on the spec's content;
// `moat plan` can then diff two renderings and an unchanged config never
// produces a spurious firewall commit.
#include "firewall/render_detail.hpp"
#include "firewall/validate.hpp"

#include <set>

namespace moat::firewall {
namespace {

using detail::addr_set;
using detail::join_set;
using detail::l4proto_icmp;
using detail::l4proto_icmpv6;
using detail::of_family;
using detail::quoted;

std::string port_set(const std::vector<std::uint16_t>& ports) {
    return join_set(ports, [](std::uint16_t p) { return std::to_string(p); });
}

std::vector<std::string> links(const std::vector<endpoint>& eps) {
    std::set<std::string> s;
    for (const auto& e : eps) {
        s.insert(e.link());
    }
    return {s.begin(), s.end()};
}

std::vector<std::string> bridges(const std::vector<endpoint>& eps) {
    std::set<std::string> s;
    for (const auto& e : eps) {
        if (!e.bridge_if.empty()) {
            s.insert(e.bridge_if);
        }
    }
    return {s.begin(), s.end()};
}

// One verdict map keyed by (link, address) of one family.
void render_map(std::ostringstream& o, const char* name, bool v4, const std::vector<endpoint>& eps,
                const char* chain_prefix) {
    std::vector<std::string> elements;
    for (const auto& e : eps) {
        for (const auto& a : of_family(e.addresses, v4)) {
            elements.push_back(quoted(e.link()) + " . " + a.str() + " : goto " + chain_prefix + e.name);
        }
    }
    o << "\tmap " << name << " {\n\t\ttype ifname . " << (v4 ? "ipv4_addr" : "ipv6_addr") << " : verdict\n";
    // Named sets and maps rather than anonymous ones: they may be empty (an
    // anonymous `{ }` is a syntax error) and one lookup scales to any number
    // of containers.
    if (!elements.empty()) {
        o << "\t\telements = " << join_set(elements, [](const std::string& s) { return s; }) << "\n";
    }
    o << "\t}\n\n";
}

void render_sets(std::ostringstream& o, const std::vector<endpoint>& eps) {
    auto ifaces = links(eps);
    o << "\tset ifaces {\n\t\ttype ifname\n";
    if (!ifaces.empty()) {
        o << "\t\telements = " << join_set(ifaces, quoted) << "\n";
    }
    o << "\t}\n\n";
    render_map(o, "from4", true, eps, "out_");
    render_map(o, "from6", false, eps, "out_");
    render_map(o, "to4", true, eps, "in_");
    render_map(o, "to6", false, eps, "in_");
    detail::render_host_sets(o, eps);
    detail::render_forwarding_sets(o, eps);
}

void render_dispatch(std::ostringstream& o, const std::vector<endpoint>& eps) {
    // Sender first: a forwarded packet between two containers must pass the
    // sender's egress AND the receiver's inbound rules, so out_ chains never
    // accept, they only drop or return.
    o << "\tchain forward {\n"
         "\t\ttype filter hook forward priority filter; policy accept;\n"
         "\t\tiifname @ifaces jump from_moat\n"
         "\t\toifname @ifaces jump to_moat\n"
         "\t}\n\n"
         "\tchain output {\n"
         "\t\ttype filter hook output priority filter; policy accept;\n"
         "\t\toifname @ifaces jump to_moat\n"
         "\t}\n\n"
         "\tchain from_moat {\n"
         "\t\tiifname . ip saddr vmap @from4\n"
         "\t\tiifname . ip6 saddr vmap @from6\n"
         "\t\tdrop\n"
         "\t}\n\n"
         "\tchain to_moat {\n";
    // Members of one network reach each other. Bridged traffic only gets
    // here when br_netfilter is loaded, or when it was routed (hairpin).
    for (const auto& br : bridges(eps)) {
        o << "\t\tiifname " << quoted(br) << " oifname " << quoted(br) << " accept\n";
    }
    o << "\t\toifname . ip daddr vmap @to4\n"
         "\t\toifname . ip6 daddr vmap @to6\n"
         // The host's neighbour discovery towards the container side is
         // multicast, matching no container address.
         "\t\tmeta l4proto " << l4proto_icmpv6 << " accept\n"
         "\t\tdrop\n"
         "\t}\n\n";
}

void render_guard(std::ostringstream& o, const endpoint& e) {
    o << "\tchain guard_" << e.name << " {\n"
      << "\t\ttype filter hook ingress device " << quoted(e.host_if) << " priority -500; policy accept;\n";
    auto v4 = of_family(e.addresses, true);
    o << (v4.empty() ? "\t\tmeta protocol ip drop\n" : "\t\tip saddr != " + addr_set(v4) + " drop\n");
    // :: and link-local sources are duplicate address detection and
    // neighbour discovery; they are never forwarded. Plain matches, not an
    // anonymous set: the kernel binds each anonymous set by walking the
    // whole transaction, so a set per container made one commit of N
    // containers cost N^2 (docs/BENCHMARKS.md). `accept` ends only this
    // chain, as its policy would.
    o << "\t\tip6 saddr :: accept\n"
         "\t\tip6 saddr fe80::/10 accept\n";
    auto v6 = of_family(e.addresses, false);
    o << (v6.empty() ? "\t\tmeta protocol ip6 drop\n" : "\t\tip6 saddr != " + addr_set(v6) + " drop\n");
    o << "\t}\n\n";
}

void render_in_chain(std::ostringstream& o, const endpoint& e) {
    o << "\tchain in_" << e.name << " {\n"
      << "\t\tct state established,related accept\n"
         "\t\tct state invalid drop\n"
         "\t\tmeta l4proto " << l4proto_icmp << " accept\n"
         "\t\tmeta l4proto " << l4proto_icmpv6 << " accept\n";
    if (!e.tcp_ports.empty()) {
        o << "\t\ttcp dport " << port_set(e.tcp_ports) << " accept\n";
    }
    if (!e.udp_ports.empty()) {
        o << "\t\tudp dport " << port_set(e.udp_ports) << " accept\n";
    }
    // A forwarded port is an explicit exposure: let its DNAT'ed connections
    // in even when the port is not otherwise allowed.
    for (const char* proto : {"tcp", "udp"}) {
        std::set<std::uint16_t> ports;
        for (const auto& f : e.forwards) {
            if (f.protocol == proto) {
                ports.insert(f.container_port);
            }
        }
        if (!ports.empty()) {
            o << "\t\tct status dnat " << proto << " dport " << port_set({ports.begin(), ports.end()}) << " accept\n";
        }
    }
    detail::render_forwarding_accept(o, e);
    o << "\t\tdrop\n\t}\n\n";
}

void render_out_chain(std::ostringstream& o, const endpoint& e) {
    o << "\tchain out_" << e.name << " {\n"
      << "\t\tct state established,related return\n"
         "\t\tct state invalid drop\n"
         "\t\tct status dnat oifname @ifaces return\n";
    if (!e.bridge_if.empty()) {
        o << "\t\toifname " << quoted(e.bridge_if) << " return\n";
    }
    o << "\t\toifname @ifaces drop\n";
    // Kill switch for "vpn": only into the tunnel; no tunnel, nothing leaves.
    const std::string& way_out = e.egress == "nat" ? e.uplink : e.egress == "vpn" ? e.tunnel_if : std::string();
    if (!way_out.empty()) {
        o << "\t\toifname " << quoted(way_out) << " return\n";
    }
    o << "\t\tdrop\n\t}\n\n";
}

bool needs_nat(const std::vector<endpoint>& eps) {
    return std::any_of(eps.begin(), eps.end(), [](const endpoint& e) {
        return !e.forwards.empty() || (e.egress == "nat" && !e.uplink.empty()) ||
               (e.egress == "vpn" && !e.tunnel_if.empty());
    });
}

}  // namespace

std::string render(const spec& s) {
    std::vector<endpoint> eps = normalized(s);
    std::ostringstream o;
    o << "table " << table_family << " " << table_name << " {\n";
    render_sets(o, eps);
    render_dispatch(o, eps);
    detail::render_host_chains(o);
    for (const auto& e : eps) {
        render_guard(o, e);
        render_in_chain(o, e);
        render_out_chain(o, e);
    }
    detail::render_vpn(o, eps, s.reply_mark);
    if (needs_nat(eps)) {
        detail::render_nat(o, eps);
    }
    std::string text = o.str();
    text.erase(text.size() - 1);  // no blank line before the closing brace
    return text + "}\n";
}

}  // namespace moat::firewall
