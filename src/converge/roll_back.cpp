// Roll back of a failed `up` (detail.hpp).
#include "converge/converge.hpp"
#include "converge/damage.hpp"
#include "converge/detail.hpp"
#include "converge/host.hpp"

#include <cstdio>
#include <optional>
#include <set>

namespace moat::converge::detail {

namespace {

// Reports a failure of the roll back (the exception being handled) and
// goes on: what failed stays recorded, and a later `down` finishes it.
void roll_back_failed(const std::string& what) {
    try {
        throw;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: error: rolling back: %s: %s\n", what.c_str(), e.what());
    } catch (...) {
        std::fprintf(stderr, "moat: error: rolling back: %s: unknown error\n", what.c_str());
    }
}

// What a container this run began to start may have made: the pending
// record, else what prepare() saved before it failed, else nothing.
std::optional<state::container_record> started_record(const state::store& store,
                                                      const std::vector<container::pending>& pend,
                                                      const std::string& name) {
    for (const auto& pd : pend) {
        if (pd.record.name == name) {
            return pd.record;
        }
    }
    auto l = store.scan();
    for (const auto& r : l.records) {
        if (r.name == name) {
            return r;
        }
    }
    for (const auto& dmg : l.damaged) {
        if (dmg.name == name) {
            return implied_record(store, dmg);
        }
    }
    return std::nullopt;
}

}  // namespace

void roll_back(state::store& store, std::vector<container::pending>& pend, const std::vector<std::string>& attempted,
               std::vector<plan::container_plan>& keep) {
    std::set<std::string> failed(attempted.begin(), attempted.end()), stopped;
    for (const auto& name : failed) {
        try {
            if (auto rec = started_record(store, pend, name)) {
                stop_container(*rec, std::chrono::seconds(2));
            }
            stopped.insert(name);
        } catch (...) {
            roll_back_failed("stopping container " + name);
        }
    }
    std::vector<plan::container_plan> survivors;
    for (auto& p : keep) {
        if (!failed.count(p.name)) {
            survivors.push_back(std::move(p));
        }
    }
    try {
        sync_firewall(store, survivors);
    } catch (...) {
        roll_back_failed("restoring the firewall");
    }
    try {
        sync_networks(store, networks_for(store, survivors, {}));
    } catch (...) {
        roll_back_failed("removing the networks no container needs");
    }
    for (const auto& name : stopped) {
        try {
            store.remove(name);
        } catch (...) {
            roll_back_failed("removing the record of " + name);
        }
    }
}

}  // namespace moat::converge::detail
