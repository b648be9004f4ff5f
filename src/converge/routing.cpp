#include "converge/routing.hpp"

#include "converge/claim.hpp"
#include "netlink/owner.hpp"
#include "plan/tunnel.hpp"

#include <sys/socket.h>

#include <cstdio>
#include <optional>
#include <set>

namespace moat::converge {

namespace {

constexpr std::uint32_t worst_metric = 4278198272u;  // what `ip` shows for the kernel's catch-alls

void add_confined(routing_plan& rp, const plan::container_plan& p) {
    std::uint32_t table = plan::tunnel_table(p.tunnel);
    for (const auto* pair : {&p.v4, &p.v6}) {
        if (!*pair) {
            continue;
        }
        const auto& local = (*pair)->local;
        netlink::route link;
        link.destination = p.bridge_if.empty() ? sys::ip_prefix{local.address, local.address.max_prefix()} : local.network();
        link.dev = p.bridge_if.empty() ? p.host_if : p.bridge_if;
        link.table = table;
        rp.routes.push_back(link);
        netlink::rule r;
        r.from = sys::ip_prefix{local.address, local.address.max_prefix()};
        r.table = table;
        r.priority = confined_rule_priority;
        rp.rules.push_back(r);
    }
}

nlohmann::json route_json(const netlink::route& r) {
    return {{"family", r.family}, {"destination", r.destination ? r.destination->str() : ""}, {"dev", r.dev},
            {"table", r.table}, {"metric", r.metric}, {"type", static_cast<int>(r.type)}};
}

netlink::route route_from(const nlohmann::json& j) {
    netlink::route r;
    r.family = j.at("family");
    if (auto d = j.at("destination").get<std::string>(); !d.empty()) {
        r.destination = sys::ip_prefix::parse(d);
    }
    r.dev = j.at("dev");
    r.table = j.at("table");
    r.metric = j.at("metric");
    r.type = static_cast<netlink::route_type>(j.at("type").get<int>());
    return r;
}

nlohmann::json rule_json(const netlink::rule& r) {
    return {{"family", r.family}, {"from", r.from ? r.from->str() : ""}, {"fwmark", r.fwmark ? *r.fwmark : 0},
            {"table", r.table}, {"priority", r.priority.value_or(0)}};
}

netlink::rule rule_from(const nlohmann::json& j) {
    netlink::rule r;
    r.family = j.at("family");
    if (auto f = j.at("from").get<std::string>(); !f.empty()) {
        r.from = sys::ip_prefix::parse(f);
    }
    if (std::uint32_t m = j.at("fwmark"); m) {
        r.fwmark = m;
    }
    r.table = j.at("table");
    r.priority = j.at("priority").get<std::uint32_t>();
    return r;
}

}  // namespace

routing_plan routing_for(const std::vector<plan::container_plan>& running) {
    routing_plan rp;
    std::set<std::uint32_t> tables, confined_tables;
    for (const auto& p : running) {
        if (p.egress == "vpn" && !p.tunnel.empty()) {
            add_confined(rp, p);
            confined_tables.insert(plan::tunnel_table(p.tunnel));
        }
        // A served tunnel's table is recorded from the moment `_tunnels`
        // runs, not only once a member is confined to it: when the table
        // is no longer wanted, sync_routing() sweeps the rule its runner
        // made into it — also after a CNI ADD that failed right after
        // starting the tunnel, before any member's routes existed.
        if (p.name == plan::tunnels_container) {
            for (const auto& t : plan::tunnels_served(p)) {
                tables.insert(t.table);
            }
        }
    }
    tables.insert(confined_tables.begin(), confined_tables.end());
    for (auto table : tables) {
        for (int family : {AF_INET, AF_INET6}) {
            netlink::route r;
            r.family = family;
            r.type = netlink::route_type::unreachable;
            r.table = table;
            r.metric = worst_metric;
            rp.routes.push_back(r);
        }
    }
    if (!confined_tables.empty()) {
        for (int family : {AF_INET, AF_INET6}) {
            netlink::rule r;
            r.family = family;
            r.fwmark = reply_mark;
            r.table = netlink::table_main;
            r.priority = confined_rule_priority - 1;
            rp.rules.push_back(r);
        }
    }
    return rp;
}

void remove_tunnel_devices(const plan::container_plan& tunnels, const std::string& instance) {
    std::optional<netlink::socket> nl;
    for (const auto& t : plan::tunnels_served(tunnels)) {
        if (!nl) {
            nl = netlink::socket::open();
        }
        if (auto link = nl->link(t.device); link && link->kind == "tun") {
            auto d = nl->delete_link_if_owned(t.device, instance);
            if (d.what == netlink::owned_deletion::result::kept) {
                std::fprintf(stderr, "moat: note: left tunnel device %s alone: %s\n", t.device.c_str(), d.reason.c_str());
            }
        }
    }
}

void record_routing(state::host_record& h, const std::vector<plan::container_plan>& plans) {
    auto rp = routing_for(plans);
    for (const auto& r : rp.routes) {
        if (auto j = route_json(r); std::find(h.routes.begin(), h.routes.end(), j) == h.routes.end()) {
            h.routes.push_back(j);
        }
    }
    for (const auto& r : rp.rules) {
        if (auto j = rule_json(r); std::find(h.rules.begin(), h.rules.end(), j) == h.rules.end()) {
            h.rules.push_back(j);
        }
    }
}

namespace {

// Adding what is already there (drift repair finds most of it) is fine.
// What is already there is kept; asking is no exception (it is the usual
// answer on every `up` after the first).
void add_all(netlink::socket& nl, const routing_plan& want) {
    for (const auto& r : want.routes) {
        nl.add_route_if_new(r);
    }
    for (const auto& r : want.rules) {
        nl.add_rule_if_new(r);
    }
}

}  // namespace

void add_routing(state::store& store, const std::vector<plan::container_plan>& plans) {
    auto want = routing_for(plans);
    if (want.routes.empty() && want.rules.empty()) {
        return;
    }
    auto host = store.host();
    record_routing(host, plans);
    store.save_host(host);
    auto nl = netlink::socket::open();
    add_all(nl, want);
}

void sync_routing(state::store& store, const std::vector<plan::container_plan>& running) {
    auto want = routing_for(running);
    auto host = store.host();
    std::vector<nlohmann::json> want_routes, want_rules;
    for (const auto& r : want.routes) {
        want_routes.push_back(route_json(r));
    }
    for (const auto& r : want.rules) {
        want_rules.push_back(rule_json(r));
    }
    if (host.routes.empty() && host.rules.empty() && want_routes.empty() && want_rules.empty()) {
        return;
    }
    auto nl = netlink::socket::open();
    // Intent first: everything that may exist after this call is recorded.
    auto old_routes = host.routes, old_rules = host.rules;
    for (const auto& j : want_routes) {
        if (std::find(host.routes.begin(), host.routes.end(), j) == host.routes.end()) {
            host.routes.push_back(j);
        }
    }
    for (const auto& j : want_rules) {
        if (std::find(host.rules.begin(), host.rules.end(), j) == host.rules.end()) {
            host.rules.push_back(j);
        }
    }
    store.save_host(host);
    // Rules and routes carry no owner: one that another instance's rule
    // equals (same tunnel name, same address) is indistinguishable. So they
    // are removed only while this namespace is not another instance's
    // (claim.hpp); otherwise they are forgotten, which fails closed (a
    // stray rule sends into a table whose default is unreachable).
    std::optional<bool> may_delete;
    auto owned_namespace = [&] {
        if (!may_delete) {
            may_delete = !read_claim(store).foreign();
        }
        return *may_delete;
    };
    for (const auto& j : old_rules) {
        if (std::find(want_rules.begin(), want_rules.end(), j) == want_rules.end() && owned_namespace()) {
            nl.delete_rule(rule_from(j));
        }
    }
    for (const auto& j : old_routes) {
        if (std::find(want_routes.begin(), want_routes.end(), j) == want_routes.end() && owned_namespace()) {
            nl.delete_route(route_from(j));
        }
    }
    add_all(nl, want);
    // Rules into a tunnel table no longer wanted (the tunnel runner adds one
    // for the tunnel's own address) go with that table.
    std::set<std::uint32_t> wanted_tables, gone_tables;
    for (const auto& r : want.routes) {
        wanted_tables.insert(r.table);
    }
    for (const auto& j : old_routes) {
        if (!wanted_tables.count(j.at("table").get<std::uint32_t>())) {
            gone_tables.insert(j.at("table").get<std::uint32_t>());
        }
    }
    bool sweep = !gone_tables.empty() && owned_namespace();
    for (const auto& r : sweep ? nl.rules() : std::vector<netlink::rule>{}) {
        if (gone_tables.count(r.table) && r.action == netlink::rule_action::to_table) {
            nl.delete_rule(r);
        }
    }
    host.routes = want_routes;
    host.rules = want_rules;
    store.save_host(host);
}

}  // namespace moat::converge
