#include "cni/plugin.hpp"

#include "cni/ipam.hpp"
#include "cni/netconf.hpp"
#include "cni/pod.hpp"
#include "cni/protocol.hpp"
#include "cni/tunnels.hpp"
#include "check/check.hpp"
#include "container/network.hpp"
#include "container/runtime.hpp"
#include "converge/converge.hpp"
#include "converge/host.hpp"
#include "firewall/firewall.hpp"
#include "netlink/netlink.hpp"
#include "state/store.hpp"
#include "sys/error.hpp"
#include "sys/failpoint.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <iterator>

namespace moat::cni {
namespace {

using nlohmann::json;

std::string mac_text(const std::optional<netlink::mac_address>& m) {
    if (!m) {
        return "";
    }
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", (*m)[0], (*m)[1], (*m)[2], (*m)[3], (*m)[4],
                  (*m)[5]);
    return buf;
}

// The plans of every container that runs now, `except` one.
// `settled`, when given, says whether every other record is running: an
// ADD killed between its commit and its record leaves one that is not,
// and objects in the table that host.json's script does not know, which
// only a whole replacement of the table takes away.
std::vector<plan::container_plan> running_plans(const state::store& st, const std::string& except,
                                                bool* settled = nullptr) {
    std::vector<plan::container_plan> out;
    if (settled) {
        *settled = true;
    }
    for (const auto& rec : st.containers()) {
        if (rec.name != except && container::running(rec)) {
            out.push_back(plan::plan_from_json(rec.spec));
        } else if (rec.name != except && settled) {
            *settled = false;
        }
    }
    return out;
}

sys::unique_fd open_netns(const std::string& path) {
    sys::unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        throw error(code::unknown_container, "cannot open CNI_NETNS " + path, sys::errno_error("open").what());
    }
    // Never wire "the container's" end into the namespace the plugin runs in
    // (the host's): a runtime bug must not rename or address host links.
    struct stat mine {}, theirs {};
    if (::stat("/proc/self/ns/net", &mine) == 0 && ::fstat(fd.get(), &theirs) == 0 && mine.st_ino == theirs.st_ino &&
        mine.st_dev == theirs.st_dev) {
        throw error(code::invalid_environment, "CNI_NETNS is the plugin's own network namespace", path);
    }
    return fd;
}

// A network already recorded under this name must have the same subnet:
// moving it would renumber every pod on it.
void check_network_unchanged(const state::store& st, const netconf& nc) {
    auto host = st.host();
    auto it = host.networks.find(nc.moat_network);
    if (it == host.networks.end()) {
        return;
    }
    if (auto problem = network_change_problem(nc, plan::network_from_json(it->second).gateway)) {
        throw error(code::invalid_config, *problem);
    }
}

std::set<sys::ip_address> addresses_on(const std::vector<plan::container_plan>& running, const std::string& network) {
    std::set<sys::ip_address> out;
    for (const auto& p : running) {
        if (p.network == network && p.v4) {
            out.insert(p.v4->local.address);
        }
    }
    return out;
}

// `host` and `inner`: netlink sockets in the host's and the pod's namespace.
struct pod_sockets {
    netlink::socket host;
    netlink::socket inner;
};

void add_result(result& r, const request& req, pod_sockets& nl, const plan::container_plan& p, const netconf& nc,
                bool default_route) {
    auto host_link = nl.host.link(p.host_if);
    auto inner = nl.inner.link(req.ifname);
    int index = static_cast<int>(r.interfaces.size());
    r.interfaces.push_back({p.host_if, mac_text(host_link ? host_link->mac : std::nullopt), "", 0, json::object()});
    r.interfaces.push_back({req.ifname, mac_text(inner ? inner->mac : std::nullopt), req.netns,
                            inner ? inner->mtu : 0, json::object()});
    r.ips.push_back({p.v4->local.str(), p.v4->host.address.str(), index + 1});
    if (default_route) {
        r.routes.push_back({"0.0.0.0/0", p.v4->host.address.str(), json::object()});
    }
    r.dns.nameservers = nc.nameservers.empty() ? p.dns : nc.nameservers;  // a VPN pod's: the tunnel's
    r.dns.search = nc.nameservers.empty() && nc.search.empty() ? p.dns_search : nc.search;
}

