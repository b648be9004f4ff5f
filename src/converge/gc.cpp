#include "converge/gc.hpp"

#include "container/runtime.hpp"
#include "converge/claim.hpp"
#include "converge/damage.hpp"
#include "converge/routing.hpp"
#include "firewall/firewall.hpp"
#include "netlink/netlink.hpp"
#include "netlink/owner.hpp"
#include "netlink/sysctl.hpp"
#include "plan/plan.hpp"
#include "sandbox/cgroup.hpp"
#include "sandbox/cgroup_layout.hpp"
#include "sys/error.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>

namespace moat::converge {

namespace {

constexpr std::uint32_t tunnel_tables_first = 0x6d740000, tunnel_tables_last = 0x6d74ffff;  // plan::tunnel_table
constexpr auto kill_timeout = std::chrono::seconds(5);

bool tunnel_table(std::uint32_t t) { return t >= tunnel_tables_first && t <= tunnel_tables_last; }

// One step; its failure is reported and the next still runs.
void step(gc_report& rep, const std::string& what, const std::function<void()>& fn) {
    try {
        fn();
    } catch (const std::exception& e) {
        rep.failed.push_back(what + ": " + e.what());
    }
}

// Deepest first: a cgroup with children cannot be removed.
void remove_cgroup_tree(const std::filesystem::path& dir) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        if (e.is_directory()) {
            remove_cgroup_tree(e.path());
        }
    }
    if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
        throw sys::errno_error("removing cgroup " + dir.string());
    }
}

void kill_cgroups_in(gc_report& rep, const std::string& mount, const std::filesystem::path& top) {
    std::string top_rel = top.string().substr(mount.size() + 1);
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(top, ec)) {
        if (!e.is_directory()) {
            continue;
        }
        std::string rel = top_rel + "/" + e.path().filename().string();
        step(rep, "cgroup " + rel, [&] {
            // cgroup.kill takes the whole subtree; then its directories go, deepest first.
            auto cg = sandbox::cgroup::create(e.path().string());
            if (cg) {
                cg->kill_all(kill_timeout);
            }
            remove_cgroup_tree(e.path());
            rep.removed.push_back("cgroup " + rel + " (its processes killed)");
        });
    }
    if (std::filesystem::exists(top, ec) && ::rmdir(top.c_str()) == 0) {
        rep.removed.push_back("cgroup " + top_rel);
    }
    if (top.parent_path() != std::filesystem::path(mount + "/moat")) {
        ::rmdir(top.parent_path().c_str());  // a delegated base's moat/, unless shared
    }
}

// Every moat/<instance> of the tree: the default one and those below a
// cgroup delegated to a `moat up --foreground` (sandbox/cgroup_layout.hpp).
void kill_cgroups(gc_report& rep, const std::string& instance) {
    auto mount = sandbox::cgroup_mount();
    if (!mount) {
        return;
    }
    for (const auto& top : sandbox::instance_cgroups(*mount, instance)) {
        kill_cgroups_in(rep, *mount, top);
    }
    ::rmdir((*mount + "/moat").c_str());  // fails while another instance has containers
}

void delete_links(gc_report& rep, const std::string& instance, const std::set<std::string>& recorded) {
    auto nl = netlink::socket::open();
    for (const auto& l : nl.links()) {
        auto owner = netlink::parse_owner_alias(l.alias);
        bool ours = owner && owner->instance == instance;
        if (!ours && !(l.alias.empty() && recorded.count(l.name))) {
            continue;
        }
        step(rep, "link " + l.name, [&] {
            auto d = nl.delete_link_if_owned(l.name, instance, true);
            if (d.what == netlink::owned_deletion::result::deleted) {
                rep.removed.push_back("link " + l.name + (owner ? " (" + owner->what + ")" : " (recorded, no mark)"));
            } else if (d.what == netlink::owned_deletion::result::kept) {
                rep.kept.push_back(d.reason);
            }
        });
    }
}

void remove_table(gc_report& rep, firewall::context& nft, const table_claim& claim) {
    if (!claim.exists()) {
        return;
    }
    if (!claim.ours) {
        rep.kept.push_back("table inet moat: " +
                           (claim.owner ? "it belongs to moat instance " + claim.owner->instance + " (state dir " +
                                              claim.owner->state_dir + ")"
                                        : std::string("it carries no claim and no record of this instance names it")));
        return;
    }
    nft.remove();
    rep.removed.push_back("table inet moat");
}

