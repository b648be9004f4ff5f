#include "cni/tunnels.hpp"

#include "cni/pod.hpp"
#include "config/loader.hpp"
#include "container/runtime.hpp"
#include "converge/converge.hpp"
#include "converge/host_context.hpp"
#include "plan/tunnel.hpp"
#include "plan/tunnel_checks.hpp"
#include "sys/process.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <utility>
#include <vector>

namespace moat::cni {
namespace {

struct moat_file {
    std::string path;  // absolute: how the record of `_tunnels` names its source
    config::model model;
};

// The moatConfig file, checked as `moat up` checks it, and the tunnel the
// pod names in it.
moat_file load_moat_config(const netconf& nc) {
    std::error_code ec;
    moat_file f{std::filesystem::absolute(nc.moat_config, ec).string(), {}};
    try {
        f.model = config::load_file(nc.moat_config);
        config::validate(f.model);
        const auto* t = f.model.find_tunnel(nc.tunnel);
        if (!t) {
            throw usage_error(nc.moat_config + ": no [tunnels." + nc.tunnel + "]");
        }
        plan::refuse_unsupported(*t);
    } catch (const usage_error& e) {
        throw error(code::invalid_config, "\"moatConfig\": " + std::string(e.what()));
    }
    return f;
}

std::optional<state::container_record> running_tunnels(const state::store& st) {
    auto rec = st.load(plan::tunnels_container);
    if (rec && container::running(*rec)) {
        return rec;
    }
    return std::nullopt;
}

void confine_to(plan::container_plan& pod, const plan::tunnel_plan& t) {
    pod.egress = "vpn";
    pod.tunnel = t.name;
    pod.tunnel_if = t.device;
    if (pod.dns.empty()) {
        pod.dns = t.dns;
        pod.dns_search = t.dns_search;
    }
}

// `_tunnels` runs from another file: its tunnels may be used as they are.
void use_foreign(const state::container_record& rec, const netconf& nc, plan::container_plan& pod) {
    for (const auto& t : plan::tunnels_served(plan::plan_from_json(rec.spec))) {
        if (t.name == nc.tunnel) {
            confine_to(pod, t);
            return;
        }
    }
    throw error(code::invalid_config, "the tunnels of " + nc.state_dir + " are run from " + rec.source +
                                          ", which does not run tunnel " + nc.tunnel +
                                          ": name that file as \"moatConfig\", or use another \"stateDir\"");
}

}  // namespace

void confine_pod(state::store& st, const netconf& nc, plan::container_plan& pod) {
    auto file = load_moat_config(nc);
    std::set<std::string> serving;
    if (auto rec = running_tunnels(st)) {
        if (rec->source != file.path) {
            use_foreign(*rec, nc, pod);
            return;
        }
        for (const auto& t : plan::tunnels_served(plan::plan_from_json(rec->spec))) {
            serving.insert(t.name);
        }
    }
    std::vector<plan::container_plan> plans{pod};
    plans[0].egress = "vpn:" + nc.tunnel;
    std::vector<plan::tunnel_plan> tunnels;
    try {
        tunnels = plan::plan_tunnels(file.model, plans, sys::own_executable(), serving, st.dir());
        auto ctx = converge::host_context_of(st);
        plan::check_tunnel_addresses(tunnels, ctx, {network_plan_of(nc)}, plans);
    } catch (const usage_error& e) {
        throw error(code::invalid_config, "\"moatConfig\": " + std::string(e.what()));
    }
    pod = plans[0];
    // `moat check` on the node probes the pod as [check] of the file says.
    if (file.model.check && pod.probes.empty()) {
        pod.probes = file.model.check->probes;
        pod.on_failure = file.model.check->on_failure.value_or("");
    }
    converge::mark_tunnel_owner(plans, st.instance_id());
    converge::up_options opts;
    opts.source = file.path;
    opts.remove_orphans = false;
    opts.secrets = plan::tunnel_secret_files(file.model);
    plan::host_plan hp;
    hp.containers.push_back(std::move(plans[1]));
    converge::up(st, hp, opts);
}

void stop_unused_tunnels(state::store& st) {
    auto rec = running_tunnels(st);
    if (!rec) {
        return;
    }
    std::set<std::string> served;
    for (const auto& t : plan::tunnels_served(plan::plan_from_json(rec->spec))) {
        served.insert(t.name);
    }
    for (const auto& r : st.containers()) {
        if (r.name != plan::tunnels_container && container::running(r) &&
            served.count(plan::plan_from_json(r.spec).tunnel)) {
            return;
        }
    }
    for (const auto& [name, j] : st.host().networks) {  // keepWhenIdle keeps its network's tunnel too
        if (served.count(plan::network_from_json(j).keep_tunnel)) {
            return;
        }
    }
    converge::down(st, {plan::tunnels_container});
}

}  // namespace moat::cni
