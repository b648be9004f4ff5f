#include "cli/load.hpp"

#include "config/loader.hpp"
#include "container/runtime.hpp"
#include "converge/host.hpp"
#include "plan/pipes.hpp"
#include "sys/error.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

namespace moat::cli {

plan::host_context host_context_of(const state::store& store) {
    plan::host_context ctx;
    ctx.default_uplink = converge::default_uplink();
    for (const auto& r : store.containers()) {
        if (!container::running(r)) {
            continue;
        }
        auto p = plan::plan_from_json(r.spec);
        for (const auto* pair : {&p.v4, &p.v6}) {
            if (*pair && !p.network.empty()) {
                ctx.previous[p.name].push_back((*pair)->local.address);
            }
        }
    }
    return ctx;
}

namespace {

loaded_plans load_and_plan(const std::string& file, const std::vector<std::string>& names, const state::store& store) {
    auto model = config::load_file(file);
    config::validate(model);
    // Features land issue by issue; until then their keys are refused, never ignored.
    config::feature_set implemented;
    implemented.pipes = true;
    implemented.networks = true;
    implemented.nat = true;
    implemented.forward_ports = true;
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
    auto planned = plan::plan_host(model, selected, host_context_of(store));
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
    out.plans = std::move(planned.containers);
    out.networks = std::move(planned.networks);
    // Pipes run the moat binary itself (`moat pipe ... -F`).
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        throw sys::errno_error("finding moat's own binary");
    }
    plan::plan_pipes(model, out.plans, std::string(exe, static_cast<size_t>(n)), names.empty());
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