// moat's rules: 9999 fwmark <reply_mark> lookup main, and lookups into
// tunnel tables at 10000/10001; then every route of those tables.
void remove_routing(gc_report& rep) {
    auto nl = netlink::socket::open();
    std::set<std::uint32_t> tables;
    for (const auto& r : nl.rules()) {
        bool reply = r.priority == confined_rule_priority - 1 && r.fwmark == reply_mark && r.table == netlink::table_main;
        bool confine = (r.priority == confined_rule_priority || r.priority == plan::tunnel_address_rule_priority) &&
                       tunnel_table(r.table) && r.action == netlink::rule_action::to_table;
        if (!reply && !confine) {
            continue;
        }
        if (confine) {
            tables.insert(r.table);
        }
        step(rep, "rule " + r.str(), [&] {
            if (nl.delete_rule(r)) {
                rep.removed.push_back("rule " + r.str());
            }
        });
    }
    for (const auto& r : nl.routes(0)) {
        if (!tunnel_table(r.table)) {
            continue;
        }
        step(rep, "route " + r.str(), [&] {
            if (nl.delete_route(r)) {
                rep.removed.push_back("route " + r.str());
            }
        });
    }
}

// What the records name: stopped through them (also without cgroup v2),
// and their links without a mark (an older moat's) are this instance's.
std::set<std::string> stop_recorded(gc_report& rep, state::store& store) {
    std::set<std::string> links;
    for (const auto& r : store.containers()) {
        if (!r.host_if.empty()) {
            links.insert(r.host_if);
        }
        step(rep, "container " + r.name, [&] {
            container::stop(r, std::chrono::seconds(2));
            if (r.name == plan::tunnels_container) {
                remove_tunnel_devices(plan::plan_from_json(r.spec), container::instance_of(r));
            }
        });
    }
    for (const auto& [name, j] : store.host().networks) {
        links.insert(j.value("bridge_if", ""));
    }
    return links;
}

void forget_records(gc_report& rep, state::store& store) {
    auto host = store.host();
    // Not a structured binding: clang 14 (Debian 12's) cannot capture one in
    // a lambda (P1091R3 came in clang 16).
    for (const auto& entry : host.sysctls) {
        const auto& key = entry.first;
        const auto& original = entry.second;
        step(rep, "sysctl " + key, [&] {
            netlink::set_sysctl(key, original);
            rep.removed.push_back("sysctl " + key + " restored to " + original);
        });
    }
    step(rep, "state directory " + store.dir(), [&] {
        // Containers' directories only: an entry moat did not make stays.
        auto listing = store.scan();
        for (const auto& r : listing.records) {
            store.remove(r.name);
        }
        for (const auto& d : listing.damaged) {
            store.remove(d.name);
        }
        store.save_host({});  // empty: host.json goes
    });
}

}  // namespace

void check_collectable() {
    if (sandbox::cgroups_hidden()) {
        throw moat::error("nothing was collected: the containers' cgroups cannot be looked for from here, and "
                          "without them their processes cannot be found or stopped: " +
                          sandbox::cgroups_hidden_hint());
    }
}

gc_report collect(const std::string& instance, state::store* store) {
    check_collectable();
    gc_report rep;
    if (store) {  // a damaged host.json is rebuilt first, as `down` does (damage.hpp)
        step(rep, "host.json", [&] { repair_host(*store, store->scan().records); });
    }
    // Ownership of the namespace first, while the table still says whose it is.
    firewall::context nft;
    table_claim claim;
    step(rep, "reading table inet moat", [&] {
        claim = judge_claim(nft.current(), instance, store && store->host().nft_table);
    });
    std::set<std::string> recorded_links;
    if (store) {
        recorded_links = stop_recorded(rep, *store);
    }
    // Processes before their confinement: the firewall and the routing stay
    // until nothing of the instance runs.
    kill_cgroups(rep, instance);
    step(rep, "links", [&] { delete_links(rep, instance, recorded_links); });
    step(rep, "table inet moat", [&] { remove_table(rep, nft, claim); });
    if (claim.foreign()) {
        rep.kept.push_back("policy rules and tunnel tables: this network namespace is another instance's");
    } else {
        step(rep, "routing", [&] { remove_routing(rep); });
    }
    if (store) {
        forget_records(rep, *store);
    }
    return rep;
}

}  // namespace moat::converge
