// The host's side of the table: what a container may reach of the host
// itself. Traffic from a container to any of the host's addresses is routed
// to local delivery and passes the input hook, never forward, so neither
// out_<name> nor the egress mode sees it; without this chain an "egress =
// none" container could use any service of the host — a DNS forwarder
// above all — as its relay to the internet. firewall.hpp has the rules'
// theory; here is the text.
#include "firewall/render_detail.hpp"

#include <set>

namespace moat::firewall {

std::vector<std::uint16_t> allowed_host_ports(const endpoint& e, const std::string& protocol) {
    std::set<std::uint16_t> ports;
    for (auto p : protocol == "tcp" ? e.host_tcp_ports : protocol == "udp" ? e.host_udp_ports : std::vector<std::uint16_t>{}) {
        // DNS and DNS over TLS: the host's resolver would resolve a confined
        // container's names through the uplink, around the tunnel.
        if (e.egress != "vpn" || (p != 53 && p != 853)) {
            ports.insert(p);
        }
    }
    return {ports.begin(), ports.end()};
}

bool forwards_from_localhost(const endpoint& e) {
    return std::any_of(e.forwards.begin(), e.forwards.end(), [](const port_forward& f) {
        if (f.side == "tunnel") {  // never DNAT'ed from the host itself
            return false;
        }
        // 127.0.0.0/8: the first byte. IPv6 forwards never start from ::1
        // on a non-loopback link, so only IPv4 ones count.
        return f.container_address.is_v4() && (!f.host_address || f.host_address->bytes[0] == 127);
    });
}

namespace detail {

namespace {

void render_allow_set(std::ostringstream& o, const char* name, bool v4, const std::vector<endpoint>& eps) {
    std::vector<std::string> elements;
    for (const auto& e : eps) {
        for (const auto& a : of_family(e.addresses, v4)) {
            for (const char* proto : {"tcp", "udp"}) {
                for (auto port : allowed_host_ports(e, proto)) {
                    elements.push_back(quoted(e.link()) + " . " + a.str() + " . " + l4proto(proto) + " . " + std::to_string(port));
                }
            }
        }
    }
    o << "\tset " << name << " {\n\t\ttype ifname . " << (v4 ? "ipv4_addr" : "ipv6_addr")
      << " . inet_proto . inet_service\n";
    if (!elements.empty()) {
        o << "\t\telements = " << join_set(elements, [](const std::string& s) { return s; }) << "\n";
    }
    o << "\t}\n\n";
}

}  // namespace

void render_host_sets(std::ostringstream& o, const std::vector<endpoint>& eps) {
    render_allow_set(o, "host4", true, eps);
    render_allow_set(o, "host6", false, eps);
}

void render_host_chains(std::ostringstream& o) {
    o << "\tchain input {\n"
         "\t\ttype filter hook input priority filter; policy accept;\n"
         "\t\tiifname @ifaces jump to_host\n"
         "\t}\n\n"
         "\tchain to_host {\n"
         // Replies: to the host's own connections into containers and to
         // forwarded ports (127.0.0.1 ones included), and the ICMP errors
         // that belong to them.
         "\t\tct state established,related accept\n"
         // The localnet guard (kube-proxy's KUBE-FIREWALL rule, less its
         // "! -s 127.0.0.0/8", which only matters on lo: a loopback source
         // from a container link is spoofed and its guard_ chain drops it).
         "\t\tip daddr 127.0.0.0/8 ct status & dnat == 0 drop\n"
         "\t\tct state invalid drop\n"
         // Address resolution with the host; conntrack leaves ND untracked.
         // Router advertisements and redirects are not among them: a
         // container must never become the host's IPv6 router.
         "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n"
         // Ping the gateway — the host's address on the container's own
         // link (the fib lookup is restricted to the input interface) — and
         // no other of the host's addresses. The kernel answers it; it
         // carries nothing further.
         "\t\ticmp type echo-request fib daddr . iif type local accept\n"
         "\t\ticmpv6 type echo-request fib daddr . iif type local accept\n"
         "\t\tiifname . ip saddr . meta l4proto . th dport @host4 accept\n"
         "\t\tiifname . ip6 saddr . meta l4proto . th dport @host6 accept\n"
         "\t\tdrop\n"
         "\t}\n\n";
}

}  // namespace detail
}  // namespace moat::firewall