// Whether the attachment sets the pod's default route: not when the pod has
// one already (another network's, moat being a second attachment, as for a
// Multus extra network), which stays as it is. A VPN-confined attachment
// must be the pod's way out, or it would confine nothing.
bool takes_default_route(netlink::socket& inner, const request& r, const netconf& nc) {
    auto routes = inner.routes(netlink::table_main, AF_INET);
    auto it = std::find_if(routes.begin(), routes.end(), [](const netlink::route& rt) { return !rt.destination; });
    if (it == routes.end()) {
        return true;
    }
    if (nc.egress == "vpn") {
        throw error(code::invalid_config, "the pod already has a default route (" + it->str() +
                                              "): an attachment confined to tunnel " + nc.tunnel +
                                              " must be its way out; make network " + r.network + " its first");
    }
    return false;
}

// With "ipam": the address the plugin leased (it must be free on the
// network); else moat's own allocation from the subnet.
sys::ip_address address_for(const netconf& nc, const std::string& name, const std::set<sys::ip_address>& taken,
                            const std::optional<result>& leased) {
    if (!leased) {
        return pod_address(nc, name, taken);
    }
    auto a = lease_of(*leased, nc.ipam_type).address.address;
    if (taken.count(a)) {
        throw error(code::invalid_config, "the IPAM plugin \"" + nc.ipam_type + "\" leased " + a.str() +
                                              ", which another pod of network " + nc.network + " has");
    }
    return a;
}

// Takes down what a record names, tolerating all of it being gone. The
// table changes in place only for a pod whose ADD completed: an ADD killed
// between its commit and its record, or one failing after its commit, may
// have left objects in the table that host.json's script does not know,
// and only a whole replacement takes those away.
void remove_pod(state::store& st, const state::container_record& rec, bool completed) {
    if (!rec.host_if.empty()) {
        container::unwire_network(rec.host_if, container::instance_of(rec));
    }
    st.remove(rec.name);
    // The tunnel first: its runner, while alive, may add its address rule
    // into the tunnel's table again after the sweep below removed it.
    stop_unused_tunnels(st);
    bool settled = false;
    auto running = running_plans(st, rec.name, &settled);
    bool in_place = completed && settled;
    converge::sync_firewall(st, running, !in_place, in_place);  // in place: only this pod's objects go
    container::forget_flows(std::span(&rec, 1));  // now that no forward of its can make a new entry
    converge::sync_networks(st, converge::networks_for(st, running, {}));
}

json attachment_of(const request& r, const state::store& st) {
    return {{"network", r.network}, {"container_id", r.container_id}, {"ifname", r.ifname}, {"netns", r.netns},
            {"instance", st.instance_id()}};
}

// DEL and GC are best effort: without a state directory nothing of moat's
// is there to remove, and they must not create one.
state::state_lock lock_if_recorded(state::store& st) {
    return st.exists() ? st.lock_existing() : state::state_lock{};
}

state::container_record pod_record(const state::store& st, const request& r, const plan::container_plan& p) {
    state::container_record rec;
    rec.name = p.name;
    rec.origin = "cni";
    rec.source = r.network;
    rec.config_hash = plan::hash(p);
    rec.host_if = p.host_if;
    rec.spec = plan::to_json(p);
    rec.cni = attachment_of(r, st);
    return rec;
}

// Makes what the saved record names: the tunnel of a VPN pod, the bridge,
// the veth, the firewall; undone on failure.
void make_pod(state::store& st, state::container_record& rec, plan::container_plan& p,
              std::vector<plan::container_plan> running, pod_sockets& nl, int netns_fd, const request& r,
              const netconf& nc, bool default_route, bool settled) {
    try {
        if (nc.egress == "vpn") {
            confine_pod(st, nc, p);  // `_tunnels` runs the tunnel before the pod has a link
            rec.config_hash = plan::hash(p);
            rec.spec = plan::to_json(p);
            st.save(rec);
        }
        running.push_back(p);
        converge::sync_networks(st, converge::networks_for(st, running, {network_plan_of(nc)}));
        container::wire_veth(nl.host, nl.inner, p, netns_fd, r.ifname, st.instance_id(), default_route);
        rec.status = "running";
        sys::failpoint("cni-before-firewall");
        converge::sync_firewall(st, running, true, settled);  // in place: only this pod's objects are added
        container::raise_host_end(nl.host, p);  // only now can the pod's first frame pass
        st.save(rec);
    } catch (...) {
        try {
            remove_pod(st, rec, false);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "moat: undoing the failed ADD: %s\n", e.what());
        }
        throw;
    }
}

