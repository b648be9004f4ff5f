// render(): spec -> the whole `table inet moat` as nft script text.
//
// Everything is sorted first, so text depends only on the spec's content;
// `moat plan` can then diff two renderings and an unchanged config never
// produces a spurious firewall commit.
#include <algorithm>
#include <set>
#include <sstream>

#include "firewall/firewall.hpp"
#include "firewall/validate.hpp"

namespace moat::firewall {
namespace {

template <typename T>
std::string join_set(const std::vector<T>& items, auto&& fmt) {
    std::string out = "{ ";
    for (std::size_t i = 0; i < items.size(); ++i) {
        out += (i ? ", " : "") + fmt(items[i]);
    }
    return out + " }";
}

std::string port_set(const std::vector<std::uint16_t>& ports) {
    return join_set(ports, [](std::uint16_t p) { return std::to_string(p); });
}

std::string addr_set(const std::vector<sys::ip_address>& addrs) {
    return join_set(addrs, [](const sys::ip_address& a) { return a.str(); });
}

std::vector<sys::ip_address> of_family(const std::vector<sys::ip_address>& addrs, bool v4) {
    std::vector<sys::ip_address> out;
    std::copy_if(addrs.begin(), addrs.end(), std::back_inserter(out),
                 [v4](const sys::ip_address& a) { return a.is_v4() == v4; });
    return out;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

void render_maps(std::ostringstream& o, const std::vector<endpoint>& eps) {
    // Named sets/maps rather than anonymous ones: they may be empty (an
    // anonymous `{ }` is a syntax error) and one lookup scales to any number
    // of containers.
    auto elements = [&](auto&& fmt) {
        if (eps.empty()) {
            return;
        }
        o << "\t\telements = " << join_set(eps, fmt) << "\n";
    };
    o << "\tset ifaces {\n\t\ttype ifname\n";
    elements([](const endpoint& e) { return quoted(e.host_if); });
    o << "\t}\n\n\tmap to_container {\n\t\ttype ifname : verdict\n";
    elements([](const endpoint& e) { return quoted(e.host_if) + " : jump in_" + e.name; });
    o << "\t}\n\n\tmap from_container {\n\t\ttype ifname : verdict\n";
    elements([](const endpoint& e) { return quoted(e.host_if) + " : jump out_" + e.name; });
    o << "\t}\n\n";
}

void render_filter_base(std::ostringstream& o) {
    // from_container first: a forwarded packet between two containers must
    // pass the sender's egress AND the receiver's inbound rules, so out_
    // chains never accept, they only drop or return.
    o << "\tchain forward {\n"
         "\t\ttype filter hook forward priority filter; policy accept;\n"
         "\t\tiifname vmap @from_container\n"
         "\t\toifname vmap @to_container\n"
         "\t}\n\n"
         "\tchain output {\n"
         "\t\ttype filter hook output priority filter; policy accept;\n"
         "\t\toifname vmap @to_container\n"
         "\t}\n\n";
}

void render_in_chain(std::ostringstream& o, const endpoint& e) {
    o << "\tchain in_" << e.name << " {\n"
      << "\t\tct state established,related accept\n"
         "\t\tct state invalid drop\n"
         "\t\tmeta l4proto { icmp, ipv6-icmp } accept\n";
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
            o << "\t\tct status dnat " << proto << " dport "
              << port_set({ports.begin(), ports.end()}) << " accept\n";
        }
    }
    o << "\t\tdrop\n\t}\n\n";
}

// A container that may send anything out may still not pretend to be
// someone else: without this, spoofed sources would escape masquerading.
void render_anti_spoof(std::ostringstream& o, const endpoint& e) {
    auto v4 = of_family(e.addresses, true);
    auto v6 = of_family(e.addresses, false);
    o << (v4.empty() ? "\t\tmeta nfproto ipv4 drop\n"
                     : "\t\tip saddr != " + addr_set(v4) + " drop\n");
    o << (v6.empty() ? "\t\tmeta nfproto ipv6 drop\n"
                     : "\t\tip6 saddr != " + addr_set(v6) + " drop\n");
}

void render_out_chain(std::ostringstream& o, const endpoint& e) {
    o << "\tchain out_" << e.name << " {\n"
      << "\t\tct state established,related return\n"
         "\t\tct state invalid drop\n";
    if (e.egress == "nat") {
        render_anti_spoof(o, e);
        o << "\t\treturn\n";
    } else if (e.egress == "vpn") {
        // Kill switch: only into the tunnel; no tunnel, nothing leaves.
        render_anti_spoof(o, e);
        if (!e.tunnel_if.empty()) {
            o << "\t\toifname " << quoted(e.tunnel_if) << " return\n";
        }
        o << "\t\tdrop\n";
    } else {
        o << "\t\tdrop\n";
    }
    o << "\t}\n\n";
}

bool needs_nat(const std::vector<endpoint>& eps) {
    return std::any_of(eps.begin(), eps.end(), [](const endpoint& e) {
        return !e.forwards.empty() || e.egress == "nat" || (e.egress == "vpn" && !e.tunnel_if.empty());
    });
}

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

void render_postrouting(std::ostringstream& o, const std::vector<endpoint>& eps) {
    o << "\tchain postrouting {\n"
         "\t\ttype nat hook postrouting priority srcnat; policy accept;\n";
    bool localhost_forward = false;
    for (const auto& e : eps) {
        std::string out = e.egress == "nat" ? "oifname != @ifaces"
                          : (e.egress == "vpn" && !e.tunnel_if.empty()) ? "oifname " + quoted(e.tunnel_if)
                                                                        : "";
        if (!out.empty()) {
            if (auto v4 = of_family(e.addresses, true); !v4.empty()) {
                o << "\t\tip saddr " << addr_set(v4) << " " << out << " masquerade\n";
            }
            if (auto v6 = of_family(e.addresses, false); !v6.empty()) {
                o << "\t\tip6 saddr " << addr_set(v6) << " " << out << " masquerade\n";
            }
        }
        for (const auto& f : e.forwards) {
            localhost_forward |= f.container_address.is_v4();
        }
    }
    if (localhost_forward) {
        // 127.0.0.1:hostPort -> container: a loopback source cannot leave
        // through a veth (the container could not answer it), so it is
        // rewritten to the veth's own address.
        o << "\t\tip saddr 127.0.0.0/8 oifname @ifaces ct status dnat masquerade\n";
    }
    o << "\t}\n\n";
}

void render_nat(std::ostringstream& o, const std::vector<endpoint>& eps) {
    std::string rules;
    for (const auto& e : eps) {
        for (const auto& f : e.forwards) {
            rules += dnat_rule(f);
        }
    }
    o << "\tchain prerouting {\n"
         "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
      << rules << "\t}\n\n"
      << "\tchain nat_output {\n"
         "\t\ttype nat hook output priority -100; policy accept;\n"
      << rules << "\t}\n\n";
    render_postrouting(o, eps);
}

}  // namespace

std::string render(const spec& s) {
    std::vector<endpoint> eps = normalized(s);
    std::ostringstream o;
    o << "table " << table_family << " " << table_name << " {\n";
    render_maps(o, eps);
    render_filter_base(o);
    for (const auto& e : eps) {
        render_in_chain(o, e);
        render_out_chain(o, e);
    }
    if (needs_nat(eps)) {
        render_nat(o, eps);
    }
    std::string text = o.str();
    text.erase(text.size() - 1);  // no blank line before the closing brace
    return text + "}\n";
}

}  // namespace moat::firewall
