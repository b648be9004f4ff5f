// Semantic checks across objects (loader.hpp, stage 3): everything that a
// well-typed file can still get wrong, found before anything is touched.
// Each problem is reported at the key that caused it.
#include "config/validate_detail.hpp"

#include "config/addresses.hpp"
#include "config/port_forwarding.hpp"

#include <algorithm>
#include <map>

namespace moat::config {

location validator::key_at(const key_locations& keys, const std::string& key, const location& fallback) {
    auto it = keys.find(key);
    return it == keys.end() ? fallback : it->second;
}

void validator::run() {
    for (const auto& c : _m.containers) {
        check_container_network(c);
        check_address_kinds(c);
        check_bridge(c);
        check_services(c);
        check_dns(c);
        check_privileges(c);
    }
    check_duplicate_addresses();
    check_networks();
    check_egress_targets();
    check_forwarded_ports();
    check_pipes();
    check_tunnel_credentials();
    check_port_forwarding(_d, _m);
    _d.throw_if_any();
}

// privateNetwork = false shares the host's stack: nothing to address,
// forward or confine. Confinement in particular must not silently not happen.
void validator::check_container_network(const container& c) {
    static const char* const addressing[] = {"hostAddress", "localAddress", "hostAddress6", "localAddress6", "hostBridge"};
    if (!c.private_network) {
        for (const char* key : addressing) {
            if (c.keys.count(key)) {
                _d.add(c.keys.at(key), std::string(key) + " needs privateNetwork = true (container " + quoted(c.name) + " shares the host's network)");
            }
        }
        if (!c.forward_ports.empty()) {
            _d.add(key_at(c.keys, "forwardPorts", c.where), "forwardPorts needs privateNetwork = true (container " + quoted(c.name) + " shares the host's network)");
        }
        if (c.egress && c.egress->kind != egress_kind::none) {
            _d.add(key_at(c.keys, "egress", c.where), "egress = \"" + to_string(*c.egress) + "\" needs privateNetwork = true (container " + quoted(c.name) + " shares the host's network, so its traffic cannot be confined)");
        }
        return;
    }
    if (c.host_bridge) {
        // As in NixOS: with hostBridge the host side is the bridge itself.
        for (const char* key : {"hostAddress", "hostAddress6"}) {
            if (c.keys.count(key)) {
                _d.add(c.keys.at(key), std::string(key) + " cannot be combined with hostBridge", "a bridge member only sets localAddress; the bridge has the host's address");
            }
        }
    } else {
        check_pair(c, c.host_address, "hostAddress", c.local_address, "localAddress");
        check_pair(c, c.host_address6, "hostAddress6", c.local_address6, "localAddress6");
    }
    bool addressed = c.host_bridge || c.local_address || c.local_address6;
    if (!addressed && c.egress && c.egress->kind != egress_kind::none) {
        _d.add(key_at(c.keys, "egress", c.where), "egress = \"" + to_string(*c.egress) + "\" needs a network: container " + quoted(c.name) + " has only loopback",
               "set hostAddress and localAddress, or hostBridge");
    }
    if (!addressed && !c.forward_ports.empty()) {
        _d.add(key_at(c.keys, "forwardPorts", c.where), "forwardPorts needs an address: container " + quoted(c.name) + " has only loopback",
               "set hostAddress and localAddress, or hostBridge");
    }
}

// Addresses that no host could route to a container (config/addresses.hpp),
// and pairs written with a prefix length that no host should route at all.
void validator::check_address_kinds(const container& c) {
    if (!c.private_network) {
        return;  // check_container_network reports the keys
    }
    const std::pair<const char*, const std::optional<sys::ip_prefix>*> addresses[] = {
        {"hostAddress", &c.host_address}, {"localAddress", &c.local_address},
        {"hostAddress6", &c.host_address6}, {"localAddress6", &c.local_address6}};
    for (const auto& [key, address] : addresses) {
        if (!*address) {
            continue;
        }
        const sys::ip_prefix& p = **address;
        location at = key_at(c.keys, key, c.where);
        if (auto why = special_address(p.address)) {
            _d.add(at, std::string(key) + " " + p.address.str() + " of container " + quoted(c.name) + " " + *why,
                   "a container's link needs a unicast address, e.g. from 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or fd00::/8");
        } else if (p.length < p.address.max_prefix()) {
            if (auto problem = network_problem(p.network())) {
                _d.add(at, std::string(key) + " " + p.str() + " of container " + quoted(c.name) + ": its network " +
                               p.network().str() + " " + *problem);
            }
        }
    }
}

void validator::check_pair(const container& c, const std::optional<sys::ip_prefix>& host, const char* host_key,
                           const std::optional<sys::ip_prefix>& local, const char* local_key) {
    if (host && !local) {
        _d.add(key_at(c.keys, host_key, c.where), std::string(host_key) + " is set but " + local_key + " is not (container " + quoted(c.name) + ")",
               "a veth pair needs both ends");
    } else if (local && !host) {
        _d.add(key_at(c.keys, local_key, c.where), std::string(local_key) + " is set but " + host_key + " is not (container " + quoted(c.name) + ")",
               std::string("a veth pair needs both ends; or set hostBridge to join a network"));
    } else if (host && local && host->address == local->address) {
        _d.add(key_at(c.keys, local_key, c.where), std::string(local_key) + " " + local->address.str() + " is the same as " + host_key);
    } else if (host && local && (host->length < host->address.max_prefix() || local->length < local->address.max_prefix())) {
        check_shared_subnet(c, *host, host_key, *local, local_key);
    }
}

// With a prefix length the pair shares one subnet (plan.hpp): both ends must
// lie in it, neither as its network or broadcast address, or the kernel
// would route the container's end somewhere else.
void validator::check_shared_subnet(const container& c, const sys::ip_prefix& host, const char* host_key,
                                    const sys::ip_prefix& local, const char* local_key) {
    sys::ip_prefix net = sys::ip_prefix{host.address, std::min(host.length, local.length)}.network();
    if (!net.contains(local.address)) {
        _d.add(key_at(c.keys, local_key, c.where),
               std::string(local_key) + " " + local.address.str() + " and " + host_key + " " + host.address.str() +
                   " are not in one /" + std::to_string(net.length) + " subnet",
               "with a prefix length both ends share one subnet; without one they are a /" +
                   std::to_string(net.address.max_prefix()) + " pair");
        return;
    }
    for (const auto& [key, a] : {std::pair{host_key, host.address}, std::pair{local_key, local.address}}) {
        if (a == net.address && net.length < net.address.max_prefix() - 1) {
            _d.add(key_at(c.keys, key, c.where), std::string(key) + " " + a.str() + " is the network address of " + net.str());
        } else if (a.is_v4() && net.length < 31 && a == *sys::nth_address(net, (std::uint64_t{1} << (32 - net.length)) - 1)) {
            _d.add(key_at(c.keys, key, c.where), std::string(key) + " " + a.str() + " is the broadcast address of " + net.str());
        }
    }
}

void validator::check_bridge(const container& c) {
    if (!c.private_network || !c.host_bridge) {
        return;
    }
    const network* net = _m.find_network(*c.host_bridge);
    if (!net) {
        std::vector<std::string_view> names;
        for (const auto& n : _m.networks) {
            names.push_back(n.name);
        }
        auto near = nearest_key(*c.host_bridge, names);
        _d.add(key_at(c.keys, "hostBridge", c.where), "hostBridge " + quoted(*c.host_bridge) + " names no network" +
               (near.empty() ? "" : "; did you mean " + quoted(near) + "?"),
               near.empty() ? "declare it as [networks." + *c.host_bridge + "]" : "");
        return;
    }
    check_member_address(c, "localAddress", c.local_address, std::optional<sys::ip_prefix>(net->subnet), *net);
    check_member_address(c, "localAddress6", c.local_address6, net->subnet6, *net);
}

void validator::check_member_address(const container& c, const char* key, const std::optional<sys::ip_prefix>& address,
                                     const std::optional<sys::ip_prefix>& subnet, const network& net) {
    if (!address) {
        return;
    }
    location at = key_at(c.keys, key, c.where);
    if (!subnet) {
        _d.add(at, std::string(key) + " is set but network " + quoted(net.name) + " has no subnet6");
        return;
    }
    const sys::ip_address& a = address->address;
    if (!subnet->contains(a)) {
        _d.add(at, std::string(key) + " " + a.str() + " is outside subnet " + subnet->network().str() + " of network " + quoted(net.name));
        return;
    }
    // The bridge's own (first) address is caught by check_duplicate_addresses.
    if (a == subnet->network().address) {
        _d.add(at, std::string(key) + " " + a.str() + " is the network address of subnet " + subnet->network().str());
    } else if (a.is_v4() && subnet->length < 31) {
        auto broadcast = sys::nth_address(*subnet, (std::uint64_t{1} << (32 - subnet->length)) - 1);
        if (broadcast && a == *broadcast) {
            _d.add(at, std::string(key) + " " + a.str() + " is the broadcast address of subnet " + subnet->network().str());
        }
    }
}

void validator::check_dns(const container& c) {
    for (const auto& entry : c.dns) {
        if (!sys::ip_address::parse(entry) || entry.find('\0') != std::string::npos) {
            _d.add(key_at(c.keys, "dns", c.where), "dns: expected an IP address, got \"" + entry + "\"");
        }
    }
}

// CAP_NET_ADMIN over the host's own network namespace would let the
// container rewrite moat's firewall and routing, the kill switch included.
// In a user namespace (any privateUsers but "no") a capability reaches only
// the namespaces that user namespace owns, never the host's.
void validator::check_privileges(const container& c) {
    if (c.private_network || c.users.mode != users_mode::no) {
        return;
    }
    bool net_admin = std::find(c.additional_capabilities.begin(), c.additional_capabilities.end(), "CAP_NET_ADMIN") !=
                     c.additional_capabilities.end();
    const char* key = c.enable_tun ? "enableTun" : net_admin ? "additionalCapabilities" : nullptr;
    if (key) {
        _d.add(key_at(c.keys, key, c.where),
               std::string(key) + " gives CAP_NET_ADMIN, and container " + quoted(c.name) +
                   " shares the host's network with privateUsers = \"no\": it could rewrite the host's firewall and routes",
               "set privateNetwork = true, or leave privateUsers at its default \"pick\"");
    }
}

// No address may be used twice, and a point-to-point container must not take
// an address inside a network's subnet: either would make the host's routing
// ambiguous, and the kernel would accept it without complaint.
void validator::check_duplicate_addresses() {
    struct owner {
        std::string what;
        location where;
    };
    std::map<sys::ip_address, owner> seen;
    auto claim = [&](const sys::ip_address& a, const std::string& what, const location& where) {
        auto [it, fresh] = seen.emplace(a, owner{what, where});
        if (!fresh) {
            _d.add(where, "address " + a.str() + " (" + what + ") is already used by " + it->second.what +
                              (it->second.where.line ? " at line " + std::to_string(it->second.where.line) : ""));
        }
    };
    for (const auto& n : _m.networks) {
        for (const auto& subnet : {std::optional<sys::ip_prefix>(n.subnet), n.subnet6}) {
            if (subnet && subnet->address.family) {
                if (auto bridge = sys::nth_address(*subnet, 1)) {
                    claim(*bridge, "bridge of network " + quoted(n.name), n.where);
                }
            }
        }
    }
    for (const auto& c : _m.containers) {
        if (!c.private_network) {
            continue;
        }
        const std::pair<const char*, const std::optional<sys::ip_prefix>*> addresses[] = {
            {"hostAddress", &c.host_address}, {"localAddress", &c.local_address},
            {"hostAddress6", &c.host_address6}, {"localAddress6", &c.local_address6}};
        for (const auto& [key, address] : addresses) {
            if (!*address) {
                continue;
            }
            location at = key_at(c.keys, key, c.where);
            claim((*address)->address, std::string(key) + " of container " + quoted(c.name), at);
            if (!c.host_bridge) {
                check_outside_networks(c, key, (*address)->address, at);
            }
        }
    }
}

void validator::check_outside_networks(const container& c, const char* key, const sys::ip_address& a, const location& at) {
    for (const auto& n : _m.networks) {
        for (const auto& subnet : {std::optional<sys::ip_prefix>(n.subnet), n.subnet6}) {
            if (subnet && subnet->contains(a)) {
                _d.add(at, std::string(key) + " " + a.str() + " of container " + quoted(c.name) + " is inside subnet " +
                               subnet->network().str() + " of network " + quoted(n.name),
                       "to join that network, set hostBridge = \"" + n.name + "\" instead of hostAddress");
            }
        }
    }
}

}  // namespace moat::config
