#include "check/check.hpp"

#include "check/active.hpp"
#include "check/expected_listing.hpp"
#include "check/host_access.hpp"
#include "container/runtime.hpp"
#include "converge/claim.hpp"
#include "converge/converge.hpp"
#include "firewall/firewall.hpp"
#include "netlink/netlink.hpp"
#include "plan/diff.hpp"

#include <algorithm>
#include <future>

namespace moat::check {

namespace {

using detail::subject;

// moat's own links and tunnels (of the containers checked and the others),
// and lo: where the leak capture does not look.
std::vector<int> moat_ifindexes(const std::vector<subject>& checked, const std::vector<subject>& others) {
    std::vector<std::string> names{"lo"};
    auto add = [&](const std::vector<subject>& group) {
        for (const auto& s : group) {
            for (const auto* name : {&s.plan.host_if, &s.plan.bridge_if, &s.plan.tunnel_if}) {
                if (!name->empty()) {
                    names.push_back(*name);
                }
            }
        }
    };
    add(checked);
    add(others);
    std::vector<int> out;
    auto nl = netlink::socket::open();
    for (const auto& l : nl.links()) {
        if (std::find(names.begin(), names.end(), l.name) != names.end()) {
            out.push_back(l.index);
        }
    }
    return out;
}

// The resolv.conf moat wrote is still what the container reads.
void resolv_conf(const subject& s, std::vector<finding>& out) {
    if (s.plan.dns.empty()) {
        return;
    }
    std::string seen, want;
    for (const auto& a : s.resolvers) {
        seen += (seen.empty() ? "" : " ") + a.str();
    }
    for (const auto& a : s.plan.dns) {
        want += (want.empty() ? "" : " ") + a;
    }
    bool ok = seen == want;
    out.push_back({s.plan.name, "resolv.conf", ok, "nameserver " + (seen.empty() ? "none" : seen) + (ok ? "" : ", moat wrote " + want),
                   ok ? "" : "something replaced the container's /etc/resolv.conf: restart the container (`moat down " + s.plan.name + "; moat up`)"});
}

std::string trimmed(const std::string& line) {
    auto b = line.find_first_not_of(" \t");
    return b == std::string::npos ? "" : line.substr(b);
}

// The table as the kernel lists it now against its listing right after
// moat committed it: every rule, set element and chain someone removed,
// changed or added, named. A host-wide finding (no container).
void firewall_drift(const state::store& store, const std::optional<std::string>& live, std::vector<finding>& out) {
    auto reading = store.read_host();
    if (!reading.problem.empty()) {
        out.push_back({"", "record", false, "host.json is damaged (" + reading.problem + ")",
                       "`moat down` removes what it can find by name"});
    }
    const auto& host = reading.record;
    if (!host.nft_table || (host.nft_ruleset.empty() && host.nft_listing.empty())) {
        return;  // no table meant to be there, or recorded by an older moat
    }
    if (!live) {
        out.push_back({"", "firewall rules", false, "table inet moat missing", "`moat up` restores it"});
        return;
    }
    // The script committed in a scratch namespace and listed there; a
    // host.json of an older moat has the listing taken after its commit.
    std::string expected = host.nft_ruleset.empty()
                               ? host.nft_listing
                               : detail::expected_listing(host.nft_ruleset, firewall::claim_comment(converge::own_claim(store)));
    std::vector<std::string> missing, extra;
    // The provider-forwarded port's elements are the tunnel runner's; the
    // chains' order is their history's (firewall::canonical_listing()).
    for (const auto& line : plan::diff_lines(firewall::canonical_listing(firewall::without_forwarded_elements(expected)),
                                             firewall::canonical_listing(firewall::without_forwarded_elements(*live)))) {
        if (!line.starts_with("  ") && !trimmed(line.substr(2)).empty()) {
            (line[0] == '-' ? missing : extra).push_back(trimmed(line.substr(2)));
        }
    }
    auto list = [](const std::vector<std::string>& lines) {
        std::string s;
        for (std::size_t i = 0; i < lines.size() && i < 4; ++i) {
            s += (i ? "; " : "") + lines[i];
        }
        return lines.size() > 4 ? s + " (and " + std::to_string(lines.size() - 4) + " more)" : s;
    };
    std::size_t total = missing.size() + extra.size();
    std::string evidence = total == 0 ? "table inet moat as committed" : "";
    if (!missing.empty()) {
        evidence += "missing: " + list(missing);
    }
    if (!extra.empty()) {
        evidence += std::string(missing.empty() ? "" : " | ") + "not moat's: " + list(extra);
    }
    out.push_back({"", "firewall rules", total == 0, evidence, total == 0 ? "" : "`moat up` restores the table as planned"});
}

// `out` is null for a container not being checked: only its links matter.
subject make_subject(state::container_record r, std::vector<finding>* out) {
    subject s;
    s.plan = plan::plan_from_json(r.spec);
    s.record = std::move(r);
    if (!out) {
        return s;
    }
    // moat's own `_pipes` and `_tunnels` get the static checks (their init
    // and services: the pipes and tunnel daemons) but no probe.
    if (s.record.name.front() == '_' || !container::running(s.record)) {
        return s;
    }
    for (const auto& text : s.plan.probes) {
        if (auto t = config::parse_probe(text)) {
            s.targets.push_back(*t);
        } else {
            out->push_back({s.plan.name, "egress", false, "probe \"" + text + "\" is not http://HOST[:PORT][/PATH] or HOST:PORT", ""});
        }
    }
    for (const auto* pair : {&s.plan.v4, &s.plan.v6}) {
        if (*pair) {
            s.addresses.push_back((*pair)->local.address);
            (pair == &s.plan.v4 ? s.v4 : s.v6) = true;
        }
    }
    // A CNI attachment's resolv.conf is its engine's, out of moat's sight:
    // the resolvers asked are those ADD's result gave the engine.
    if (s.record.origin != "cni") {
        detail::guarded(s.plan.name, "resolv.conf", *out, [&] { s.resolvers = detail::nameservers(s.record.init.pid); });
    } else {
        for (const auto& d : s.plan.dns) {
            if (auto a = sys::ip_address::parse(d)) {
                s.resolvers.push_back(*a);
            }
        }
    }
    return s;
}

bool probed(const subject& s) {
    return !s.plan.host_if.empty() && s.record.name.front() != '_' && container::running(s.record);
}

// The host's side of what the probes of host_access_checks() need, read
// here in the host's namespace: its sockets, its global addresses, and each
// container's link, gateway and allowed host ports.
std::vector<finding> host_access(const std::vector<subject>& checked, std::chrono::milliseconds timeout) {
    std::vector<detail::host_access_subject> subjects;
    std::vector<finding> out;
    auto nl = netlink::socket::open();
    for (const auto& s : checked) {
        if (!probed(s)) {
            continue;
        }
        detail::guarded(s.plan.name, "host access", out, [&] {
            auto e = converge::firewall_spec({s.plan}).endpoints.at(0);
            auto link = nl.link_index(e.link());
            detail::host_access_subject h{s.plan.name, container::netns_path(s.record), link.value_or(-1), std::nullopt, std::nullopt,
                                          firewall::allowed_host_ports(e, "tcp"), firewall::allowed_host_ports(e, "udp")};
            if (s.plan.v4) {
                h.gateway4 = s.plan.v4->host.address;
            }
            if (s.plan.v6) {
                h.gateway6 = s.plan.v6->host.address;
            }
            subjects.push_back(std::move(h));
        });
    }
    if (subjects.empty()) {
        return out;
    }
    std::vector<sys::ip_address> addresses;
    for (const auto& a : nl.addresses()) {
        if (a.scope == 0) {
            addresses.push_back(a.local.address);
        }
    }
    detail::host_access_checks(subjects, netlink::listening_sockets(), addresses, timeout, out);
    return out;
}

}  // namespace

std::vector<finding> static_findings(const state::store& store, const state::container_record& r) {
    std::vector<finding> out;
    std::optional<std::string> table;
    try {
        table = firewall::context().current();
    } catch (const std::exception&) {  // the firewall finding says the table is missing
    }
    std::vector<plan::container_plan> running;
    for (const auto& other : store.containers()) {
        if (container::running(other)) {
            running.push_back(plan::plan_from_json(other.spec));
        }
    }
    std::map<std::string, bool> localnet;
    detail::guarded(r.name, "sysctl", out, [&] { localnet = converge::route_localnet(running); });
    detail::guarded(r.name, "init", out, [&] {
        detail::static_checks(store, r, plan::plan_from_json(r.spec), table, localnet, out);
    });
    return out;
}

std::vector<finding> run(const state::store& store, const options& opts) {
    std::vector<finding> out;
    std::vector<subject> checked, others;
    std::vector<finding> ignored;  // of containers not asked about
    auto wanted = [&](const std::string& name) {
        return opts.names.empty() || std::find(opts.names.begin(), opts.names.end(), name) != opts.names.end();
    };
    auto listing = store.scan();
    for (auto& r : listing.records) {
        std::string name = r.name;
        bool want = wanted(name);
        // A record whose plan cannot be read is that container's failure alone.
        detail::guarded(name, "record", want ? out : ignored, [&] {
            (want ? checked : others).push_back(make_subject(std::move(r), want ? &out : nullptr));
        });
    }
    // A damaged record is listed as such; the others are checked as usual.
    for (const auto& d : listing.damaged) {
        if (wanted(d.name)) {
            out.push_back({d.name, "record", false, "cannot read its record " + d.file + ": " + d.problem,
                           "`moat down " + d.name + "` removes what its name implies; `moat up` then recreates it"});
        }
    }
    std::optional<std::string> table;
    try {
        table = firewall::context().current();
    } catch (const std::exception&) {
    }
    detail::guarded("", "firewall rules", out, [&] { firewall_drift(store, table, out); });
    std::vector<plan::container_plan> running;
    for (const auto* group : {&checked, &others}) {
        for (const auto& s : *group) {
            if (container::running(s.record)) {
                running.push_back(s.plan);
            }
        }
    }
    std::map<std::string, bool> localnet;
    detail::guarded("", "sysctl", out, [&] { localnet = converge::route_localnet(running); });
    for (const auto& s : checked) {
        detail::guarded(s.plan.name, "init", out, [&] { detail::static_checks(store, s.record, s.plan, table, localnet, out); });
        if (container::running(s.record) && s.record.name.front() != '_' && s.record.origin != "cni") {
            resolv_conf(s, out);
        }
    }
    // The host-access probes stay on moat's links, where the leak capture
    // does not look, so they run alongside the active checks. "Blocked" is
    // a timeout, so half the probe time is proof enough, as for "none".
    auto host = std::async(std::launch::async, host_access, std::cref(checked), opts.timeout / 2);
    // Whatever fails here fails for every container at once (no packet
    // socket, no netlink): one host-wide finding, and the report goes on.
    detail::guarded("", "active checks", out, [&] { detail::active_checks(checked, moat_ifindexes(checked, others), opts, out); });
    detail::guarded("", "host access", out, [&] {
        auto found = host.get();
        out.insert(out.end(), found.begin(), found.end());
    });
    return out;
}

}  // namespace moat::check
