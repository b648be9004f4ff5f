// The provider's forwarded port (NAT-PMP, tunnel/natpmp.hpp) in the table.
//
// The port is assigned at run time by the provider and may change on any
// reconnect, so the table cannot name it: render() makes, for a container
// that receives its tunnel's forwarded port, an empty map and set of its
// own, and the rules that use them; the tunnel runner then replaces only
// their elements (forwarding_update(), one nft transaction) whenever the
// port is assigned or changes, and empties them when the mapping is gone.
//  * map fwd_<name>: (protocol, port arriving at the tunnel's address) ->
//    the container's port, used by a DNAT rule in `prerouting` that
//    matches only packets that came in on the tunnel's device for one of
//    the host's own addresses (the tunnel's): the uplink never matches.
//  * set fwdok_<name>: (protocol, container port), accepted in in_<name>
//    only when DNAT'ed and arriving on the tunnel. Nothing else opens.
// Replies leave as the container's confined traffic does: into the tunnel.
// Each `up` that commits the table starts them empty again; the runner
// looks every 2 s and writes them again (tunnel/forwarder.hpp).
#include "firewall/render_detail.hpp"

namespace moat::firewall {

std::string forwarding_map(const std::string& container) { return "fwd_" + container; }
std::string forwarding_set(const std::string& container) { return "fwdok_" + container; }

std::string forwarding_update(const std::string& container, const std::vector<forwarded_port>& ports) {
    std::string t = std::string(" ") + table_family + " " + table_name + " ";
    std::string out = "flush map" + t + forwarding_map(container) + "\nflush set" + t + forwarding_set(container) + "\n";
    std::string map, set;
    for (const auto& p : ports) {
        map += (map.empty() ? "" : ", ") + detail::l4proto(p.protocol) + " . " + std::to_string(p.tunnel_port) + " : " +
               std::to_string(p.container_port);
        set += (set.empty() ? "" : ", ") + detail::l4proto(p.protocol) + " . " + std::to_string(p.container_port);
    }
    if (!ports.empty()) {
        out += "add element" + t + forwarding_map(container) + " { " + map + " }\n";
        out += "add element" + t + forwarding_set(container) + " { " + set + " }\n";
    }
    return out;
}

// `elements = { ... }` of the runner's maps and sets, which may span lines
// in a listing: the runner's business, not drift.
std::string without_forwarded_elements(const std::string& listing) {
    std::string out;
    bool in_forwarding = false, in_elements = false;
    std::size_t start = 0;
    while (start < listing.size()) {
        std::size_t end = listing.find('\n', start);
        end = end == std::string::npos ? listing.size() : end + 1;
        std::string line = listing.substr(start, end - start);
        start = end;
        auto text = line.substr(std::min(line.find_first_not_of(" \t"), line.size()));
        if (text.starts_with("map fwd_") || text.starts_with("set fwdok_")) {
            in_forwarding = true;
        } else if (text.starts_with("}") && !in_elements) {
            in_forwarding = false;
        }
        if (in_forwarding && text.starts_with("elements = {")) {
            in_elements = true;
        }
        if (!in_elements) {
            out += line;
        } else if (line.find('}') != std::string::npos) {
            in_elements = false;
        }
    }
    return out;
}

namespace detail {

void render_forwarding_sets(std::ostringstream& o, const std::vector<endpoint>& eps) {
    for (const auto& e : eps) {
        if (e.provider_forwarding && !e.tunnel_if.empty()) {
            o << "\tmap " << forwarding_map(e.name) << " {\n\t\ttype inet_proto . inet_service : inet_service\n\t}\n\n"
              << "\tset " << forwarding_set(e.name) << " {\n\t\ttype inet_proto . inet_service\n\t}\n\n";
        }
    }
}

std::string forwarding_dnat_rules(const std::vector<endpoint>& eps) {
    std::string rules;
    for (const auto& e : eps) {
        auto v4 = of_family(e.addresses, true);
        if (e.provider_forwarding && !e.tunnel_if.empty() && !v4.empty()) {
            rules += "\t\tiifname " + quoted(e.tunnel_if) +
                     " meta nfproto ipv4 fib daddr type local meta l4proto { " + l4proto("tcp") + ", " + l4proto("udp") + " } dnat ip to " + v4.front().str() +
                     " : meta l4proto . th dport map @" + forwarding_map(e.name) + "\n";
        }
    }
    return rules;
}

void render_forwarding_accept(std::ostringstream& o, const endpoint& e) {
    if (e.provider_forwarding && !e.tunnel_if.empty()) {
        o << "\t\tiifname " << quoted(e.tunnel_if) << " ct status dnat meta l4proto . th dport @"
          << forwarding_set(e.name) << " accept\n";
    }
}

}  // namespace detail
}  // namespace moat::firewall
