#include "plan/host_checks.hpp"

#include "config/addresses.hpp"
#include "config/loader.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <set>

namespace moat::plan {

namespace {

// Something a subnet or an address may collide with: an address and/or a
// subnet of a running container, named for the message.
struct kept_container {
    std::string name;
    const running_container* r = nullptr;
    std::string who() const {
        return "running container '" + name + "' (" +
               (r->origin == "run" ? std::string("of `moat run`") : "from " + r->source) + ")";
    }
    std::vector<sys::ip_address> addresses() const {
        std::vector<sys::ip_address> out;
        for (const auto* pair : {&r->plan.v4, &r->plan.v6}) {
            if (*pair) {
                out.push_back((*pair)->host.address);
                out.push_back((*pair)->local.address);
            }
        }
        return out;
    }
    // The subnets it shares with others: its bridge network's, or its pair's
    // when written with a prefix length. A /32 + peer pair has none.
    std::vector<sys::ip_prefix> subnets() const {
        std::vector<sys::ip_prefix> out;
        for (const auto* pair : {&r->plan.v4, &r->plan.v6}) {
            if (*pair && !(*pair)->point_to_point) {
                out.push_back((*pair)->host.network());
            }
        }
        return out;
    }
};

config::location key_at(const config::key_locations& keys, const std::string& key, const config::location& fallback) {
    auto it = keys.find(key);
    return it == keys.end() ? fallback : it->second;
}

std::set<int> families_of(const container_plan& p) {
    std::set<int> out;
    if (p.v4) {
        out.insert(AF_INET);
    }
    if (p.v6) {
        out.insert(AF_INET6);
    }
    return out;
}

// The families a forward applies to: its hostAddress's, else every family
// the container has (converge::firewall_spec does the same).
std::set<int> forward_families(const std::optional<sys::ip_address>& host_address, const container_plan& p) {
    return host_address ? std::set<int>{host_address->family} : families_of(p);
}

class host_checker {
public:
    host_checker(const config::model& m, const host_plan& planned, const host_context& ctx) : _m(m), _planned(planned), _ctx(ctx) {
        std::set<std::string> names;
        for (const auto& p : planned.containers) {
            names.insert(p.name);
        }
        for (const auto& [name, r] : ctx.running) {
            if (ctx.keeps(name, names)) {
                _kept.push_back(kept_container{name, &r});
            }
        }
    }

    void run() {
        for (const auto& p : _planned.containers) {
            if (const config::container* c = _m.find_container(p.name)) {
                check_name(*c);
                check_container(*c, p);
                check_forwards(*c, p);
            }
        }
        for (const auto& n : _planned.networks) {
            if (const config::network* net = _m.find_network(n.name)) {
                check_network(*net, n);
            }
        }
        if (!_d.empty()) {
            throw config::config_error(std::move(_d));
        }
    }

private:
    const config::model& _m;
    const host_plan& _planned;
    const host_context& _ctx;
    std::vector<kept_container> _kept;
    std::vector<config::diagnostic> _d;

    // Routes wider than the widest network moat accepts are default routes
    // in pieces (a VPN client's 0.0.0.0/1 and 128.0.0.0/1), not networks.
    static bool compared(const host_route& r) {
        return r.destination.length >= config::min_network_prefix(r.destination.address);
    }

    void add(const config::location& at, std::string message, std::string hint = {}) {
        _d.push_back(config::diagnostic{at, std::move(message), std::move(hint)});
    }

    // A container of another file or of `moat run` with the same name would
    // be replaced: no command removes what another file made.
    void check_name(const config::container& c) {
        auto it = _ctx.running.find(c.name);
        if (it == _ctx.running.end() || (it->second.origin == "file" && it->second.source == _ctx.source)) {
            return;
        }
        add(c.where, "container '" + c.name + "' is already running, " +
                         (it->second.origin == "run" ? std::string("started by `moat run`") : "from " + it->second.source),
            "rename it, or remove the other one first (moat down " + c.name + ")");
    }

