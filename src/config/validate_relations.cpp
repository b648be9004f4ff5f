// validate(), part two: references between objects (bridges to networks,
// egress to tunnels, pipes to containers, services to services) and things
// that must be unique across the whole file (subnets, forwarded ports).
#include "config/validate_detail.hpp"

#include "config/addresses.hpp"

#include <algorithm>
#include <map>

namespace moat::config {

void validate(const model& m) { validator(m).run(); }

template <typename T>
static std::string did_you_mean(const std::string& wrong, const std::vector<T>& items) {
    std::vector<std::string_view> names;
    for (const auto& item : items) {
        names.push_back(item.name);
    }
    auto near = nearest_key(wrong, names);
    return near.empty() ? "" : "; did you mean " + quoted(near) + "?";
}

void validator::check_services(const container& c) {
    for (const auto& s : c.services) {
        for (const auto& dep : s.after) {
            bool found = false;
            for (const auto& other : c.services) {
                found = found || other.name == dep;
            }
            if (!found) {
                _d.add(key_at(s.keys, "after", s.where), "after: service " + quoted(dep) + " does not exist in container " +
                                                             quoted(c.name) + did_you_mean(dep, c.services));
            }
        }
    }
    check_service_cycles(c);
}

// Depth-first search over `after` edges; a back edge to a service still on
// the stack closes a cycle, reported as "a -> b -> a" at the `after` key that
// closes it. Each back edge is seen once, so each cycle is reported once.
void validator::check_service_cycles(const container& c) {
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < c.services.size(); ++i) {
        index.emplace(c.services[i].name, i);
    }
    enum class mark { fresh, active, done };
    std::vector<mark> marks(c.services.size(), mark::fresh);
    std::vector<std::size_t> stack;
    auto visit = [&](auto& self, std::size_t i) -> void {
        marks[i] = mark::active;
        stack.push_back(i);
        for (const auto& dep : c.services[i].after) {
            auto it = index.find(dep);
            if (it == index.end()) {
                continue;
            }
            std::size_t j = it->second;
            if (marks[j] == mark::fresh) {
                self(self, j);
            } else if (marks[j] == mark::active) {
                std::string path;
                for (auto k = std::find(stack.begin(), stack.end(), j); k != stack.end(); ++k) {
                    path += c.services[*k].name + " -> ";
                }
                path += c.services[j].name;
                const service& s = c.services[i];
                _d.add(key_at(s.keys, "after", s.where), "after: services of container " + quoted(c.name) +
                                                             " wait for each other in a cycle: " + path);
            }
        }
        stack.pop_back();
        marks[i] = mark::done;
    };
    for (std::size_t i = 0; i < c.services.size(); ++i) {
        if (marks[i] == mark::fresh) {
            visit(visit, i);
        }
    }
}

void validator::check_networks() {
    for (std::size_t j = 0; j < _m.networks.size(); ++j) {
        const network& b = _m.networks[j];
        const std::pair<const char*, std::optional<sys::ip_prefix>> subnets[] = {{"subnet", b.subnet}, {"subnet6", b.subnet6}};
        for (const auto& [key, subnet] : subnets) {
            if (!subnet || !subnet->address.family) {
                continue;
            }
            location at = key_at(b.keys, key, b.where);
            if (auto problem = network_problem(subnet->network())) {
                _d.add(at, std::string(key) + " " + subnet->str() + " of network " + quoted(b.name) + " " + *problem,
                       "use a private range such as 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or fd00::/8");
                continue;
            }
            // The bridge takes one address and the first member another;
            // network and broadcast addresses are not usable in IPv4.
            if (subnet->length > subnet->address.max_prefix() - 2) {
                _d.add(at, std::string(key) + " " + subnet->str() + " of network " + quoted(b.name) + " leaves no room for containers",
                       subnet->address.is_v4() ? "use a /30 or a shorter prefix" : "use a /126 or a shorter prefix");
            }
            for (std::size_t i = 0; i < j; ++i) {
                const network& a = _m.networks[i];
                const auto& other = std::string(key) == "subnet" ? std::optional<sys::ip_prefix>(a.subnet) : a.subnet6;
                if (other && subnet->overlaps(*other)) {
                    _d.add(at, std::string(key) + " " + subnet->network().str() + " of network " + quoted(b.name) +
                                   " overlaps " + other->network().str() + " of network " + quoted(a.name));
                }
            }
        }
    }
}

void validator::check_egress_target(const std::optional<egress_spec>& egress, const key_locations& keys, const location& where) {
    if (!egress || egress->kind != egress_kind::vpn || _m.find_tunnel(egress->tunnel)) {
        return;
    }
    auto near = did_you_mean(egress->tunnel, _m.tunnels);
    _d.add(key_at(keys, "egress", where), "egress \"" + to_string(*egress) + "\": there is no tunnel " + quoted(egress->tunnel) + near,
           near.empty() ? "declare it as [tunnels." + egress->tunnel + "]" : "");
}

void validator::check_egress_targets() {
    for (const auto& c : _m.containers) {
        check_egress_target(c.egress, c.keys, c.where);
        check_confined_keys(c);
    }
    for (const auto& n : _m.networks) {
        check_egress_target(n.egress, n.keys, n.where);
    }
}

