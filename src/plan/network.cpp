#include "plan/network.hpp"

#include "sys/error.hpp"
#include "sys/hash.hpp"

#include <algorithm>

namespace moat::plan {

std::string bridge_name(const std::string& network) { return link_name("mb-", network); }

static sys::ip_prefix first_host(const sys::ip_prefix& subnet) {
    return {*sys::nth_address(subnet.network(), 1), subnet.length};
}

network_plan plan_network(const config::network& n) {
    network_plan p;
    p.name = n.name;
    p.bridge_if = bridge_name(n.name);
    p.gateway = first_host(n.subnet);
    if (n.subnet6) {
        p.gateway6 = first_host(*n.subnet6);
    }
    return p;
}

nlohmann::json to_json(const network_plan& n) {
    nlohmann::json j = {{"name", n.name}, {"bridge_if", n.bridge_if}, {"gateway", n.gateway.str()},
                        {"gateway6", n.gateway6 ? nlohmann::json(n.gateway6->str()) : nlohmann::json()}};
    if (n.keep_idle) {  // only then: the records of every other network stay as they were
        j["keep_idle"] = true;
        j["keep_tunnel"] = n.keep_tunnel;
    }
    return j;
}

network_plan network_from_json(const nlohmann::json& j) {
    network_plan n;
    n.name = j.at("name");
    n.bridge_if = j.at("bridge_if");
    n.gateway = sys::ip_prefix::parse(j.at("gateway").get<std::string>()).value();
    if (!j.at("gateway6").is_null()) {
        n.gateway6 = sys::ip_prefix::parse(j.at("gateway6").get<std::string>());
    }
    n.keep_idle = j.value("keep_idle", false);
    n.keep_tunnel = j.value("keep_tunnel", "");
    return n;
}

namespace {

// Host indices 2 .. 2 + usable - 1 of the subnet are for members.
std::uint64_t usable_count(const sys::ip_prefix& subnet) {
    int bits = subnet.address.max_prefix() - subnet.length;
    if (subnet.address.is_v4()) {
        return bits >= 2 ? (std::uint64_t{1} << bits) - 3 : 0;  // minus network, bridge, broadcast
    }
    // Enough room for any host; an IPv6 /64 is not walked to its end.
    return (bits >= 32 ? std::uint64_t{1} << 32 : std::uint64_t{1} << bits) - 2;
}

bool is_member_address(const sys::ip_prefix& subnet, const sys::ip_address& a) {
    std::uint64_t n = usable_count(subnet);
    if (!subnet.contains(a) || n == 0) {
        return false;
    }
    auto lo = sys::nth_address(subnet.network(), 2);
    auto hi = sys::nth_address(subnet.network(), 2 + n - 1);
    return lo && hi && *lo <= a && a <= *hi;
}

}  // namespace

std::map<std::string, sys::ip_address> allocate(const sys::ip_prefix& subnet, const std::vector<std::string>& members,
                                                const std::set<sys::ip_address>& reserved,
                                                const std::map<std::string, sys::ip_address>& previous) {
    std::vector<std::string> names = members;
    std::sort(names.begin(), names.end());
    std::set<sys::ip_address> taken = reserved;
    std::map<std::string, sys::ip_address> out;
    for (const auto& name : names) {
        auto it = previous.find(name);
        if (it != previous.end() && is_member_address(subnet, it->second) && !taken.count(it->second)) {
            out.emplace(name, it->second);
            taken.insert(it->second);
        }
    }
    std::uint64_t n = usable_count(subnet);
    for (const auto& name : names) {
        if (out.count(name)) {
            continue;
        }
        std::uint64_t start = n ? sys::fnv1a(name) % n : 0;
        bool placed = false;
        for (std::uint64_t i = 0; i < n && !placed; ++i) {
            auto a = sys::nth_address(subnet.network(), 2 + (start + i) % n);
            if (a && !taken.count(*a)) {
                out.emplace(name, *a);
                taken.insert(*a);
                placed = true;
            }
        }
        if (!placed) {
            throw usage_error("subnet " + subnet.network().str() + " has no free address left for container '" + name + "'");
        }
    }
    return out;
}

bool host_context::keeps(const std::string& name, const std::set<std::string>& planned) const {
    auto it = running.find(name);
    if (it == running.end() || planned.count(name)) {
        return false;
    }
    const running_container& r = it->second;
    return !(whole_file && r.origin == "file" && r.source == source);
}

namespace {

struct network_addresses {
    network_plan plan;
    std::map<std::string, sys::ip_address> v4, v6;
};

std::map<std::string, sys::ip_address> previous_of(const host_context& ctx, bool v4) {
    std::map<std::string, sys::ip_address> out;
    for (const auto& [name, addrs] : ctx.previous) {
        for (const auto& a : addrs) {
            if (a.is_v4() == v4) {
                out.emplace(name, a);
            }
        }
    }
    return out;
}

std::map<std::string, sys::ip_address> allocate_family(const config::model& m, const config::network& n,
                                                       const sys::ip_prefix& subnet, const sys::ip_prefix& gateway,
                                                       bool v4, const host_context& ctx) {
    std::set<sys::ip_address> taken{gateway.address};
    // Members of the same network from another file (or an older edit of
    // this one with names given) keep their addresses: allocate around them.
    std::set<std::string> declared;
    for (const auto& c : m.containers) {
        declared.insert(c.name);
    }
    for (const auto& [name, r] : ctx.running) {
        const auto& pair = v4 ? r.plan.v4 : r.plan.v6;
        if (r.plan.network == n.name && pair && ctx.keeps(name, declared)) {
            taken.insert(pair->local.address);
        }
    }
    std::vector<std::string> without;
    for (const auto& c : m.containers) {
        if (!c.private_network || c.host_bridge != n.name) {
            continue;
        }
        const auto& local = v4 ? c.local_address : c.local_address6;
        if (local) {
            taken.insert(local->address);
        } else {
            without.push_back(c.name);
        }
    }
    try {
        return allocate(subnet, without, taken, previous_of(ctx, v4));
    } catch (const usage_error& e) {
        auto key = n.keys.find(v4 ? "subnet" : "subnet6");
        throw usage_error((key != n.keys.end() ? key->second : n.where).str() + ": " + e.what());
    }
}

void join_network(container_plan& p, const config::container& c, const config::network& n,
                  const network_addresses& na) {
    p.network = n.name;
    p.bridge_if = na.plan.bridge_if;
    p.host_if = host_link_name(c.name);
    auto v4 = c.local_address ? c.local_address->address : na.v4.at(c.name);
    p.v4 = address_pair{na.plan.gateway, {v4, n.subnet.length}, false};
    if (n.subnet6) {
        auto v6 = c.local_address6 ? c.local_address6->address : na.v6.at(c.name);
        p.v6 = address_pair{*na.plan.gateway6, {v6, n.subnet6->length}, false};
    }
    if (!c.egress) {
        p.egress = n.egress ? config::to_string(*n.egress) : "none";
    }
}

}  // namespace

host_plan plan_host(const config::model& m, const std::function<bool(const config::container&)>& selected,
                    const host_context& ctx) {
    std::map<std::string, network_addresses> nets;
    for (const auto& n : m.networks) {
        network_addresses na{plan_network(n), {}, {}};
        na.v4 = allocate_family(m, n, n.subnet, na.plan.gateway, true, ctx);
        if (n.subnet6) {
            na.v6 = allocate_family(m, n, *n.subnet6, *na.plan.gateway6, false, ctx);
        }
        nets.emplace(n.name, std::move(na));
    }
    host_plan out;
    std::set<std::string> used;
    for (const auto& c : m.containers) {
        if (!selected(c)) {
            continue;
        }
        auto p = plan_container(c);
        const config::network* n = c.private_network && c.host_bridge ? m.find_network(*c.host_bridge) : nullptr;
        if (n) {
            join_network(p, c, *n, nets.at(n->name));
            if (used.insert(n->name).second) {
                out.networks.push_back(nets.at(n->name).plan);
            }
        }
        // A confined container's forward opens on its tunnel unless it says
        // otherwise (config/model.hpp): the egress is final only here.
        for (std::size_t i = 0; i < c.forward_ports.size() && i < p.forwards.size(); ++i) {
            const auto& side = c.forward_ports[i].side;
            p.forwards[i].side = side ? config::to_string(*side) : p.egress.starts_with("vpn:") ? "tunnel" : "uplink";
        }
        const config::check_settings* checks[] = {c.check ? &*c.check : nullptr, n && n->check ? &*n->check : nullptr,
                                                   m.check ? &*m.check : nullptr};
        for (const auto* cs : checks) {
            if (cs && !cs->probes.empty() && p.probes.empty()) {
                p.probes = cs->probes;
            }
        }
        if (m.check && m.check->on_failure) {
            p.on_failure = *m.check->on_failure;
        }
        // accessibleFrom: the sources come in by the uplink too (its IPv4
        // forwarding flag, converge/host.hpp).
        if (p.egress == "nat" || !p.forwards.empty() || !p.accessible_from.empty()) {
            p.uplink = n && n->uplink ? *n->uplink : ctx.default_uplink;
        }
        out.containers.push_back(std::move(p));
    }
    return out;
}

}  // namespace moat::plan
