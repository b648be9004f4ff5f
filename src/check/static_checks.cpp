// The static half of `moat check`: what moat made is still there.
#include "check/detail.hpp"

#include "container/runtime.hpp"

#include <unistd.h>
#include "converge/host.hpp"
#include "converge/routing.hpp"
#include "netlink/netlink.hpp"
#include "netlink/sysctl.hpp"
#include "plan/tunnel.hpp"
#include "sys/unique_fd.hpp"
#include "tunnel/health.hpp"

#include <fcntl.h>

#include <algorithm>

namespace moat::check::detail {

namespace {

void services(const state::store& store, const plan::container_plan& p, std::vector<finding>& out) {
    std::string bad, seen;
    const nlohmann::json all = store.services(p.name);
    for (const auto& [name, s] : all.items()) {
        std::string state = s.value("state", "?");
        std::string last = s["last_exit"].is_string() ? s["last_exit"].get<std::string>() : "";
        seen += (seen.empty() ? "" : ", ") + name + " " + state;
        if (state == "restarting" || (state == "exited" && last != "status 0")) {
            bad += (bad.empty() ? "" : ", ") + name + " " + state + (last.empty() ? "" : " (" + last + ")");
        }
    }
    out.push_back({p.name, "services", bad.empty(), bad.empty() ? (seen.empty() ? "none" : seen) : bad,
                   bad.empty() ? "" : "see `moat logs " + p.name + "`"});
}

void links(netlink::socket& nl, const plan::container_plan& p, std::vector<finding>& out) {
    auto veth = nl.link(p.host_if);
    bool ok = veth && veth->up;
    std::string evidence = !veth ? p.host_if + " missing" : p.host_if + (veth->up ? " up" : " down");
    if (ok && !p.bridge_if.empty()) {
        auto bridge = nl.link_index(p.bridge_if);
        ok = bridge && veth->master == *bridge;
        evidence += ok ? ", port of " + p.bridge_if : ", not a port of " + p.bridge_if;
    }
    out.push_back({p.name, "link", ok, evidence, ok ? "" : "`moat up` repairs it"});
}

void inside(const state::container_record& r, const plan::container_plan& p, std::vector<finding>& out) {
    std::string ns_path = container::netns_path(r);
    const std::string ifname = container::inner_ifname(r);
    sys::unique_fd ns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) {
        out.push_back({p.name, "address", false, "cannot open " + ns_path, ""});
        return;
    }
    auto nl = netlink::socket::open_in(ns.get());
    if (!nl.link(ifname)) {
        // Deleting the host's end of a veth deletes the container's too.
        out.push_back({p.name, "address", false, ifname + " missing inside the container",
                       "recreate it: `moat down " + p.name + "` and `moat up`"});
        return;
    }
    auto addrs = nl.addresses(ifname);
    for (const auto* pair : {&p.v4, &p.v6}) {
        if (!*pair) {
            continue;
        }
        auto want = (*pair)->local.address;
        bool ok = std::any_of(addrs.begin(), addrs.end(), [&](const auto& a) { return a.local.address == want; });
        out.push_back({p.name, "address", ok, want.str() + (ok ? " on " + ifname : " missing on " + ifname),
                       ok ? "" : "recreate it: `moat down " + p.name + "` and `moat up`"});
    }
    auto routes = nl.routes(netlink::table_main);
    for (const auto* pair : {&p.v4, &p.v6}) {
        if (!*pair) {
            continue;
        }
        int family = (*pair)->local.address.family;
        std::string name = pair == &p.v4 ? "IPv4" : "IPv6";
        bool has_default = std::any_of(routes.begin(), routes.end(),
                                       [&](const auto& rt) { return !rt.destination && rt.family == family; });
        out.push_back({p.name, "route", has_default,
                       has_default ? name + " default route present" : "no " + name + " default route inside",
                       has_default ? "" : "someone changed the container's routes; recreate it"});
    }
}

void firewall(const plan::container_plan& p, const std::optional<std::string>& table, std::vector<finding>& out) {
    bool ok = table && table->find("chain in_" + p.name + " {") != std::string::npos &&
              table->find("chain out_" + p.name + " {") != std::string::npos;
    out.push_back({p.name, "firewall", ok, !table ? "table inet moat missing" : ok ? "chains in place" : "chains missing",
                   ok ? "" : "`moat up` restores the table"});
}

std::string sysctl_value(const std::string& key) {
    try {
        return netlink::get_sysctl(key);
    } catch (const std::exception& e) {
        return e.what();
    }
}

void sysctls(const plan::container_plan& p, const std::map<std::string, bool>& route_localnet, std::vector<finding>& out) {
    for (const auto& key : converge::needed_sysctls({p})) {
        std::string v = sysctl_value(key);
        out.push_back({p.name, "sysctl", v == "1", key + " = " + v, v == "1" ? "" : "`moat up` sets it again"});
    }
    // On where a forward from 127.0.0.1 needs it, off everywhere else: on,
    // the host routes the container's frames for 127.0.0.0/8 to its own
    // loopback services, and only the table's localnet guard stands between.
    const std::string& link = p.bridge_if.empty() ? p.host_if : p.bridge_if;
    if (auto it = route_localnet.find(link); it != route_localnet.end()) {
        std::string key = "net/ipv4/conf/" + link + "/route_localnet", want = it->second ? "1" : "0";
        std::string v = sysctl_value(key);
        out.push_back({p.name, "sysctl", v == want, key + " = " + v + (v == want ? "" : " (moat sets " + want + ")"),
                       v == want ? "" : "`moat up` sets it again"});
    }
}

// The runner of tunnel `name` and the `_tunnels` init it runs under.
std::optional<std::pair<plan::tunnel_plan, pid_t>> find_tunnel(const state::store& store, const std::string& name) {
    auto r = store.load(plan::tunnels_container);
    if (!r || !container::running(*r)) {
        return std::nullopt;
    }
    for (const auto& s : plan::plan_from_json(r->spec).services) {
        if (s.name == "tunnel-" + name && s.argv.size() >= 3) {
            return std::pair{plan::tunnel_from_json(nlohmann::json::parse(s.argv[2])), r->init.pid};
        }
    }
    return std::nullopt;
}

// A device that is up proves nothing about the far end (tunnel/health.hpp):
// the tunnel counts only with a recent handshake or a CONNECTED openvpn
// that hears from its server.
void tunnel(const state::store& store, netlink::socket& nl, const plan::container_plan& p, std::vector<finding>& out) {
    auto dev = nl.link(p.tunnel_if);
    bool up = dev && dev->up;
    std::string evidence = p.tunnel_if + (up ? " up" : " down");
    if (auto found = find_tunnel(store, p.tunnel)) {
        auto h = tunnel::read_health(found->first, found->second);
        if (!up && h.ok()) {
            h.state = "down";
        }
        evidence = "tunnel " + p.tunnel + " " + h.state + ": " + h.evidence + (up ? "" : "; " + evidence);
        up = up && h.ok();
    } else {
        up = false;
        evidence += "; its runner is not in `" + std::string(plan::tunnels_container) + "`";
    }
    out.push_back({p.name, "tunnel", up, evidence,
                   up ? "" : "see `moat logs " + std::string(plan::tunnels_container) + "`"});
    auto table = plan::tunnel_table(p.tunnel);
    auto rules = nl.rules();
    for (const auto* pair : {&p.v4, &p.v6}) {
        if (!*pair) {
            continue;
        }
        auto a = (*pair)->local.address;
        bool ok = std::any_of(rules.begin(), rules.end(), [&](const netlink::rule& r) {
            return r.from && r.from->address == a && r.table == table;
        });
        out.push_back({p.name, "policy rule", ok,
                       "from " + a.str() + " lookup " + std::to_string(table) + (ok ? "" : " missing"),
                       ok ? "" : "`moat up` adds it again (the firewall still holds meanwhile)"});
    }
    auto routes = nl.routes(table);
    bool fallback = std::any_of(routes.begin(), routes.end(),
                                [](const netlink::route& r) { return r.type == netlink::route_type::unreachable; });
    out.push_back({p.name, "tunnel table", fallback, fallback ? "unreachable fallback present" : "unreachable fallback missing",
                   fallback ? "" : "`moat up` adds it again"});
}

// NAT'ed traffic leaves through the uplink `up` chose: it must still be
// there, up, and carry a default route of a family the container has.
void uplink(netlink::socket& nl, const plan::container_plan& p, std::vector<finding>& out) {
    std::string evidence;
    bool ok = false;
    auto link = p.uplink.empty() ? std::nullopt : nl.link(p.uplink);
    if (p.uplink.empty()) {
        evidence = "no uplink was found at `moat up` (no default route)";
    } else if (!link) {
        evidence = p.uplink + " missing";
    } else if (!link->up) {
        evidence = p.uplink + " down";
    } else {
        std::string families;
        for (const auto* pair : {&p.v4, &p.v6}) {
            if (!*pair) {
                continue;
            }
            int family = (*pair)->local.address.family;
            auto routes = nl.routes(netlink::table_main, family);
            if (std::any_of(routes.begin(), routes.end(),
                            [&](const netlink::route& r) { return !r.destination && r.dev == p.uplink; })) {
                families += std::string(families.empty() ? "" : ", ") + (pair == &p.v4 ? "IPv4" : "IPv6");
            }
        }
        ok = !families.empty();
        evidence = p.uplink + " up, " + (ok ? families + " default route through it" : "no default route through it");
    }
    out.push_back({p.name, "uplink", ok, evidence,
                   ok ? "" : "NAT'ed traffic has no way out; `moat up` after the uplink is back picks it again"});
}

// A container whose init is gone. `moat up` restarts only what a file
// declares: a `moat run` container is its command's, and one whose command
// ended (kept without --rm, as docker keeps an exited container) is done,
// not broken — it passes, and says how it goes away.
finding dead_init(const state::container_record& r) {
    std::string remove = "`moat down " + r.name + "` removes it";
    if (r.origin == "run" && r.status == "exited") {
        return {r.name, "init", true, "exited: its command (moat run) has ended", remove};
    }
    if (r.origin == "run") {
        return {r.name, "init", false, "init is gone: its command (moat run) did not end normally",
                remove + " (`moat up` does not restart a `moat run` container)"};
    }
    return {r.name, "init", false, "init is gone",
            r.source.empty() || r.source == "<stdin>" ? "`moat up` repairs it" : "`moat up -f " + r.source + "` repairs it"};
}

}  // namespace