// Keys that only mean something for a container confined to a tunnel (its
// own egress, else its network's, is "vpn:..."): a forward's side "tunnel"
// or "both", and accessibleFrom (reaching past the tunnel from the host's
// side is what it opens; a "nat" or "none" container has no tunnel to
// reach past, and its forwards are what exposes it).
void validator::check_confined_keys(const container& c) {
    auto egress = c.egress;
    if (!egress && c.host_bridge) {
        if (const auto* n = _m.find_network(*c.host_bridge)) {
            egress = n->egress;
        }
    }
    if (egress && egress->kind == egress_kind::vpn) {
        return;
    }
    std::string why = "container " + quoted(c.name) + " is not confined to a tunnel (egress = \"" +
                      (egress ? to_string(*egress) : std::string("none")) + "\")";
    for (const auto& f : c.forward_ports) {
        if (f.side && *f.side != forward_side::uplink) {
            _d.add(key_at(f.keys, "side", f.where), "side = \"" + to_string(*f.side) + "\": " + why,
                   "only a container with egress = \"vpn:<tunnel>\" has a tunnel to forward from");
        }
    }
    if (!c.accessible_from.empty()) {
        _d.add(key_at(c.keys, "accessibleFrom", c.where), "accessibleFrom: " + why,
               "it lets sources outside a tunnel reach a confined container; other containers are reached through forwardPorts");
    }
}

// A host port can be bound once per protocol and address; no hostAddress
// means every address, which conflicts with any other binding of the port.
void validator::check_forwarded_ports() {
    struct use {
        const port_forward* forward;
        const container* owner;
    };
    std::vector<use> seen;
    for (const auto& c : _m.containers) {
        for (const auto& f : c.forward_ports) {
            // 127.0.0.1 is one of the host's addresses (the localnet guard
            // handles it); "any" is written by leaving hostAddress out.
            if (auto why = f.host_address ? special_address(*f.host_address, true) : std::nullopt) {
                _d.add(key_at(f.keys, "hostAddress", f.where), "hostAddress " + f.host_address->str() + " " + *why +
                                                                   ", not one of the host's addresses",
                       f.host_address == sys::ip_address::parse("0.0.0.0") || f.host_address == sys::ip_address::parse("::")
                           ? "leave hostAddress out to forward the port on every address of the host"
                           : "");
            }
            for (const auto& prior : seen) {
                const port_forward& p = *prior.forward;
                bool same_address = !p.host_address || !f.host_address || *p.host_address == *f.host_address;
                if (p.protocol == f.protocol && p.host_port == f.host_port && same_address) {
                    _d.add(key_at(f.keys, "hostPort", f.where),
                           "hostPort " + std::to_string(f.host_port) + "/" + f.protocol + " is forwarded twice: container " +
                               quoted(prior.owner->name) + " already forwards it" +
                               (p.where.line ? " at line " + std::to_string(p.where.line) : ""));
                    break;
                }
            }
            seen.push_back(use{&f, &c});
        }
    }
}

void validator::check_pipes() {
    for (std::size_t j = 0; j < _m.pipes.size(); ++j) {
        const pipe& p = _m.pipes[j];
        if (p.container && !_m.find_container(*p.container)) {
            _d.add(key_at(p.keys, "container", p.where), "container " + quoted(*p.container) + " of pipe " + quoted(p.name) +
                                                             " does not exist" + did_you_mean(*p.container, _m.containers));
        }
        // Two pipes listening on one address in one network namespace: the
        // second bind() would fail half-way through `moat up`.
        for (std::size_t i = 0; i < j; ++i) {
            const pipe& q = _m.pipes[i];
            if (!p.source.empty() && p.source == q.source && p.container == q.container) {
                _d.add(key_at(p.keys, "source", p.where), "source " + p.source + " of pipe " + quoted(p.name) +
                                                              " is already used by pipe " + quoted(q.name));
            }
        }
    }
}

// OpenVPN's username and password (tunnel/ovpn_file.hpp): one of the two
// ways, complete. Whether the files exist is the planner's business at
// `up` (plan/tunnel.cpp): a file may appear between a `plan` and an `up`.
void validator::check_tunnel_credentials() {
    for (const tunnel& t : _m.tunnels) {
        const bool user = t.keys.count("username") || !t.username.empty(),
                   pass = t.keys.count("passwordFile") || !t.password_file.empty(),
                   creds = t.keys.count("credentialsFile") || !t.credentials_file.empty();
        auto at = [&](const char* key) { return key_at(t.keys, key, t.where); };
        if (t.type == tunnel_type::wireguard) {
            const std::pair<const char*, bool> given[] = {{"username", user}, {"passwordFile", pass}, {"credentialsFile", creds}};
            for (auto [key, set] : given) {
                if (set) {
                    _d.add(at(key), std::string(key) + " is for type = \"openvpn\" only (tunnel " + quoted(t.name) +
                                               " is WireGuard, which authenticates by its keys)");
                }
            }
            continue;
        }
        if (user && t.username.find_first_of(std::string("\n\r\0", 3)) != std::string::npos) {
            _d.add(at("username"), "username must be one line (openvpn reads it as the first line of a file)");
        } else if (user && t.username.empty()) {
            _d.add(at("username"), "username must not be empty");
        }
        if (creds && (user || pass)) {
            _d.add(at("credentialsFile"), "credentialsFile cannot be combined with username and passwordFile",
                   "credentialsFile holds both (the username's line, then the password's); use it or the two keys");
        } else if (user != pass) {
            const char* has = user ? "username" : "passwordFile";
            const char* lacks = user ? "passwordFile" : "username";
            _d.add(at(has), std::string(has) + " needs " + lacks + " (tunnel " + quoted(t.name) + ")",
                   "or put both lines in one file and set credentialsFile");
        }
    }
}

}  // namespace moat::config
