#include "check/check.hpp"

#include "check/active.hpp"
#include "container/runtime.hpp"
#include "firewall/firewall.hpp"
#include "netlink/netlink.hpp"
#include "plan/diff.hpp"

#include <algorithm>

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
    auto host = store.host();
    if (!host.nft_table || host.nft_listing.empty()) {
        return;  // no table meant to be there, or recorded by an older moat
    }
    if (!live) {
        out.push_back({"", "firewall rules", false, "table inet moat missing", "`moat up` restores it"});
        return;
    }
    std::vector<std::string> missing, extra;
    for (const auto& line : plan::diff_lines(host.nft_listing, *live)) {
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
    s.resolvers = detail::nameservers(s.record.init.pid);
    return s;
}

}  // namespace

std::vector<finding> run(const state::store& store, const options& opts) {
    std::vector<finding> out;
    std::vector<subject> checked, others;
    for (auto& r : store.containers()) {
        bool wanted = opts.names.empty() || std::find(opts.names.begin(), opts.names.end(), r.name) != opts.names.end();
        (wanted ? checked : others).push_back(make_subject(std::move(r), wanted ? &out : nullptr));
    }
    std::optional<std::string> table;
    try {
        table = firewall::context().current();
    } catch (const std::exception&) {
    }
    firewall_drift(store, table, out);
    for (const auto& s : checked) {
        detail::static_checks(store, s.record, s.plan, table, out);
        if (container::running(s.record) && s.record.name.front() != '_') {
            resolv_conf(s, out);
        }
    }
    detail::active_checks(checked, moat_ifindexes(checked, others), opts, out);
    return out;
}

}  // namespace moat::check