    // Why address `a` of a container on network `network` ("" for a pair)
    // clashes with the host or a kept container; "" when it does not.
    std::string address_clash(const sys::ip_address& a, const std::string& network, bool point_to_point) const {
        for (const auto& h : _ctx.addresses) {
            if (h.address.address == a) {
                return "is an address of the host (on " + h.link + ")";
            }
        }
        for (const auto& g : _ctx.gateways) {
            if (g == a) {
                return "is a gateway the host routes through";
            }
        }
        if (point_to_point) {
            // A bridge member's subnet is compared as a whole (check_network).
            for (const auto& r : _ctx.routes) {
                if (compared(r) && r.destination.contains(a)) {
                    return "lies in " + r.destination.network().str() + ", which the host routes via " + r.link + " (" + r.text + ")";
                }
            }
        }
        for (const auto& k : _kept) {
            for (const auto& other : k.addresses()) {
                if (other == a) {
                    return "is already used by " + k.who();
                }
            }
            bool same_network = !network.empty() && k.r->plan.network == network;
            for (const auto& s : k.subnets()) {
                if (!same_network && s.contains(a)) {
                    return "lies in " + s.network().str() + ", the subnet of " + k.who();
                }
            }
        }
        return "";
    }

    void check_container(const config::container& c, const container_plan& p) {
        const std::pair<const char*, const std::optional<address_pair>*> pairs[] = {{"", &p.v4}, {"6", &p.v6}};
        for (const auto& [suffix, pair] : pairs) {
            if (!*pair) {
                continue;
            }
            const address_pair& ap = **pair;
            std::vector<std::pair<std::string, sys::ip_address>> ends = {{std::string("localAddress") + suffix, ap.local.address}};
            if (p.network.empty()) {
                ends.emplace_back(std::string("hostAddress") + suffix, ap.host.address);
            }
            for (const auto& [key, a] : ends) {
                std::string why = address_clash(a, p.network, p.network.empty());
                if (!why.empty()) {
                    bool written = c.keys.count(key);
                    add(key_at(c.keys, key, c.where),
                        (written ? key : "the address allocated for " + key) + " " + a.str() + " of container '" + c.name + "' " + why,
                        written ? "" : "set localAddress" + std::string(suffix) + " to an unused address of the network");
                }
            }
            if (p.network.empty() && !ap.point_to_point) {
                check_subnet(key_at(c.keys, std::string("hostAddress") + suffix, c.where),
                             "the subnet " + ap.host.network().str() + " of container '" + c.name + "'", ap.host.network(), "");
            }
        }
        check_link(c.where, p.host_if, "");
    }

    // A subnet moat is about to route to one of its links.
    void check_subnet(const config::location& at, const std::string& what, const sys::ip_prefix& subnet,
                      const std::string& network) {
        std::string why;
        for (const auto& h : _ctx.addresses) {
            if (why.empty() && subnet.contains(h.address.address)) {
                why = "contains " + h.address.address.str() + ", an address of the host (on " + h.link + ")";
            }
        }
        for (const auto& r : _ctx.routes) {
            if (why.empty() && compared(r) && subnet.overlaps(r.destination)) {
                why = "overlaps " + r.destination.network().str() + ", which the host routes via " + r.link + " (" + r.text + ")";
            }
        }
        for (const auto& g : _ctx.gateways) {
            if (why.empty() && subnet.contains(g)) {
                why = "contains " + g.str() + ", a gateway the host routes through";
            }
        }
        for (const auto& k : _kept) {
            bool same_network = !network.empty() && k.r->plan.network == network;
            for (const auto& s : k.subnets()) {
                if (why.empty() && !same_network && subnet.overlaps(s)) {
                    why = "overlaps " + s.network().str() + ", the subnet of " + k.who();
                }
            }
            for (const auto& a : k.addresses()) {
                if (why.empty() && !same_network && subnet.contains(a)) {
                    why = "contains " + a.str() + ", an address of " + k.who();
                }
            }
        }
        if (!why.empty()) {
            add(at, what + " " + why, "choose a subnet that nothing on this host uses yet");
        }
    }

