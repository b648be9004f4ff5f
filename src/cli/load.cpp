#include "cli/load.hpp"

#include "config/loader.hpp"
#include "container/runtime.hpp"
#include "converge/claim.hpp"
#include "converge/host.hpp"
#include "converge/ports.hpp"
#include "netlink/netlink.hpp"
#include "netlink/owner.hpp"
#include "plan/host_checks.hpp"
#include "plan/tunnel_checks.hpp"
#include "plan/pipes.hpp"
#include "plan/tunnel.hpp"
#include "sys/error.hpp"
#include "tunnel/tun_device.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

namespace moat::cli {

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

namespace {

loaded_plans load_and_plan(const std::string& file, const std::vector<std::string>& names, const state::store& store) {
    auto model = config::load_file(file);
    for (const auto& n : model.notices) {
        std::fprintf(stderr, "moat: note: %s\n", n.c_str());
    }
    config::validate(model);
    // Features land issue by issue; until then their keys are refused, never ignored.
    config::feature_set implemented;
    implemented.pipes = true;
    implemented.networks = true;
    implemented.nat = true;
    implemented.forward_ports = true;
    implemented.vpn = true;
    implemented.tunnels = true;
    implemented.check = true;
    implemented.check_on_failure = true;
    for (const auto& t : model.tunnels) {
        // Both would weaken or change confinement; refused rather than ignored.
        const std::pair<const char*, bool> refused[] = {{"killSwitch = false", !t.kill_switch},
                                                         {"namespace = true", t.in_namespace}};
        for (const auto& [setting, set] : refused) {
            if (set) {
                std::string key = std::string(setting).substr(0, std::string(setting).find(' '));
                throw usage_error(t.keys.at(key).str() + ": tunnels." + t.name + "." + setting +
                                  " is not supported yet in this version of moat");
            }
        }
    }
    config::reject_unsupported(model, implemented);
    loaded_plans out;
    std::error_code ec;
    out.source = file == "-" ? "<stdin>" : std::filesystem::absolute(file, ec).string();
    for (const auto& n : names) {
        if (!model.find_container(n)) {
            throw usage_error("no container named '" + n + "' in " + file);
        }
    }
    auto selected = [&](const config::container& c) {
        return names.empty() ? c.auto_start : std::find(names.begin(), names.end(), c.name) != names.end();
    };
    auto ctx = host_context_of(store);
    ctx.source = out.source;
    ctx.whole_file = names.empty();
    auto planned = plan::plan_host(model, selected, ctx);
    std::map<std::string, std::string> links;
    for (const auto& n : planned.networks) {
        links.emplace(n.bridge_if, "network " + n.name);
    }
    for (const auto& p : planned.containers) {
        if (!p.host_if.empty()) {
            auto [it, fresh] = links.emplace(p.host_if, "container " + p.name);
            if (!fresh) {
                throw usage_error(model.find_container(p.name)->where.str() + ": " + it->second + " and container " +
                                  p.name + " would both use interface " + p.host_if + "; rename one");
            }
        }
    }
    // Another instance's namespace is the clearest reason of all: said first.
    converge::claim_network_namespace(store, planned);
    // Against the host and what else runs: the lock is held (cmd_up), so
    // nothing changes between this check and `up` acting on it.
    plan::check_host(model, planned, ctx);
    out.plans = std::move(planned.containers);
    for (const auto& c : model.containers) {
        out.declared.insert(c.name);
    }
    out.networks = std::move(planned.networks);
    // Pipes run the moat binary itself (`moat pipe ... -F`).
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        throw sys::errno_error("finding moat's own binary");
    }
    std::string moat_exe(exe, static_cast<size_t>(n));
    out.tunnels = plan::plan_tunnels(model, out.plans, moat_exe, ctx.running_tunnels, store.dir());
    plan::check_tunnel_addresses(out.tunnels, ctx, out.networks, out.plans);
    // The runners mark their devices as this instance's (tunnel/tun_device.hpp).
    for (auto& p : out.plans) {
        if (p.name != plan::tunnels_container) {
            continue;
        }
        for (auto& s : p.services) {
            s.environment[tunnel::owner_env] = store.instance_id();
        }
    }
    for (const auto& p : model.pipes) {
        out.secrets.push_back(p.key_file);
    }
    // The tunnels' configs, the files they name and their credentials:
    // masked in every container (`_tunnels` binds back what its runners read).
    for (auto& f : plan::tunnel_secret_files(model)) {
        out.secrets.push_back(std::move(f));
    }
    plan::plan_pipes(model, out.plans, moat_exe, names.empty());
    // Last, with every plan made: a port a host service holds is refused here.
    if (auto busy = converge::busy_host_ports(model, out.plans, store); !busy.empty()) {
        throw config::config_error(std::move(busy));
    }
    return out;
}

}  // namespace

loaded_plans load_plans(const std::string& file, const std::vector<std::string>& names, state::store& store,
                        bool new_store) {
    try {
        return load_and_plan(file, names, store);
    } catch (...) {
        if (new_store) {
            store.remove_if_empty();
        }
        throw;
    }
}

}  // namespace moat::cli
