#include "converge/host_context.hpp"

#include "container/runtime.hpp"
#include "converge/host.hpp"
#include "netlink/netlink.hpp"
#include "netlink/owner.hpp"
#include "plan/tunnel.hpp"
#include "tunnel/tun_device.hpp"

namespace moat::converge {

namespace {

// The host's links, and its addresses and routes on links that are not
// moat's (plan/host_checks.hpp says why each matters).
void read_host_network(plan::host_context& ctx, const std::string& instance) {
    auto nl = netlink::socket::open();
    for (const auto& l : nl.links()) {
        ctx.links.insert(l.name);
        // This instance's mark proves the link is moat's even when no
        // intact record names it (a damaged record, a kill -9 before the
        // record was rewritten).
        if (auto owner = netlink::parse_owner_alias(l.alias); owner && owner->instance == instance) {
            ctx.moat_links.insert(l.name);
        } else if (owner) {
            ctx.link_owners[l.name] = "it belongs to moat instance " + owner->instance + " (" + owner->what + ")";
        }
    }
    for (const auto& a : nl.addresses()) {
        if (!ctx.moat_links.count(a.ifname)) {
            ctx.addresses.push_back(plan::host_address{a.local, a.ifname});
        }
    }
    for (const auto& r : nl.routes(netlink::table_main)) {
        if (r.type != netlink::route_type::unicast || ctx.moat_links.count(r.dev)) {
            continue;
        }
        if (r.gateway) {
            ctx.gateways.push_back(*r.gateway);
        }
        if (r.destination && !r.dev.empty()) {
            ctx.routes.push_back(plan::host_route{r.destination->network(), r.dev, r.str()});
        }
    }
}

}  // namespace

plan::host_context host_context_of(const state::store& store) {
    plan::host_context ctx;
    ctx.default_uplink = converge::default_uplink();
    for (const auto& [name, j] : store.host().networks) {
        auto n = plan::network_from_json(j);
        ctx.moat_links.insert(n.bridge_if);
        ctx.networks.emplace(name, std::move(n));
    }
    auto listing = store.scan();
    for (const auto& d : listing.damaged) {
        if (!d.name.empty()) {  // its veth is what its name implies (converge/damage.hpp)
            ctx.moat_links.insert(plan::host_link_name(d.name));
        }
    }
    for (const auto& r : listing.records) {
        if (!r.host_if.empty()) {
            ctx.moat_links.insert(r.host_if);
        }
        if (!container::running(r)) {
            continue;
        }
        auto p = plan::plan_from_json(r.spec);
        if (!p.tunnel.empty()) {
            ctx.running_tunnels.insert(p.tunnel);
        }
        for (const auto* pair : {&p.v4, &p.v6}) {
            if (*pair && !p.network.empty()) {
                ctx.previous[p.name].push_back((*pair)->local.address);
            }
        }
        // The internal containers (_tunnels, _pipes) have no addresses,
        // links or forwards of their own to clash with.
        if (!r.name.starts_with("_")) {
            ctx.running.emplace(r.name, plan::running_container{r.origin, r.source, std::move(p)});
        }
    }
    read_host_network(ctx, store.instance_id());
    return ctx;
}

void mark_tunnel_owner(std::vector<plan::container_plan>& plans, const std::string& instance) {
    for (auto& p : plans) {
        if (p.name != plan::tunnels_container) {
            continue;
        }
        for (auto& s : p.services) {
            s.environment[tunnel::owner_env] = instance;
        }
    }
}

}  // namespace moat::converge
