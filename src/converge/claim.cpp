#include "converge/claim.hpp"

#include "sandbox/cgroup.hpp"
#include "sandbox/cgroup_layout.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

#include <filesystem>
#include <set>

namespace moat::converge {

firewall::claim own_claim(const state::store& store) { return {store.instance_id(), store.dir()}; }

table_claim judge_comment(const std::optional<std::optional<std::string>>& comment, const std::string& instance,
                          bool recorded) {
    table_claim c;
    c.present = comment.has_value();
    if (!c.present) {
        return c;
    }
    if (*comment) {
        c.owner = firewall::parse_claim(**comment);
    }
    c.ours = c.owner ? c.owner->instance == instance : recorded;
    return c;
}

table_claim judge_claim(std::optional<std::string> listing, const std::string& instance, bool recorded) {
    std::optional<std::optional<std::string>> comment;
    if (listing) {
        comment = firewall::listing_comment(*listing);
    }
    return judge_comment(comment, instance, recorded);
}

table_claim read_claim(const state::store& store) {
    return judge_comment(firewall::table_comment(), store.instance_id(), store.host().nft_table);
}

std::string foreign_table_message(const table_claim& c, const state::store& store) {
    if (!c.owner) {
        return "this network namespace has a table inet moat that " + store.dir() +
               " did not make (a moat older than instance claims, or someone else): use the state directory "
               "that made it, or its `down`; moat will not replace or delete it";
    }
    const auto& dir = c.owner->state_dir;
    std::string msg = "network namespace already managed by moat instance " + c.owner->instance + " (state dir " +
                      dir + "); use that --state-dir, or `moat --state-dir " + dir + " down`";
    if (dir.rfind("...", 0) != 0 && !sys::path_exists(dir)) {
        msg += "; its state directory is gone: `moat --state-dir " + dir + " gc` removes what it left";
    }
    return msg;
}

namespace {

bool needs_namespace(const plan::host_plan& plan) {
    if (!plan.networks.empty()) {
        return true;
    }
    for (const auto& p : plan.containers) {
        if (!p.host_if.empty()) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::set<std::string> unrecorded_containers(const state::store& store) {
    return unrecorded_containers(store, store.scan());
}

std::set<std::string> unrecorded_containers(const state::store& store, const state::listing& listing) {
    std::set<std::string> out;
    auto mount = sandbox::cgroup_mount();
    if (!mount) {
        return out;
    }
    // A damaged record still names its container (converge/damage.hpp).
    std::set<std::string> recorded;
    for (const auto& r : listing.records) {
        recorded.insert(r.name);
    }
    for (const auto& d : listing.damaged) {
        recorded.insert(d.name);
    }
    std::error_code ec;
    for (const auto& top : sandbox::instance_cgroups(*mount, store.instance_id())) {
        for (const auto& e : std::filesystem::directory_iterator(top, ec)) {
            auto name = e.path().filename().string();
            if (e.is_directory() && !recorded.count(name)) {
                out.insert(name);
            }
        }
    }
    return out;
}

void claim_network_namespace(const state::store& store, const plan::host_plan& plan) {
    claim_network_namespace(store, plan, store.scan());
}

void claim_network_namespace(const state::store& store, const plan::host_plan& plan, const state::listing& listing) {
    std::string gc = "`moat --state-dir " + store.dir() + " gc` stops and removes them first";
    auto orphans = unrecorded_containers(store, listing);
    if (!orphans.empty()) {
        std::string names;
        for (const auto& n : orphans) {
            names += (names.empty() ? "" : ", ") + n;
        }
        throw usage_error("moat instance " + store.instance_id() + " has containers that " + store.dir() +
                          " does not record (" + names + "; was the state directory deleted?): " + gc);
    }
    if (!needs_namespace(plan)) {
        return;
    }
    auto c = read_claim(store);
    if (c.foreign()) {
        throw usage_error(foreign_table_message(c, store));
    }
    if (c.exists() && c.owner && !store.host().nft_table) {
        throw usage_error("this network namespace has a table inet moat of this instance (" + store.instance_id() +
                          ") that " + store.dir() + " does not record (was the state directory deleted?): " + gc);
    }
}

}  // namespace moat::converge
