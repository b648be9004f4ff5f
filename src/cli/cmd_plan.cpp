// moat plan: what `up` would make and what it would change, without
// changing anything (no lock needed: it only reads): bridges, links,
// addresses, routes, the host sysctls, and the nftables ruleset as a diff
// against what moat last committed.
#include "cli/commands.hpp"
#include "cli/load.hpp"
#include "container/runtime.hpp"
#include "converge/converge.hpp"
#include "converge/host.hpp"
#include "converge/routing.hpp"
#include "firewall/firewall.hpp"
#include "netlink/netlink.hpp"
#include "netlink/sysctl.hpp"
#include "plan/changes.hpp"
#include "plan/diff.hpp"
#include "state/store.hpp"

#include <sys/socket.h>

#include <cstdio>
#include <map>

namespace moat::cli {

namespace {

// "IPv4" or "IPv6": `family` (AF_*), else that of `addr`.
const char* family_name(int family, const std::optional<sys::ip_prefix>& addr) {
    if (family == 0 && addr) {
        family = addr->address.family;
    }
    return family == AF_INET6 ? "IPv6" : family == AF_INET ? "IPv4" : "?";
}

void print_network(const plan::network_plan& n, const std::string& change) {
    std::printf("network %s: %s\n", n.name.c_str(), change.c_str());
    std::printf("  link: bridge %s\n", n.bridge_if.c_str());
    for (const auto* gw : {&n.gateway, n.gateway6 ? &*n.gateway6 : nullptr}) {
        if (gw) {
            std::printf("  address %s: %s on %s\n", gw == &n.gateway ? "IPv4" : "IPv6", gw->str().c_str(),
                        n.bridge_if.c_str());
        }
    }
}

void print_addresses(const plan::container_plan& p) {
    for (const auto* pair : {&p.v4, &p.v6}) {
        if (!*pair) {
            continue;
        }
        const auto& ap = **pair;
        const char* family = pair == &p.v4 ? "IPv4" : "IPv6";
        if (p.bridge_if.empty()) {
            std::printf("  address %s: %s on %s%s\n", family, ap.host.str().c_str(), p.host_if.c_str(),
                        ap.point_to_point ? (" peer " + ap.local.address.str()).c_str() : "");
        }
        std::printf("  address %s: %s on eth0%s (container)\n", family, ap.local.str().c_str(),
                    ap.point_to_point ? (" peer " + ap.host.address.str()).c_str() : "");
        std::printf("  route %s: default via %s dev eth0 (container)\n", family, ap.host.address.str().c_str());
    }
}

void print_container(const plan::container_plan& p, const std::string& change) {
    std::printf("container %s: %s\n", p.name.c_str(), change.c_str());
    if (!p.private_network) {
        std::printf("  network: the host's\n");
        return;
    }
    if (p.host_if.empty()) {
        std::printf("  network: own namespace, loopback only\n");
        return;
    }
    std::printf("  link: veth %s (host%s) <-> eth0 (container)\n", p.host_if.c_str(),
                p.bridge_if.empty() ? "" : (", port of " + p.bridge_if).c_str());
    print_addresses(p);
    std::string way = p.egress == "nat" ? (p.uplink.empty() ? " (no uplink: nothing leaves)" : " out of " + p.uplink) : "";
    std::printf("  egress: %s%s\n", plan::egress_label(p).c_str(), way.c_str());
    for (const auto& f : p.forwards) {
        std::printf("  forward: %s %s:%u -> %u\n", f.protocol.c_str(),
                    f.host_address ? f.host_address->str().c_str() : "*", f.host_port, f.container_port);
    }
}

// The containers that run after `up`, printing each one's change; returns the number of changes.
int plan_containers(const loaded_plans& loaded, const std::vector<std::string>& names, state::store& store,
                    std::vector<plan::container_plan>& after) {
    std::map<std::string, state::container_record> existing;
    auto listing = store.scan();
    for (auto& r : listing.records) {
        existing.emplace(r.name, std::move(r));
    }
    std::map<std::string, std::string> damaged;
    for (const auto& d : listing.damaged) {
        damaged.emplace(d.name, d.file + " is damaged");
    }
    int changes = 0;
    for (const auto& p : loaded.plans) {
        auto it = existing.find(p.name);
        std::string change = "create";
        if (auto d = damaged.find(p.name); d != damaged.end()) {
            change = "repair (" + d->second + ")";
            damaged.erase(d);
        } else if (it != existing.end()) {
            bool alive = container::running(it->second);
            auto why = plan::changed_parts(it->second.spec, p);
            change = !alive ? "repair (not running)"
                     : it->second.config_hash == plan::hash(p) ? "unchanged"
                                                                : "recreate (" + (why.empty() ? "definition changed" : why) + ")";
            existing.erase(it);
        }
        changes += change != "unchanged";
        print_container(p, change);
        after.push_back(p);
    }
    for (const auto& [name, rec] : existing) {
        // As `up` decides (converge.hpp): only this file's containers it no longer declares.
        if (names.empty() && rec.origin == "file" && rec.source == loaded.source && !loaded.declared.count(name)) {
            std::printf("container %s: remove (no longer in %s)\n", name.c_str(), loaded.source.c_str());
            ++changes;
        } else if (container::running(rec)) {
            after.push_back(plan::plan_from_json(rec.spec));
        }
    }
    for (const auto& [name, why] : damaged) {
        std::printf("container %s: stop (%s; `moat down %s` removes it)\n", name.c_str(), why.c_str(), name.c_str());
        ++changes;
    }
    return changes;
}

int plan_networks(const loaded_plans& loaded, const state::host_record& host) {
    int changes = 0;
    auto nl = netlink::socket::open();
    std::map<std::string, nlohmann::json> recorded = host.networks;
    for (const auto& n : loaded.networks) {
        auto it = recorded.find(n.name);
        std::string change = "create";
        if (it != recorded.end()) {
            change = !(plan::network_from_json(it->second) == n) ? "recreate (subnet changed)"
                     : nl.link_index(n.bridge_if)                  ? "unchanged"
                                                                   : "repair (bridge missing)";
            recorded.erase(it);
        }
        changes += change != "unchanged";
        print_network(n, change);
    }
    if (loaded.plans.size() && !recorded.empty()) {
        for (const auto& [name, j] : recorded) {
            std::printf("network %s: kept or removed with its remaining members\n", name.c_str());
        }
    }
    return changes;
}

int plan_sysctls(const std::vector<plan::container_plan>& after, const state::host_record& host) {
    int changes = 0;
    auto needed = converge::needed_sysctls(after);
    for (const auto& key : needed) {
        std::string now;
        try {
            now = netlink::get_sysctl(key);
        } catch (const std::exception& e) {
            now = std::string("unreadable: ") + e.what();
        }
        changes += now != "1";
        std::printf("sysctl %s = 1 (now %s)\n", key.c_str(), now.c_str());
    }
    for (const auto& [key, original] : host.sysctls) {
        if (!needed.count(key)) {
            std::printf("sysctl %s = %s (restored)\n", key.c_str(), original.c_str());
            ++changes;
        }
    }
    return changes;
}

int plan_routing(const std::vector<plan::container_plan>& after, const state::host_record& host) {
    auto rp = converge::routing_for(after);
    // A rule or route of each family may read the same ("from all iif
    // ve-c lookup 7", "unreachable default table 7"): the family tells them apart.
    for (const auto& r : rp.rules) {
        std::printf("rule %s: %s\n", family_name(r.family, r.from ? r.from : r.to), r.str().c_str());
    }
    for (const auto& r : rp.routes) {
        auto addr = r.destination ? r.destination->address : r.gateway ? *r.gateway : r.source ? *r.source : sys::ip_address{};
        std::printf("route %s: %s\n", family_name(r.family ? r.family : addr.family, std::nullopt), r.str().c_str());
    }
    bool same = rp.routes.size() == host.routes.size() && rp.rules.size() == host.rules.size();
    return same ? 0 : 1;
}

int plan_firewall(const std::vector<plan::container_plan>& after, const state::host_record& host) {
    auto spec = converge::firewall_spec(after);
    std::string script = spec.endpoints.empty() ? "" : firewall::render(spec);
    std::string before = host.nft_table ? host.nft_ruleset : "";
    if (script == before) {
        std::printf("\nnftables (table inet moat): unchanged\n%s", script.c_str());
        return 0;
    }
    std::printf("\nnftables (table inet moat): %s\n", script.empty() ? "delete" : before.empty() ? "create" : "replace");
    for (const auto& line : plan::diff_lines(before, script)) {
        std::printf("%s\n", line.c_str());
    }
    return 1;
}

}  // namespace

int cmd_plan(const globals& g, const up_args& a) {
    // Read-only: a missing state dir is not created (it reads as empty).
    state::store store(g.state_dir);
    store.exists();  // refuses a state dir others could write
    auto loaded = load_plans(a.file, a.names, store, false);
    auto reading = store.read_host();
    if (!reading.problem.empty()) {
        std::fprintf(stderr, "moat: warning: host.json is damaged (%s): planning from what is readable\n",
                     reading.problem.c_str());
    }
    const auto& host = reading.record;
    std::vector<plan::container_plan> after;
    int changes = plan_networks(loaded, host);
    changes += plan_containers(loaded, a.names, store, after);
    changes += plan_sysctls(after, host);
    changes += plan_routing(after, host);
    changes += plan_firewall(after, host);
    std::printf("\n%d change%s\n", changes, changes == 1 ? "" : "s");
    return 0;
}

}  // namespace moat::cli