void static_checks(const state::store& store, const state::container_record& r, const plan::container_plan& p,
                   const std::optional<std::string>& table, const std::map<std::string, bool>& route_localnet,
                   std::vector<finding>& out) {
    bool alive = container::running(r);
    if (r.origin == "cni") {
        // No init of moat's: the engine owns the pod's processes. Its record
        // says running only once its ADD completed.
        bool there = ::access(container::netns_path(r).c_str(), F_OK) == 0;
        std::string why = !alive ? ": its ADD has not completed (in progress, or it failed)" : there ? "" : ": namespace gone";
        alive = alive && there;
        out.push_back({p.name, "attachment", alive,
                       "CNI " + r.cni.value("container_id", "") + "/" + container::inner_ifname(r) + " in " +
                           container::netns_path(r) + why,
                       alive ? "" : "the engine's DEL (or `moat down " + p.name + "`) removes it"});
        if (!alive) {
            return;
        }
    } else {
        if (!alive) {
            out.push_back(dead_init(r));
            return;
        }
        out.push_back({p.name, "init", true, "pid " + std::to_string(r.init.pid) + " alive", ""});
        guarded(p.name, "services", out, [&] { services(store, p, out); });
    }
    if (p.host_if.empty()) {
        return;
    }
    std::optional<netlink::socket> nl;
    guarded(p.name, "link", out, [&] {
        nl.emplace(netlink::socket::open());
        links(*nl, p, out);
    });
    guarded(p.name, "address", out, [&] { inside(r, p, out); });
    firewall(p, table, out);
    guarded(p.name, "sysctl", out, [&] { sysctls(p, route_localnet, out); });
    if (p.egress == "vpn" && nl) {
        guarded(p.name, "tunnel", out, [&] { tunnel(store, *nl, p, out); });
    }
    if (p.egress == "nat" && nl) {
        guarded(p.name, "uplink", out, [&] { uplink(*nl, p, out); });
    }
}

}  // namespace moat::check::detail
