#include "firewall/validate.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <tuple>

#include "sys/error.hpp"

namespace moat::firewall {
namespace {

// A runtime refusal, not bad usage: the planner and the host checks
// (plan/host_checks.hpp) refuse all of this before anything is touched, so
// reaching it means a tampered record or a bug, found after things were.
[[noreturn]] void invalid(const std::string& what) {
    throw moat::error("firewall: " + what);
}

// Becomes part of the chain names in_<name>/out_<name>: after the prefix,
// nft's scanner reads [A-Za-z0-9_-] as one identifier, never a keyword.
void check_name(const std::string& name) {
    bool ok = !name.empty() && name.size() <= 64 &&
              std::all_of(name.begin(), name.end(), [](unsigned char c) {
                  return std::isalnum(c) || c == '_' || c == '-';
              });
    if (!ok) {
        invalid("invalid container name \"" + name + "\" (1-64 of A-Z a-z 0-9 _ -)");
    }
}

// Written inside double quotes; nft reads a trailing '*' as a wildcard and
// the kernel limits names to IFNAMSIZ-1 bytes.
void check_ifname(const std::string& name, const std::string& owner) {
    bool ok = !name.empty() && name.size() <= 15 &&
              std::all_of(name.begin(), name.end(), [](unsigned char c) {
                  return std::isgraph(c) && c != '"' && c != '\\' && c != '*' && c != '/';
              });
    if (!ok) {
        invalid("container " + owner + ": invalid interface name \"" + name + "\"");
    }
}

template <typename T>
void sort_unique(std::vector<T>& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
}

auto forward_key(const port_forward& f) {
    return std::tie(f.protocol, f.host_port, f.host_address, f.container_address, f.container_port, f.side);
}

void check_forward(const endpoint& e, const port_forward& f) {
    std::string where = "container " + e.name + ": forward " + f.protocol + "/" + std::to_string(f.host_port);
    if (f.protocol != "tcp" && f.protocol != "udp") {
        invalid(where + ": protocol must be tcp or udp");
    }
    if (f.host_port == 0 || f.container_port == 0) {
        invalid(where + ": port 0");
    }
    if (std::find(e.addresses.begin(), e.addresses.end(), f.container_address) == e.addresses.end()) {
        invalid(where + ": " + f.container_address.str() + " is not an address of the container");
    }
    if (f.host_address && f.host_address->family != f.container_address.family) {
        invalid(where + ": host and container address families differ");
    }
    if (f.side != "uplink" && f.side != "tunnel" && f.side != "both") {
        invalid(where + ": unknown side \"" + f.side + "\"");
    }
    if (f.side != "uplink" && e.egress != "vpn") {
        invalid(where + ": side \"" + f.side + "\" needs egress vpn");
    }
}

void normalize_endpoint(endpoint& e) {
    check_name(e.name);
    check_ifname(e.host_if, e.name);
    if (e.egress != "none" && e.egress != "nat" && e.egress != "vpn") {
        invalid("container " + e.name + ": unknown egress \"" + e.egress + "\"");
    }
    for (const auto* ifname : {&e.tunnel_if, &e.bridge_if, &e.uplink}) {
        if (!ifname->empty()) {
            check_ifname(*ifname, e.name);
        }
    }
    for (const auto& a : e.addresses) {
        if (!a.is_v4() && !a.is_v6()) {
            invalid("container " + e.name + ": address without a family");
        }
    }
    for (auto* ports : {&e.tcp_ports, &e.udp_ports, &e.host_tcp_ports, &e.host_udp_ports}) {
        if (std::count(ports->begin(), ports->end(), 0)) {
            invalid("container " + e.name + ": port 0");
        }
        sort_unique(*ports);
    }
    sort_unique(e.addresses);
    if (!e.accessible_from.empty() && e.egress != "vpn") {
        invalid("container " + e.name + ": accessible_from needs egress vpn");
    }
    for (auto& a : e.accessible_from) {
        a = a.network();
    }
    sort_unique(e.accessible_from);
    for (const auto& f : e.forwards) {
        check_forward(e, f);
    }
    std::sort(e.forwards.begin(), e.forwards.end(),
              [](const port_forward& a, const port_forward& b) { return forward_key(a) < forward_key(b); });
    e.forwards.erase(std::unique(e.forwards.begin(), e.forwards.end(),
                                 [](const port_forward& a, const port_forward& b) {
                                     return forward_key(a) == forward_key(b);
                                 }),
                     e.forwards.end());
}

// Two forwards of one host port would make the first DNAT rule win silently.
void check_forward_conflicts(const std::vector<endpoint>& eps) {
    std::vector<const port_forward*> all;
    for (const auto& e : eps) {
        for (const auto& f : e.forwards) {
            all.push_back(&f);
        }
    }
    for (std::size_t i = 0; i < all.size(); ++i) {
        for (std::size_t j = i + 1; j < all.size(); ++j) {
            const auto &a = *all[i], &b = *all[j];
            bool same_family = a.container_address.family == b.container_address.family;
            bool overlap = !a.host_address || !b.host_address || *a.host_address == *b.host_address;
            if (a.protocol == b.protocol && a.host_port == b.host_port && same_family && overlap) {
                invalid("host port " + a.protocol + "/" + std::to_string(a.host_port) + " is forwarded twice");
            }
        }
    }
}

}  // namespace

std::vector<endpoint> normalized(const spec& s) {
    std::vector<endpoint> eps = s.endpoints;
    std::set<std::string> names, ifnames;
    for (auto& e : eps) {
        normalize_endpoint(e);
        if (!names.insert(e.name).second) {
            invalid("container " + e.name + " appears twice");
        }
        if (!ifnames.insert(e.host_if).second) {
            invalid("interface " + e.host_if + " belongs to two containers");
        }
    }
    check_forward_conflicts(eps);
    std::sort(eps.begin(), eps.end(), [](const endpoint& a, const endpoint& b) { return a.name < b.name; });
    return eps;
}

}  // namespace moat::firewall
