// Pieces shared by render.cpp (filter chains), render_host.cpp (the host's
// input), render_nat.cpp (NAT chains) and render_vpn.cpp.
#pragma once

#include "firewall/firewall.hpp"
#include "sys/error.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace moat::firewall::detail {

template <typename T, typename F>
std::string join_set(const std::vector<T>& items, F&& fmt) {
    std::string out = "{ ";
    for (std::size_t i = 0; i < items.size(); ++i) {
        out += (i ? ", " : "") + fmt(items[i]);
    }
    return out + " }";
}

inline std::string addr_set(const std::vector<sys::ip_address>& addrs) {
    return join_set(addrs, [](const sys::ip_address& a) { return a.str(); });
}

inline std::string prefix_set(const std::vector<sys::ip_prefix>& prefixes) {
    return join_set(prefixes, [](const sys::ip_prefix& p) { return p.str(); });
}

inline std::vector<sys::ip_prefix> of_family(const std::vector<sys::ip_prefix>& prefixes, bool v4) {
    std::vector<sys::ip_prefix> out;
    std::copy_if(prefixes.begin(), prefixes.end(), std::back_inserter(out),
                 [v4](const sys::ip_prefix& p) { return p.address.is_v4() == v4; });
    return out;
}

inline std::vector<sys::ip_address> of_family(const std::vector<sys::ip_address>& addrs, bool v4) {
    std::vector<sys::ip_address> out;
    std::copy_if(addrs.begin(), addrs.end(), std::back_inserter(out),
                 [v4](const sys::ip_address& a) { return a.is_v4() == v4; });
    return out;
}

inline std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// A protocol where nft reads a value of type inet_proto (`meta l4proto`, a
// set or map key): its number. libnftables resolves a name there through
// getprotobyname(3), and a process's first such call loads the NSS set-up
// (Debian's nsswitch.conf says "protocols: db files": a search for
// libnss_db through every library directory, then /etc/protocols), about
// 1 ms of every commit (docs/BENCHMARKS.md, issue 17). `nft list` still
// shows the names. Only tcp and udp are forwarded or allowed (validate.cpp).
inline std::string l4proto(const std::string& name) {
    if (name == "tcp") {
        return "6";
    }
    if (name == "udp") {
        return "17";
    }
    throw moat::error("no protocol number for '" + name + "'");
}
// The same for the ICMP protocols the filter chains always let through.
constexpr const char* l4proto_icmp = "1";
constexpr const char* l4proto_icmpv6 = "58";

// Chains postrouting, prerouting and nat_output, when anything needs NAT.
void render_nat(std::ostringstream& o, const std::vector<endpoint>& eps);

// Sets host4/host6: (link, container address, protocol, port) of the
// host's ports each container may reach.
void render_host_sets(std::ostringstream& o, const std::vector<endpoint>& eps);
// Chains input and to_host: what containers reach of the host itself.
void render_host_chains(std::ostringstream& o);

// The provider-forwarded port (render_forwarding.cpp): the maps and sets,
// the DNAT rules for `prerouting`, the accept line of in_<name>.
void render_forwarding_sets(std::ostringstream& o, const std::vector<endpoint>& eps);
std::string forwarding_dnat_rules(const std::vector<endpoint>& eps);
void render_forwarding_accept(std::ostringstream& o, const endpoint& e);

// Chain mark_replies, when a container is confined to a tunnel.
void render_vpn(std::ostringstream& o, const std::vector<endpoint>& eps, std::uint32_t mark);

}  // namespace moat::firewall::detail