result attach(state::store& st, const request& r, const netconf& config) {
    std::string name = pod_name(r.network, r.container_id, r.ifname);
    sys::unique_fd ns = open_netns(r.netns);
    pod_sockets nl{netlink::socket::open(), netlink::socket::open_in(ns.get())};
    if (nl.inner.link(r.ifname)) {
        throw error(code::invalid_config, "interface " + r.ifname + " already exists in " + r.netns);
    }
    bool default_route = takes_default_route(nl.inner, r, config);
    if (auto old = st.load(name)) {
        remove_pod(st, *old, old->status == "running");  // a failed ADD's leftovers: its interface is gone (checked above)
        if (!config.ipam_type.empty()) {
            ipam::exec_del(r, config);  // and its lease: host-local refuses a second one for the same id
        }
    }
    ipam::lease lease(r, config);  // IPAM ADD; released (IPAM DEL) if anything below throws
    const netconf nc = lease.leased() ? use_lease(config, lease_of(*lease.leased(), config.ipam_type)) : config;
    check_network_unchanged(st, nc);
    bool settled = false;
    auto running = running_plans(st, name, &settled);
    auto address = address_for(nc, name, addresses_on(running, nc.moat_network), lease.leased());
    auto p = pod_plan(nc, name, address, converge::default_uplink(), "");
    auto rec = pod_record(st, r, p);
    if (lease.leased()) {  // what the plugin gave, for status and for whoever reads the record
        rec.cni["ipam"] = {{"type", nc.ipam_type}, {"result", to_json(*lease.leased(), r.cni_version)}};
    }
    container::check_link_free(p, st.instance_id());
    st.save(rec);  // before anything is made: a kill -9 from here on leaves a record `down` can follow
    make_pod(st, rec, p, std::move(running), nl, ns.get(), r, nc, default_route, settled);
    lease.keep();  // the pod is made: from here on the lease goes with the engine's DEL
    result out = r.prev_result.value_or(result{});
    add_result(out, r, nl, p, nc, default_route);
    if (lease.leased() && out.dns.empty()) {
        out.dns = lease.leased()->dns;  // host-local's resolvConf, when the configuration has no "dns"
    }
    return out;
}

// A refused or failed ADD leaves nothing, not even a state directory.
result add(const request& r, const netconf& nc) {
    state::store st(nc.state_dir);
    auto lock = st.lock();
    try {
        return attach(st, r, nc);
    } catch (...) {
        try {
            st.remove_if_empty();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "moat: %s\n", e.what());
        }
        throw;
    }
}

void del(const request& r, const netconf& nc) {
    {
        state::store st(nc.state_dir);
        auto lock = lock_if_recorded(st);
        if (lock.held()) {
            std::string name = pod_name(r.network, r.container_id, r.ifname);
            if (auto rec = st.load(name)) {
                remove_pod(st, *rec, rec->status == "running");
            }
            st.remove_if_empty();
        }
    }
    // Also with no record: a failed ADD may have left a lease, and the
    // plugin's DEL of nothing succeeds.
    if (!nc.ipam_type.empty()) {
        ipam::exec_del(r, nc);
    }
}

// CHECK runs `moat check`'s static checks of the pod: its link, address,
// route, firewall chains and sysctls, and for VPN egress the tunnel, the
// policy rule and the unreachable fallback. A tunnel that is only not up
// (yet) is "try again later"; anything else is broken.
void check(const request& r, const netconf& nc) {
    state::store st(nc.state_dir);
    std::string name = pod_name(r.network, r.container_id, r.ifname);
    auto rec = st.exists() ? st.load(name) : std::nullopt;
    if (!rec || !container::running(*rec)) {
        throw error(code::unknown_container, "no attachment " + r.container_id + "/" + r.ifname + " on network " +
                                                 r.network);
    }
    std::string failed;
    bool only_tunnel = true;
    for (const auto& f : check::static_findings(st, *rec)) {
        if (!f.ok) {
            failed += (failed.empty() ? "" : "; ") + f.check + ": " + f.evidence;
            only_tunnel = only_tunnel && f.check == "tunnel";
        }
    }
    if (!failed.empty()) {
        throw error(only_tunnel ? code::try_again_later : code::internal,
                    "attachment " + r.container_id + "/" + r.ifname + " fails moat's checks", failed);
    }
    if (!nc.ipam_type.empty()) {
        ipam::exec_check(r, nc);
    }
}

