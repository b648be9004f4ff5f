// moat up / down / plan: load and check the whole file before touching
// anything (bad input exits 2 with nothing changed), then converge; `up`
// then waits until its tunnels pass traffic (converge/tunnel_wait.hpp) and
// exits 1 with the daemon's reason when one does not, everything applied.
#include "cli/commands.hpp"
#include "cli/load.hpp"
#include "container/fork_server.hpp"
#include "container/runtime.hpp"
#include "converge/claim.hpp"
#include "converge/converge.hpp"
#include "converge/gc.hpp"
#include "converge/tunnel_wait.hpp"
#include "plan/tunnel.hpp"
#include "sandbox/cgroup.hpp"
#include "state/store.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <filesystem>

namespace moat::cli {

namespace {

converge::progress_fn printer(const globals& g) {
    if (g.quiet) {
        return {};
    }
    return [](const std::string& step, std::chrono::microseconds took) {
        std::fprintf(stderr, "  %-60s %8.1f ms\n", step.c_str(), took.count() / 1000.0);
    };
}

// "ports tcp/80 udp/53" (allowed ports), then "forwards tcp/8080->80
// tcp/127.0.0.1:2222->22" (host port -> container port); "ports -" if neither.
std::string ports_text(const plan::container_plan& p) {
    std::string ports, forwards;
    auto add = [](std::string& to, const std::string& what) { to += (to.empty() ? "" : " ") + what; };
    for (auto port : p.tcp_ports) {
        add(ports, "tcp/" + std::to_string(port));
    }
    for (auto port : p.udp_ports) {
        add(ports, "udp/" + std::to_string(port));
    }
    for (const auto& f : p.forwards) {
        std::string host = f.host_address ? (f.host_address->is_v6() ? "[" + f.host_address->str() + "]" : f.host_address->str()) + ":" : "";
        add(forwards, f.protocol + "/" + host + std::to_string(f.host_port) + "->" + std::to_string(f.container_port));
    }
    if (ports.empty() && forwards.empty()) {
        return "ports -";
    }
    return (ports.empty() ? "" : "ports " + ports) + (ports.empty() || forwards.empty() ? "" : "  ") +
           (forwards.empty() ? "" : "forwards " + forwards);
}

void print_summary(const std::vector<plan::container_plan>& plans, const converge::report& rep) {
    for (const auto& a : rep.actions) {
        std::printf("%-20s %s\n", a.container.c_str(), a.what.c_str());
    }
    for (const auto& p : plans) {
        std::string addr = p.v4 ? p.v4->local.address.str() : (p.private_network ? "-" : "host network");
        if (p.v6) {
            addr += " " + p.v6->local.address.str();
        }
        std::printf("  %-18s %-28s egress %-6s %s\n", p.name.c_str(), addr.c_str(), plan::egress_label(p).c_str(),
                    ports_text(p).c_str());
    }
    if (!rep.changed()) {
        std::printf("no changes\n");
    }
}

// 0 when every tunnel the selected containers use passes traffic within
// the wait (or there is no wait), else 1 with each failure told.
int wait_for_tunnels(const globals& g, const up_args& a, const state::store& store,
                     const std::vector<plan::tunnel_plan>& tunnels) {
    if (a.wait_seconds <= 0 || tunnels.empty()) {
        return 0;
    }
    converge::tunnel_wait_options o;
    o.limit = std::chrono::seconds(a.wait_seconds);
    if (!g.quiet) {
        o.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    }
    auto failed = converge::wait_for_tunnels(store, tunnels, o);
    for (const auto& f : failed) {
        std::fprintf(stderr, "moat: error: %s\n", f.message().c_str());
    }
    return failed.empty() ? 0 : 1;
}

}  // namespace

int cmd_up(const globals& g, const up_args& a) {
    state::store store(g.state_dir);
    std::vector<plan::tunnel_plan> tunnels;
    {
        // First, so that it has started by the first init's request: the
        // inits are cloned from this quiet moat process, not from the CLI
        // once it has built plans, JSON and caches (container/fork_server.hpp,
        // issue 17).
        container::fork_server forks;
        auto lock = store.lock();
        auto loaded = load_plans(a.file, a.names, store, lock.created());
        // The directories of forwarded ports, before the binds that need them.
        for (const auto& t : loaded.tunnels) {
            if (t.forwarding) {
                plan::make_forwarding_dir(*t.forwarding);
            }
        }
        converge::up_options opts;
        opts.source = loaded.source;
        opts.remove_orphans = a.names.empty();
        opts.declared = loaded.declared;
        for (const auto& p : loaded.plans) {
            opts.declared.insert(p.name);  // moat's internal `_pipes` and `_tunnels`
        }
        opts.secrets = loaded.secrets;
        opts.progress = printer(g);
        opts.forks = &forks;
        converge::report rep;
        try {
            rep = converge::up(store, {loaded.networks, loaded.plans}, opts);
        } catch (...) {
            store.remove_if_empty();  // a first `up` that failed was rolled back: no state dir either
            throw;
        }
        if (!g.quiet) {
            print_summary(loaded.plans, rep);
            std::fflush(stdout);
        }
        tunnels = std::move(loaded.tunnels);
    }
    // Without the lock: a `down` or another `up` need not wait for a tunnel.
    return wait_for_tunnels(g, a, store, tunnels);
}

namespace {

// After a whole `down` nothing of this instance may stay, even what a lost
// or damaged host.json no longer names (a bridge, the table, the rules into
// tunnel tables): with no record left, what still carries this instance's
// mark is collected as `gc` would (converge/gc.hpp). 1 if a step failed.
int sweep(state::store& store, bool quiet) {
    auto left = store.scan();
    if (!left.records.empty() || !left.damaged.empty()) {
        return 0;
    }
    // `down` itself refused any record it could not remove from here; what
    // no record names cannot be looked for, which `gc` through nsenter does.
    if (sandbox::cgroups_hidden()) {
        if (!quiet) {
            std::fprintf(stderr, "moat: note: not looking for containers this instance did not record (`moat gc` does): %s\n",
                         sandbox::cgroups_hidden_hint().c_str());
        }
        return 0;
    }
    auto rep = converge::collect(store.instance_id(), &store);
    for (const auto& r : rep.removed) {
        if (!quiet) {
            std::printf("%-20s removed (not recorded; found by this instance's mark)\n", r.c_str());
        }
    }
    for (const auto& f : rep.failed) {
        std::fprintf(stderr, "moat: error: %s\n", f.c_str());
    }
    return rep.failed.empty() ? 0 : 1;
}

// `down -f FILE` keeps the file's `_tunnels` while a running container that
// is not being removed — a `moat run --egress vpn:NAME` — is confined to one
// of its tunnels: taking the tunnel away would not leak (that container's
// rule and chain stay, and fail closed), but would cut a command someone is
// running off the network. Said on stderr; `down -f FILE` again after it
// ended, or `down _tunnels` by name, removes it. Returns `names` less what
// is kept.
std::vector<std::string> keep_used_tunnels(const state::store& store, std::vector<std::string> names) {
    auto at = std::find(names.begin(), names.end(), plan::tunnels_container);
    if (at == names.end()) {
        return names;
    }
    auto records = store.containers();
    std::set<std::string> served;
    for (const auto& r : records) {
        if (r.name == plan::tunnels_container) {
            for (const auto& t : plan::tunnels_served(plan::plan_from_json(r.spec))) {
                served.insert(t.name);
            }
        }
    }
    std::string users;
    for (const auto& r : records) {
        if (std::find(names.begin(), names.end(), r.name) != names.end() || !container::running(r)) {
            continue;
        }
        auto p = plan::plan_from_json(r.spec);
        if (p.egress == "vpn" && served.count(p.tunnel)) {
            users += (users.empty() ? "" : ", ") + r.name + " (tunnel " + p.tunnel + ", " +
                     (r.origin == "run" ? std::string("moat run") : r.source) + ")";
        }
    }
    if (!users.empty()) {
        std::fprintf(stderr, "moat: note: kept %s: its tunnels are in use by %s; `moat down -f` this file again "
                     "once that has ended, or `moat down %s` to cut it off now (it keeps no egress then)\n",
                     plan::tunnels_container, users.c_str(), plan::tunnels_container);
        names.erase(at);
    }
    return names;
}

}  // namespace

int cmd_down(const globals& g, const up_args& a) {
    std::vector<std::string> names = a.names;
    state::store store(g.state_dir);
    // Held to the end, the state dir's removal included (state/store.hpp).
    auto lock = store.lock_existing();
    converge::report rep;
    if (!lock.held()) {
        // No state dir: nothing recorded, so nothing of this instance to remove.
    } else if (a.file_given && names.empty()) {
        // Only what that file brought up; other files' containers and
        // `moat run` ones stay.
        std::error_code ec;
        std::string source = a.file == "-" ? "<stdin>" : std::filesystem::absolute(a.file, ec).string();
        for (const auto& r : store.containers()) {
            if (r.origin == "file" && r.source == source) {
                names.push_back(r.name);
            }
        }
        names = keep_used_tunnels(store, names);
        if (!names.empty()) {
            rep = converge::down(store, names, printer(g));
        }
    } else {
        rep = converge::down(store, names, printer(g));
    }
    if (!g.quiet) {
        for (const auto& act : rep.actions) {
            std::printf("%-20s %s\n", act.container.c_str(), act.what.c_str());
        }
        if (rep.actions.empty()) {
            std::printf("nothing to remove\n");
        }
    }
    int rc = 0;
    if (lock.held() && names.empty() && !a.file_given) {
        rc = sweep(store, g.quiet);
    }
    // `down` goes by the records; what the kernel holds of this instance
    // without one (the state directory was deleted) is gc's.
    if (auto lost = converge::unrecorded_containers(store); !lost.empty()) {
        std::string list;
        for (const auto& n : lost) {
            list += (list.empty() ? "" : ", ") + n;
        }
        std::fprintf(stderr, "moat: note: containers of this instance that %s does not record still run (%s): "
                     "`moat --state-dir %s gc` removes them\n", store.dir().c_str(), list.c_str(), store.dir().c_str());
    }
    if (lock.held()) {
        store.remove_if_empty();
    }
    return rc;
}

}  // namespace moat::cli
