#include "cli/load.hpp"

#include "config/loader.hpp"
#include "container/runtime.hpp"
#include "converge/claim.hpp"
#include "converge/host.hpp"
#include "converge/host_context.hpp"
#include "converge/ports.hpp"
#include "netlink/netlink.hpp"
#include "plan/host_checks.hpp"
#include "plan/tunnel_checks.hpp"
#include "plan/pipes.hpp"
#include "plan/tunnel.hpp"
#include "sys/error.hpp"
#include "sys/process.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

namespace moat::cli {

namespace {

loaded_plans load_and_plan(const std::string& file, const std::vector<std::string>& names, const state::store& store) {
    auto model = config::load_file(file);
    for (const auto& n : model.notices) {
        std::fprintf(stderr, "moat: note: %s\n", n.c_str());
    }
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
        plan::refuse_unsupported(t);
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
    auto ctx = converge::host_context_of(store);
    ctx.source = out.source;
    ctx.whole_file = names.empty();
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
    // Another instance's namespace is the clearest reason of all: said first.
    converge::claim_network_namespace(store, planned);
    // Against the host and what else runs: the lock is held (cmd_up), so
    // nothing changes between this check and `up` acting on it.
    plan::check_host(model, planned, ctx);
    out.plans = std::move(planned.containers);
    for (const auto& c : model.containers) {
        out.declared.insert(c.name);
    }
    out.networks = std::move(planned.networks);
    // Pipes run the moat binary itself (`moat pipe ... -F`).
    std::string moat_exe = sys::own_executable();
    out.tunnels = plan::plan_tunnels(model, out.plans, moat_exe, ctx.running_tunnels, store.dir());
    plan::check_tunnel_addresses(out.tunnels, ctx, out.networks, out.plans);
    converge::mark_tunnel_owner(out.plans, store.instance_id());
    for (const auto& p : model.pipes) {
        out.secrets.push_back(p.key_file);
    }
    // The tunnels' configs, the files they name and their credentials:
    // masked in every container (`_tunnels` binds back what its runners read).
    for (auto& f : plan::tunnel_secret_files(model)) {
        out.secrets.push_back(std::move(f));
    }
    plan::plan_pipes(model, out.plans, moat_exe, names.empty());
    // Last, with every plan made: a port a host service holds is refused here.
    if (auto busy = converge::busy_host_ports(model, out.plans, store); !busy.empty()) {
        throw config::config_error(std::move(busy));
    }
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