// GC of an attachment with a lease releases it as the engine's DEL would
// (IPAM DEL with its CNI_CONTAINERID and CNI_IFNAME). A plugin older than
// GC's version 1.1.0 (Debian 12's host-local) refuses: the pod is gone all
// the same, so that is a warning, not a failed GC.
void release_lease(const request& r, const netconf& nc, const state::container_record& rec) {
    if (nc.ipam_type.empty()) {
        return;
    }
    try {
        ipam::exec_del(r, nc, {{"CNI_CONTAINERID", rec.cni.value("container_id", "")},
                               {"CNI_IFNAME", rec.cni.value("ifname", "")},
                               {"CNI_NETNS", rec.cni.value("netns", "")}});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: GC: releasing the IPAM lease of %s: %s\n", rec.name.c_str(), e.what());
    }
}

void gc(const request& r, const netconf& nc) {
    state::store st(nc.state_dir);
    auto lock = lock_if_recorded(st);
    if (!lock.held()) {
        return;
    }
    std::set<std::string> valid;
    for (const auto& a : r.valid_attachments) {
        valid.insert(pod_name(r.network, a.container_id, a.ifname));
    }
    std::string failures;
    for (const auto& rec : st.containers()) {
        if (rec.origin != "cni" || rec.cni.value("network", "") != r.network || valid.count(rec.name)) {
            continue;
        }
        try {
            remove_pod(st, rec, rec.status == "running");
            release_lease(r, nc, rec);
        } catch (const std::exception& e) {
            failures += (failures.empty() ? "" : "; ") + rec.name + ": " + e.what();
        }
    }
    try {
        stop_unused_tunnels(st);  // one a killed ADD started for no pod
    } catch (const std::exception& e) {
        failures += (failures.empty() ? "" : "; ") + std::string(e.what());
    }
    st.remove_if_empty();
    if (!failures.empty()) {
        throw error(code::internal, "GC could not remove every stale attachment", failures);
    }
}

void status(const netconf& nc) {
    state::store st(nc.state_dir);
    try {
        st.exists();  // its ownership is checked: a directory others can write is unusable
        firewall::context().current();
    } catch (const std::exception& e) {
        throw error(code::not_available, "moat cannot serve ADD requests", e.what());
    }
}

}  // namespace

outcome handle(std::string_view stdin_text) {
    std::string version = std::string(supported_versions().back());
    try {
        auto env = process_environment();
        auto command = env("CNI_COMMAND");
        if (command && *command == "VERSION") {
            return {0, version_answer(stdin_text)};
        }
        auto r = parse_request(env, stdin_text);
        version = r.cni_version;
        auto nc = parse_netconf(r);
        switch (r.verb) {
        case verb::add: return {0, to_json(add(r, nc), r.cni_version).dump() + "\n"};
        case verb::del: del(r, nc); return {0, ""};
        case verb::check: check(r, nc); return {0, ""};
        case verb::gc: gc(r, nc); return {0, ""};
        case verb::status: status(nc); return {0, ""};
        case verb::version: break;
        }
        return {0, version_answer(stdin_text)};
    } catch (const error& e) {
        return {1, error_answer(e, version)};
    } catch (const std::exception& e) {
        return {1, error_answer(error(code::internal, e.what()), version)};
    }
}

int run_plugin() {
    std::string in((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    auto o = handle(in);
    std::fwrite(o.out.data(), 1, o.out.size(), stdout);
    std::fflush(stdout);
    firewall::release_netfilter_sockets_at_exit();  // the engine waits for our exit
    return o.status;
}

}  // namespace moat::cni
