// moat plan: what `up` would make and what it would change, without
// changing anything (no lock needed: it only reads).
#include "cli/commands.hpp"
#include "cli/load.hpp"
#include "container/runtime.hpp"
#include "converge/converge.hpp"
#include "state/store.hpp"
#include "sys/fs.hpp"

#include <cstdio>
#include <map>

namespace moat::cli {

namespace {

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
    std::printf("  link: veth %s (host) <-> eth0 (container)\n", p.host_if.c_str());
    for (const auto* pair : {&p.v4, &p.v6}) {
        if (!*pair) {
            continue;
        }
        const auto& ap = **pair;
        std::printf("  address: %s on %s%s\n", ap.host.str().c_str(), p.host_if.c_str(),
                    ap.point_to_point ? (" peer " + ap.local.address.str()).c_str() : "");
        std::printf("  address: %s on eth0%s (container)\n", ap.local.str().c_str(),
                    ap.point_to_point ? (" peer " + ap.host.address.str()).c_str() : "");
        std::printf("  route: default via %s dev eth0 (container)\n", ap.host.address.str().c_str());
    }
}

}  // namespace

int cmd_plan(const globals& g, const up_args& a) {
    state::store store(g.state_dir);
    auto loaded = load_plans(a.file, a.names, store);
    std::map<std::string, state::container_record> existing;
    for (auto& r : store.containers()) {
        existing.emplace(r.name, std::move(r));
    }
    std::vector<plan::container_plan> after;
    int changes = 0;
    for (const auto& p : loaded.plans) {
        auto it = existing.find(p.name);
        std::string change = "create";
        if (it != existing.end()) {
            bool alive = container::running(it->second);
            change = !alive ? "repair (not running)" : it->second.config_hash == plan::hash(p) ? "unchanged" : "recreate (definition changed)";
            existing.erase(it);
        }
        changes += change != "unchanged";
        print_container(p, change);
        after.push_back(p);
    }
    for (const auto& [name, rec] : existing) {
        if (a.names.empty() && rec.origin == "file") {
            std::printf("container %s: remove (no longer in the file)\n", name.c_str());
            ++changes;
        } else if (container::running(rec)) {
            after.push_back(plan::plan_from_json(rec.spec));
        }
    }
    auto spec = converge::firewall_spec(after);
    std::string script = spec.endpoints.empty() ? "" : firewall::render(spec);
    auto host = store.host();
    bool fw_change = script != (host.nft_table ? host.nft_ruleset : "");
    changes += fw_change;
    std::printf("\nnftables (table inet moat): %s\n", fw_change ? (script.empty() ? "delete" : "replace") : "unchanged");
    if (!script.empty()) {
        std::printf("%s", script.c_str());
    }
    std::printf("\n%d change%s\n", changes, changes == 1 ? "" : "s");
    return 0;
}

}  // namespace moat::cli
