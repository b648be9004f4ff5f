#include "cli/load.hpp"

#include "config/loader.hpp"
#include "container/runtime.hpp"
#include "converge/host.hpp"
#include "plan/pipes.hpp"
#include "plan/tunnel.hpp"
#include "sys/error.hpp"
#include "tunnel/tun_device.hpp"

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
        if (!p.tunnel.empty()) {
            ctx.running_tunnels.insert(p.tunnel);
        }
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
    out.plans = std::move(planned.containers);
    out.networks = std::move(planned.networks);
    // Pipes run the moat binary itself (`moat pipe ... -F`).
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        throw sys::errno_error("finding moat's own binary");
    }
    std::string moat_exe(exe, static_cast<size_t>(n));
    out.tunnels = plan::plan_tunnels(model, out.plans, moat_exe, ctx.running_tunnels);
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
    for (const auto& t : model.tunnels) {
        out.secrets.push_back(t.config_path);
    }
    plan::plan_pipes(model, out.plans, moat_exe, names.empty());
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
