// Host-wide objects: bridges, sysctls and the firewall table. Each is
// recorded in host.json before it is made, and brought to what the running
// containers need — created, repaired, or removed when no one needs it.
#include "converge/host.hpp"

#include "converge/claim.hpp"
#include "container/runtime.hpp"
#include "firewall/firewall.hpp"
#include "netlink/netlink.hpp"
#include "netlink/owner.hpp"
#include "netlink/sysctl.hpp"
#include "sys/error.hpp"
#include "sys/failpoint.hpp"
#include "sys/hash.hpp"

#include <sys/socket.h>

#include <cstdio>
#include <map>
#include <set>

namespace moat::converge {

namespace {

// A fixed, locally administered address per bridge (and state dir), so the
// members' neighbour entries for their gateway stay valid as ports come
// and go.
netlink::mac_address bridge_mac(const state::store& store, const std::string& bridge) {
    auto h = sys::fnv1a(store.instance_id() + "/" + bridge);
    netlink::mac_address mac{0x02};
    for (std::size_t i = 1; i < mac.size(); ++i) {
        mac[i] = static_cast<std::uint8_t>(h >> (8 * i));
    }
    return mac;
}

void create_network(netlink::socket& nl, const state::store& store, const plan::network_plan& n) {
    nl.create_bridge(n.bridge_if, bridge_mac(store, n.bridge_if));
    nl.set_alias(n.bridge_if, netlink::owner_alias(store.instance_id(), "network " + n.name));
    nl.add_address(n.bridge_if, n.gateway);
    if (n.gateway6) {
        nl.add_address(n.bridge_if, *n.gateway6);
    }
    // The bridge is the members' router: forwarding on it. route_localnet
    // off whatever conf/default says; converge turns it on while a member
    // has a forward from 127.0.0.1 (converge::route_localnet()).
    netlink::set_sysctl("net/ipv4/conf/" + n.bridge_if + "/forwarding", "1");
    netlink::set_sysctl("net/ipv4/conf/" + n.bridge_if + "/route_localnet", "0");
    nl.set_up(n.bridge_if);
}

}  // namespace

// The first unicast default route of the main table with a device, IPv4
// before IPv6, in the kernel's order (netlink::socket::routes()'s).
std::string default_uplink() {
    auto nl = netlink::socket::open();
    for (int family : {AF_INET, AF_INET6}) {
        if (auto dev = nl.default_route_device(netlink::table_main, family); !dev.empty()) {
            return dev;
        }
    }
    return "";
}

std::set<std::string> sync_networks(state::store& store, const std::vector<plan::network_plan>& wanted) {
    auto host = store.host();
    std::map<std::string, const plan::network_plan*> want;
    for (const auto& n : wanted) {
        want.emplace(n.name, &n);
    }
    if (host.networks.empty() && want.empty()) {
        return {};
    }
    auto nl = netlink::socket::open();
    for (const auto& [name, j] : std::map(host.networks)) {
        auto recorded = plan::network_from_json(j);
        auto it = want.find(name);
        if (it != want.end() && it->second->same_bridge(recorded) && !(*it->second == recorded)) {
            host.networks[name] = plan::to_json(*it->second);  // keepWhenIdle changed: the bridge stays
            store.save_host(host);
        } else if (it == want.end() || !it->second->same_bridge(recorded)) {
            auto d = nl.delete_link_if_owned(recorded.bridge_if, store.instance_id());
            if (d.what == netlink::owned_deletion::result::kept) {
                std::fprintf(stderr, "moat: note: network %s: left %s alone: %s\n", name.c_str(),
                             recorded.bridge_if.c_str(), d.reason.c_str());
            }
            host.networks.erase(name);
            store.save_host(host);
        }
    }
    std::set<std::string> built;
    for (const auto& n : wanted) {
        bool recorded = host.networks.count(n.name) > 0;
        auto link = nl.link(n.bridge_if);
        auto owner = link ? netlink::parse_owner_alias(link->alias) : std::nullopt;
        bool ours = link && (owner ? owner->instance == store.instance_id() : recorded);
        if (ours && recorded) {
            if (link->alias.empty()) {
                // Made by a moat before aliases: marked now, found by `gc` from here on.
                nl.set_alias(n.bridge_if, netlink::owner_alias(store.instance_id(), "network " + n.name));
            }
            continue;
        }
        if (link) {
            std::string whose = owner && !ours ? "it belongs to moat instance " + owner->instance
                                : ours     ? "this instance made it, but " + store.dir() +
                                             " does not record it (`moat gc` removes what the state directory lost)"
                                           : "moat did not create it (the host's own, or an older moat's)";
            throw moat::error("network " + n.name + ": interface " + n.bridge_if + " exists: " + whose);
        }
        host.networks[n.name] = plan::to_json(n);
        store.save_host(host);  // intent first
        try {
            create_network(nl, store, n);
        } catch (...) {
            add_context("creating network " + n.name);
        }
        sys::failpoint("after-bridge");
        built.insert(n.name);
    }
    return built;
}

std::set<std::string> needed_sysctls(const std::vector<plan::container_plan>& running) {
    std::set<std::string> want;
    for (const auto& p : running) {
        if (p.egress == "vpn" && p.v6) {
            want.insert("net/ipv6/conf/all/forwarding");  // the tunnel may carry IPv6
        }
        if (p.uplink.empty()) {
            continue;
        }
        // IPv4 forwards by the input interface's own setting, so the uplink
        // is enough (replies and forwarded ports come in there); IPv6 only
        // has the global switch.
        if (p.v4) {
            want.insert("net/ipv4/conf/" + p.uplink + "/forwarding");
        }
        if (p.v6) {
            want.insert("net/ipv6/conf/all/forwarding");
        }
    }
    return want;
}

void sync_sysctls(state::store& store, const std::vector<plan::container_plan>& running) {
    auto want = needed_sysctls(running);
    auto host = store.host();
    for (const auto& [key, original] : std::map(host.sysctls)) {
        if (want.count(key)) {
            continue;
        }
        try {
            netlink::set_sysctl(key, original);
        } catch (const std::exception&) {
            // The uplink is gone, and its setting with it.
        }
        host.sysctls.erase(key);
        store.save_host(host);
    }
    for (const auto& key : want) {
        std::string now;
        try {
            now = netlink::get_sysctl(key);
        } catch (...) {
            add_context("the uplink for NAT and forwarded ports (" + key + ")");
        }
        if (now == "1") {
            continue;
        }
        if (!host.sysctls.count(key)) {
            host.sysctls[key] = now;
            store.save_host(host);  // the value to restore, before changing it
        }
        netlink::set_sysctl(key, "1");
    }
}

namespace {

// The pod's own objects only (firewall::incremental_update()), in one
// transaction, when the table is ours and host.json records the script it
// was committed from. Any failure — the table was changed behind moat's
// back, an older kernel took a guard chain with its device — changed
// nothing (one batch): the caller replaces the whole table instead.
bool commit_incrementally(firewall::context& nft, const state::host_record& host, const std::string& script) {
    if (!host.nft_table || host.nft_ruleset.empty()) {
        return false;
    }
    auto update = firewall::incremental_update(host.nft_ruleset, script);
    if (!update || update->empty()) {
        return false;
    }
    try {
        nft.run(*update);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

}  // namespace

bool commit_firewall(state::store& store, const firewall::spec& spec, bool force, bool incremental) {
    auto host = store.host();
    if (spec.endpoints.empty() && !host.nft_table) {
        return false;  // nothing to do: not even a libnftables context
    }
    firewall::context nft;
    auto claim = read_claim(store);
    if (claim.foreign()) {
        if (!spec.endpoints.empty()) {
            // `up` refused earlier (claim_network_namespace); this is `run`,
            // or a claim that appeared since: nothing is replaced.
            throw moat::error(foreign_table_message(claim, store));
        }
        // Not ours to delete: forget it.
        std::fprintf(stderr, "moat: note: left table inet moat alone: %s\n", foreign_table_message(claim, store).c_str());
        host.nft_table = false;
        host.nft_ruleset.clear();
        host.nft_listing.clear();
        store.save_host(host);
        return false;
    }
    if (spec.endpoints.empty()) {
        if (claim.exists()) {
            nft.remove();
        }
        host.nft_table = false;
        host.nft_ruleset.clear();
        host.nft_listing.clear();
        store.save_host(host);
        return true;
    }
    std::string script = firewall::render(spec);
    // A table of an older moat (no claim) is committed again to carry one.
    if (!force && host.nft_table && host.nft_ruleset == script && claim.exists() && claim.owner) {
        return false;
    }
    // Intent first: a crash after the commit must still let `down` find the
    // table. When host.json already says so (every commit but the first),
    // writing it again adds nothing a crash could need, and costs a write
    // with two fsyncs on every CNI ADD and DEL.
    if (!host.nft_table) {
        host.nft_table = true;
        store.save_host(host);
    }
    sys::failpoint("before-firewall");
    // A table of an older moat (no claim) is replaced whole, to carry one.
    bool in_place = incremental && claim.exists() && claim.owner && commit_incrementally(nft, host, script);
    try {
        // An absent table is created, never replaced: if another instance
        // made one since the look above, this fails and changes nothing.
        if (!in_place) {
            nft.apply(script, firewall::claim_comment(own_claim(store)), !claim.exists());
        }
    } catch (...) {
        if (!claim.exists() && read_claim(store).foreign()) {
            add_context("another moat instance took this network namespace at the same time");
        }
        throw;
    }
    sys::failpoint("after-firewall");
    // The whole script, as if the table had been committed whole: what the
    // next commit compares with, and what `moat check` commits in a scratch
    // namespace to know the listing to expect (check/expected_listing.cpp).
    host.nft_ruleset = script;
    host.nft_listing.clear();
    store.save_host(host);
    return true;
}

// The host ends of the veths of stopped containers, in one request per
// instance (netlink::socket::delete_links_if_owned; the peers go with
// them). A link another instance marked is left alone, as stop() would.
void delete_veths(const std::vector<state::container_record>& stopped) {
    std::map<std::string, std::vector<std::string>> by_instance;
    for (const auto& r : stopped) {
        if (!r.host_if.empty()) {
            by_instance[container::instance_of(r)].push_back(r.host_if);
        }
    }
    if (by_instance.empty()) {
        return;
    }
    auto nl = netlink::socket::open();
    for (const auto& [instance, names] : by_instance) {
        auto results = nl.delete_links_if_owned(names, instance);
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (results[i].what == netlink::owned_deletion::result::kept) {
                std::fprintf(stderr, "moat: note: left %s alone: %s\n", names[i].c_str(), results[i].reason.c_str());
            }
        }
    }
}

}  // namespace moat::converge
