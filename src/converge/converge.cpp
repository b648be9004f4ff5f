#include "converge/converge.hpp"

#include "converge/damage.hpp"
#include "converge/detail.hpp"
#include "converge/claim.hpp"
#include "converge/host.hpp"
#include "converge/routing.hpp"

#include "container/hosts_file.hpp"
#include "container/runtime.hpp"
#include "firewall/firewall.hpp"
#include "netlink/netlink.hpp"
#include "netlink/sysctl.hpp"
#include "plan/changes.hpp"
#include "sandbox/cgroup.hpp"
#include "sandbox/device_filter.hpp"
#include "sys/error.hpp"
#include "sys/failpoint.hpp"
#include "sys/fs.hpp"

#include <cstdio>
#include <map>
#include <set>
#include <span>

namespace moat::converge {

using detail::decision;
using detail::prepare_all;
using detail::release_all;
using detail::roll_back;
using detail::send_specs;
using detail::stop_container;
using detail::stopwatch;

namespace {

firewall::endpoint endpoint_of(const plan::container_plan& p) {
    firewall::endpoint e;
    e.name = p.name;
    e.host_if = p.host_if;
    for (const auto* pair : {&p.v4, &p.v6}) {
        if (*pair) {
            e.addresses.push_back((*pair)->local.address);
        }
    }
    e.bridge_if = p.bridge_if;
    e.tcp_ports = p.tcp_ports;
    e.udp_ports = p.udp_ports;
    e.host_tcp_ports = p.host_tcp_ports;
    e.host_udp_ports = p.host_udp_ports;
    e.egress = p.egress;
    e.uplink = p.uplink;
    e.tunnel_if = p.tunnel_if;
    e.accessible_from = p.accessible_from;
    e.provider_forwarding = plan::receives_provider_forwarding(p);
    // A forward without hostAddress applies to each family the container has.
    for (const auto& f : p.forwards) {
        for (const auto& a : e.addresses) {
            if (!f.host_address || f.host_address->family == a.family) {
                e.forwards.push_back({f.protocol, f.host_port, f.container_port, f.host_address, a, f.side});
            }
        }
    }
    return e;
}

std::vector<plan::container_plan> plans_of(const std::vector<state::container_record>& records) {
    std::vector<plan::container_plan> out;
    for (const auto& r : records) {
        out.push_back(plan::plan_from_json(r.spec));
    }
    return out;
}

// Stops a container and forgets it; the firewall is re-rendered by the caller.
void remove_container(state::store& store, const state::container_record& rec) {
    stop_container(rec);
    store.remove(rec.name);
}

}  // namespace

bool report::changed() const {
    if (firewall_committed) {
        return true;
    }
    for (const auto& a : actions) {
        if (a.what != "unchanged") {
            return true;
        }
    }
    return false;
}

firewall::spec firewall_spec(const std::vector<plan::container_plan>& plans) {
    firewall::spec spec;
    spec.reply_mark = reply_mark;
    for (const auto& p : plans) {
        if (!p.host_if.empty()) {
            spec.endpoints.push_back(endpoint_of(p));
        }
    }
    return spec;
}

std::map<std::string, bool> route_localnet(const std::vector<plan::container_plan>& running) {
    std::map<std::string, bool> links;
    for (const auto& e : firewall_spec(running).endpoints) {
        links[e.link()] = links[e.link()] || firewall::forwards_from_localhost(e);
    }
    return links;
}

namespace {

// Brings route_localnet of every link of the running containers to what
// route_localnet() says, after the table (and its localnet guard) is in
// place. Links are moat's own and die with their last user, so there is
// nothing to record or restore. A link that is gone (someone deleted it)
// is left to the repair of the next `up`.
void sync_route_localnet(const std::vector<plan::container_plan>& running) {
    for (const auto& [link, on] : route_localnet(running)) {
        std::string key = "net/ipv4/conf/" + link + "/route_localnet";
        try {
            if (netlink::get_sysctl(key) != (on ? "1" : "0")) {
                netlink::set_sysctl(key, on ? "1" : "0");
            }
        } catch (...) {
            if (netlink::socket::open().link_index(link)) {
                add_context("setting " + key);
            }
        }
    }
}


// The host end of a veth someone deleted (or took off its bridge), or a
// deleted bridge, is drift: the container is alive but unreachable, so it
// is repaired like a dead one.
bool links_present(netlink::socket& nl, const plan::container_plan& p) {
    if (p.host_if.empty()) {
        return true;
    }
    auto veth = nl.link(p.host_if);
    if (!veth || p.bridge_if.empty()) {
        return veth.has_value();
    }
    auto bridge = nl.link_index(p.bridge_if);
    return bridge && veth->master == *bridge;
}

// A container belongs to the file that made it (or to `moat run`): another
// file declaring the same name is refused before anything is touched.
void refuse_others(const state::store& store, const std::vector<state::container_record>& records,
                   const std::vector<plan::container_plan>& plans, const up_options& opts) {
    std::set<std::string> planned;
    for (const auto& p : plans) {
        planned.insert(p.name);
    }
    for (const auto& r : records) {
        if (!planned.count(r.name) || (r.origin == "file" && r.source == opts.source)) {
            continue;
        }
        std::string owner = r.origin == "run" ? "`moat run`" : r.source;
        throw usage_error("container '" + r.name + "' in " + store.dir() + " was made by " + owner + ", not by " +
                          opts.source + ": `moat down " + r.name + "` first, or use another --state-dir");
    }
}

// What `up` does with one planned container; an orphan has no plan.
struct verdict {
    const plan::container_plan* plan = nullptr;
    const state::container_record* rec = nullptr;  // stopped and removed first, if set
    std::string what;                               // for the report
    bool keep = false;                              // left running as it is
};

// Every verdict before any is acted on: a container that cannot be removed
// from here (container::check_removable) is then refused with nothing changed.
std::vector<verdict> judge(const state::listing& l, const std::vector<plan::container_plan>& plans,
                           const std::set<std::string>& wanted, const up_options& opts, decision& d) {
    std::map<std::string, const state::container_record*> existing;
    for (const auto& r : l.records) {
        existing.emplace(r.name, &r);
    }
    std::set<std::string> damaged;
    for (const auto& dmg : l.damaged) {
        damaged.insert(dmg.name);
    }
    std::vector<verdict> out;
    for (const auto& [name, rec] : existing) {
        if (wanted.count(name)) {
            continue;
        }
        // An orphan: made from this very file, which no longer declares it
        // at all. Declared but not selected (autoStart = false, or started
        // by name) is not an orphan, and other files' containers never are.
        if (opts.remove_orphans && rec->origin == "file" && rec->source == opts.source && !opts.declared.count(name)) {
            out.push_back({nullptr, rec, "removed (no longer in " + opts.source + ")", false});
        } else if (container::running(*rec)) {
            d.keep.push_back(plan::plan_from_json(rec->spec));
        }
    }
    auto nl = netlink::socket::open();
    for (const auto& p : plans) {
        auto it = existing.find(p.name);
        if (it == existing.end()) {
            out.push_back({&p, nullptr, damaged.count(p.name) ? "repaired (its record was damaged)" : "created", false});
            continue;
        }
        const auto& rec = *it->second;
        bool alive = container::running(rec) && rec.status == "running";
        if (alive && rec.config_hash == plan::hash(p) && links_present(nl, p)) {
            out.push_back({&p, &rec, "unchanged", true});
            continue;
        }
        std::string what = alive && rec.config_hash != plan::hash(p) ? "recreated" : "repaired";
        if (auto why = plan::changed_parts(rec.spec, p); what == "recreated" && !why.empty()) {
            what += " (" + why + ")";
        }
        out.push_back({&p, &rec, what, false});
    }
    return out;
}

decision decide(state::store& store, const state::listing& l, const std::vector<plan::container_plan>& plans,
                const up_options& opts, report& rep, stopwatch& sw) {
    decision d;
    std::set<std::string> wanted;
    for (const auto& p : plans) {
        wanted.insert(p.name);
    }
    auto verdicts = judge(l, plans, wanted, opts, d);
    check_removable(store, l.damaged);
    for (const auto& v : verdicts) {
        if (v.rec && !v.keep) {
            container::check_removable(std::span(v.rec, 1));
        }
    }
    d.damaged = stop_damaged(store, l, wanted, rep);
    for (const auto& v : verdicts) {
        rep.actions.push_back({v.plan ? v.plan->name : v.rec->name, v.what});
        if (v.keep) {
            d.keep.push_back(*v.plan);
            if (v.rec->spec != plan::to_json(*v.plan)) {
                auto updated = *v.rec;  // e.g. a new uplink: the firewall follows, services keep running
                updated.spec = plan::to_json(*v.plan);
                store.save(updated);
            }
            continue;
        }
        if (v.rec) {
            remove_container(store, *v.rec);
            sw.step(v.rec->name + (v.plan ? ": stopped the old instance" : ": " + v.what));
        }
        if (v.plan) {
            d.to_start.push_back(v.plan);
        }
    }
    return d;
}

}  // namespace

namespace detail {

void stop_container(const state::container_record& rec, std::chrono::milliseconds grace, bool keep_link) {
    container::stop(rec, grace, keep_link);
    // `_tunnels` takes its runners' tunnel devices with it; a damaged
    // record no longer says which (damage.hpp).
    if (rec.name == plan::tunnels_container && rec.spec.is_object()) {
        remove_tunnel_devices(plan::plan_from_json(rec.spec), container::instance_of(rec));
    }
}

}  // namespace detail

std::vector<plan::network_plan> networks_for(const state::store& store, const std::vector<plan::container_plan>& running,
                                             const std::vector<plan::network_plan>& planned, bool drop_kept) {
    std::map<std::string, plan::network_plan> out;
    for (const auto& n : planned) {
        out.emplace(n.name, n);
    }
    auto host = store.host();
    for (const auto& p : running) {
        auto it = host.networks.find(p.network);
        if (!p.network.empty() && !out.count(p.network) && it != host.networks.end()) {
            out.emplace(p.network, plan::network_from_json(it->second));
        }
    }
    for (const auto& [name, j] : host.networks) {
        if (auto n = plan::network_from_json(j); n.keep_idle && !drop_kept) {
            out.emplace(name, std::move(n));
        }
    }
    std::vector<plan::network_plan> v;
    for (auto& [name, n] : out) {
        v.push_back(std::move(n));
    }
    return v;
}

// Names on networks (container/hosts_file.hpp): every running container's
// /etc/hosts lists the members its network has now.
static void sync_hosts(const state::store& store, stopwatch& sw) {
    std::vector<std::string> notes;
    container::sync_hosts(store, notes);
    for (const auto& n : notes) {
        warn(n);
    }
    sw.step("names on networks: /etc/hosts updated");
}

bool sync_firewall(state::store& store, const std::vector<plan::container_plan>& running, bool force,
                   bool incremental) {
    bool committed = commit_firewall(store, firewall_spec(running), force, incremental);
    sync_sysctls(store, running);
    sync_route_localnet(running);
    sync_routing(store, running);
    return committed;
}

report up(state::store& store, const plan::host_plan& plan, const up_options& opts) {
    auto listing = store.scan();
    claim_network_namespace(store, plan, listing);  // another instance's namespace: exit 2 before anything is touched
    report rep;
    stopwatch sw(opts.progress);
    sandbox::device_program_reuse one_device_program_per_list;
    store.host();  // a damaged host.json: refused before anything is touched
    refuse_others(store, listing.records, plan.containers, opts);
    auto d = decide(store, listing, plan.containers, opts, rep, sw);
    container::start_options so;
    so.origin = "file";
    so.source = opts.source;
    so.masks = opts.secrets;
    so.forks = opts.forks;
    std::vector<container::pending> pend;
    std::vector<std::string> attempted;
    try {
        std::vector<plan::container_plan> after = d.keep;
        for (const auto* p : d.to_start) {
            after.push_back(*p);
        }
        for (const auto& n : sync_networks(store, networks_for(store, after, plan.networks))) {
            sw.step("network " + n + ": bridge ready");
        }
        // One scan for every container's uid range (runtime.hpp), after
        // decide() removed what it replaces. A range given by number is held
        // before any is picked, whichever container is prepared first.
        auto uid_bases = container::uid_bases_in(store);
        for (const auto* p : d.to_start) {
            if (p->users == "base") {
                uid_bases.hold(p->name, p->users_base);
            }
        }
        so.uid_bases = &uid_bases;
        bool tunnels_released = prepare_all(store, d, so, pend, attempted, sw);
        send_specs(store, pend, tunnels_released, so);
        // New veths need their ingress guards bound, even if the text is the same.
        rep.firewall_committed = sync_firewall(store, d.keep, !pend.empty());
        sw.step(rep.firewall_committed ? "firewall: committed table inet moat" : "firewall: unchanged");
        release_all(store, pend, tunnels_released, sw);
    } catch (...) {
        roll_back(store, pend, attempted, d.keep);
        throw;
    }
    sync_hosts(store, sw);
    return rep;
}

report down(state::store& store, const std::vector<std::string>& names, const progress_fn& progress) {
    report rep;
    stopwatch sw(progress);
    auto listing = store.scan();
    std::set<std::string> selected(names.begin(), names.end());
    for (const auto& n : names) {
        bool found = false;
        for (const auto& r : listing.records) {
            found = found || r.name == n;
        }
        for (const auto& dmg : listing.damaged) {
            found = found || dmg.name == n;
        }
        if (!found) {
            throw moat::error("no container named '" + n + "' in " + store.dir());
        }
    }
    // Refused before anything changes, host.json's repair included. Every
    // damaged record is stopped below, selected or not.
    for (const auto& r : listing.records) {
        if (selected.empty() || selected.count(r.name)) {
            container::check_removable(std::span(&r, 1));
        }
    }
    check_removable(store, listing.damaged);
    repair_host(store, listing.records);
    std::vector<state::container_record> gone, left;
    for (auto& r : listing.records) {
        (selected.empty() || selected.count(r.name) ? gone : left).push_back(std::move(r));
    }
    // Damaged records not selected are stopped, not removed: the firewall
    // committed below cannot render their chains (damage.hpp, fail closed).
    state::listing others;
    for (auto& dmg : listing.damaged) {
        if (selected.empty() || selected.count(dmg.name)) {
            warn(dmg.file + " is damaged (" + dmg.problem + "): removing what its name implies");
            gone.push_back(implied_record(store, dmg));
        } else {
            others.damaged.push_back(std::move(dmg));
        }
    }
    others.foreign = std::move(listing.foreign);
    stop_damaged(store, others, {}, rep);
    // The intent goes on disk before the first signal: a `down` killed after
    // its SIGTERMs leaves inits still alive but on their way out, which the
    // next `up` must repair, not keep as "unchanged" (it did: the chaos
    // test's "down killed after 7 ms" round, then a dead `_tunnels`).
    for (auto& r : gone) {
        if (r.origin != "cni" && r.status == "running" && store.has(r.name)) {
            r.status = "stopping";
            store.save(r);
        }
    }
    // Every init gets SIGTERM first, so their grace periods run in parallel.
    for (const auto& r : gone) {
        container::request_stop(r);
    }
    sys::failpoint("after-stop-requests");
    for (const auto& r : gone) {
        stop_container(r, std::chrono::seconds(8), true);
        sw.step(r.name + ": stopped");
    }
    delete_veths(gone);
    container::forget_flows(gone);
    sw.step("veths deleted");
    std::vector<state::container_record> still_running;
    for (auto& r : left) {
        if (container::running(r)) {
            still_running.push_back(r);
        }
    }
    auto remaining = plans_of(still_running);
    rep.firewall_committed = sync_firewall(store, remaining);
    container::forget_flows(gone);  // again: its forwards could make entries until this commit
    sw.step(rep.firewall_committed ? "firewall: updated" : "firewall: unchanged");
    sync_networks(store, networks_for(store, remaining, {}, names.empty()));  // `down` of all: kept ones too
    sw.step("networks and sysctls: done");
    for (const auto& r : gone) {
        store.remove(r.name);
        rep.actions.push_back({r.name, "removed"});
    }
    sync_hosts(store, sw);
    return rep;
}

}  // namespace moat::converge