    void check_network(const config::network& net, const network_plan& n) {
        // Members that stay keep the bridge as recorded; it cannot change under them.
        auto recorded = _ctx.networks.find(n.name);
        for (const auto& k : _kept) {
            if (k.r->plan.network == n.name && recorded != _ctx.networks.end() && !(recorded->second == n)) {
                const network_plan& r = recorded->second;
                add(key_at(net.keys, "subnet", net.where),
                    "network '" + n.name + "' is running with subnet " + r.gateway.network().str() +
                        (r.gateway6 ? " and subnet6 " + r.gateway6->network().str() : "") + " for " + k.who(),
                    "give the network another name, or the subnets it runs with");
                return;
            }
        }
        check_subnet(key_at(net.keys, "subnet", net.where), "subnet " + n.gateway.network().str() + " of network '" + n.name + "'",
                     n.gateway, n.name);
        if (n.gateway6) {
            check_subnet(key_at(net.keys, "subnet6", net.where),
                         "subnet6 " + n.gateway6->network().str() + " of network '" + n.name + "'", *n.gateway6, n.name);
        }
        check_link(net.where, n.bridge_if, n.name);
        if (net.uplink && !_ctx.links.count(*net.uplink)) {
            add(key_at(net.keys, "uplink", net.where), "uplink '" + *net.uplink + "' of network '" + n.name + "': the host has no such interface");
        } else if (net.uplink && _ctx.moat_links.count(*net.uplink)) {
            add(key_at(net.keys, "uplink", net.where), "uplink '" + *net.uplink + "' of network '" + n.name + "' is one of moat's own links");
        }
    }

    // A link moat creates: not someone else's, not a running container's.
    void check_link(const config::location& at, const std::string& link, const std::string& network) {
        if (link.empty()) {
            return;
        }
        if (_ctx.links.count(link) && !_ctx.moat_links.count(link)) {
            auto whose = _ctx.link_owners.find(link);
            add(at, "interface " + link + " exists: " +
                        (whose != _ctx.link_owners.end() ? whose->second
                                                         : "moat did not create it (the host's own, or an older moat's)"),
                "rename or remove it");
            return;
        }
        for (const auto& k : _kept) {
            bool same_bridge = !network.empty() && k.r->plan.network == network;
            if (k.r->plan.host_if == link || (!same_bridge && k.r->plan.bridge_if == link)) {
                add(at, "interface " + link + " is already used by " + k.who(), "rename one of them");
                return;
            }
        }
    }

    // The kept container that already forwards what `f` forwards, if any.
    const kept_container* forward_owner(const config::port_forward& f, const container_plan& p) const {
        auto families = forward_families(f.host_address, p);
        for (const auto& k : _kept) {
            for (const auto& kf : k.r->plan.forwards) {
                auto theirs = forward_families(kf.host_address, k.r->plan);
                bool family = std::any_of(families.begin(), families.end(), [&](int fam) { return theirs.count(fam) > 0; });
                bool address = !f.host_address || !kf.host_address || *f.host_address == *kf.host_address;
                if (kf.protocol == f.protocol && kf.host_port == f.host_port && family && address) {
                    return &k;
                }
            }
        }
        return nullptr;
    }

    void check_forwards(const config::container& c, const container_plan& p) {
        for (const auto& f : c.forward_ports) {
            if (const kept_container* k = forward_owner(f, p)) {
                add(key_at(f.keys, "hostPort", f.where),
                    "hostPort " + std::to_string(f.host_port) + "/" + f.protocol + " of container '" + c.name +
                        "' is already forwarded to " + k->who(),
                    "choose another hostPort, or bind each to its own hostAddress");
            }
        }
    }
};

}  // namespace

void check_host(const config::model& m, const host_plan& planned, const host_context& ctx) {
    host_checker(m, planned, ctx).run();
}

}  // namespace moat::plan
