#include "converge/damage.hpp"

#include "converge/detail.hpp"
#include "converge/host.hpp"
#include "converge/routing.hpp"

#include "container/runtime.hpp"

#include "firewall/firewall.hpp"
#include "netlink/netlink.hpp"
#include "plan/network.hpp"
#include "plan/plan.hpp"
#include "sandbox/cgroup.hpp"
#include "sandbox/cgroup_layout.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <cstdio>
#include <span>

namespace moat::converge {

void warn(const std::string& text) { std::fprintf(stderr, "moat: warning: %s\n", text.c_str()); }

state::container_record implied_record(const state::store& store, const state::damaged_record& d) {
    state::container_record r;
    r.name = d.name;
    r.origin = "";  // unknown: neither a file's nor `moat run`'s
    r.status = "damaged";
    r.init = d.init;
    r.cgroup = d.cgroup;
    if (r.cgroup.empty()) {
        if (auto mount = sandbox::cgroup_mount()) {
            // Where it is, in the default place or below a delegated cgroup.
            r.cgroup = *mount + "/moat/" + store.instance_id() + "/" + d.name;
            for (const auto& top : sandbox::instance_cgroups(*mount, store.instance_id())) {
                if (sys::path_exists(top + "/" + d.name)) {
                    r.cgroup = top + "/" + d.name;
                    break;
                }
            }
        }
    }
    // Internal containers (`_tunnels`, `_pipes`) have no veth of their own.
    r.host_if = d.name.front() == '_' ? "" : plan::host_link_name(d.name);
    r.uid_base = d.uid_base;
    return r;
}

void check_removable(const state::store& store, const std::vector<state::damaged_record>& damaged) {
    for (const auto& dmg : damaged) {
        auto implied = implied_record(store, dmg);
        container::check_removable(std::span(&implied, 1));
        if (implied.cgroup.empty() && sandbox::cgroups_hidden()) {  // the record no longer says where
            throw moat::error(dmg.file + " is damaged and its container's cgroup cannot be looked for from here: " +
                              sandbox::cgroups_hidden_hint());
        }
    }
}

bool implied_present(const state::container_record& implied) {
    if (!implied.cgroup.empty() && sys::path_exists(implied.cgroup)) {
        return true;
    }
    return !implied.host_if.empty() && netlink::socket::open().link_index(implied.host_if).has_value();
}

std::set<std::string> stop_damaged(state::store& store, const state::listing& l, const std::set<std::string>& planned,
                                   report& rep) {
    std::set<std::string> removed;
    for (const auto& dmg : l.damaged) {
        auto implied = implied_record(store, dmg);
        bool wanted = planned.count(dmg.name) > 0;
        warn(dmg.file + " is damaged (" + dmg.problem + "): " +
             (wanted ? "recreating " + dmg.name
                     : "stopping what its name implies; `moat down " + dmg.name + "` removes it"));
        bool present = implied_present(implied);
        detail::stop_container(implied);
        if (wanted) {
            store.remove(dmg.name);
            removed.insert(dmg.name);
        } else if (present) {
            rep.actions.push_back({dmg.name, "stopped (its record is damaged)"});
        }
    }
    for (const auto& f : l.foreign) {
        warn(f + " in " + store.dir() + " is not a container moat made: left alone");
    }
    return removed;
}

namespace {

// A bridge network as its members' plans show it: the bridge holds the
// gateway, which is the host side of each member's address pair.
void add_networks(state::host_record& h, const std::vector<plan::container_plan>& plans) {
    for (const auto& p : plans) {
        if (p.network.empty() || !p.v4 || h.networks.count(p.network)) {
            continue;
        }
        plan::network_plan n{p.network, p.bridge_if, p.v4->host, std::nullopt, false, {}};
        if (p.v6) {
            n.gateway6 = p.v6->host;
        }
        h.networks[p.network] = plan::to_json(n);
    }
}

}  // namespace

void repair_host(state::store& store, const std::vector<state::container_record>& records) {
    auto reading = store.read_host();
    if (reading.problem.empty()) {
        return;
    }
    warn("host.json is damaged (" + reading.problem + "): removing what its readable parts and the records name");
    auto h = reading.record;
    std::vector<plan::container_plan> plans;
    for (const auto& r : records) {
        plans.push_back(plan::plan_from_json(r.spec));
    }
    if (!h.nft_table) {
        h.nft_table = firewall::context().current().has_value();
    }
    add_networks(h, plans);
    record_routing(h, plans);
    for (const auto& key : needed_sysctls(plans)) {
        if (!h.sysctls.count(key)) {
            warn(key + " was set by moat, and its original value was lost with host.json: left as it is");
        }
    }
    // Forces a new commit of the table: its last text is not known.
    h.nft_ruleset.clear();
    store.save_host(h);
}

}  // namespace moat::converge
