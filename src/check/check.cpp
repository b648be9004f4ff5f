#include "check/check.hpp"

#include "check/detail.hpp"
#include "container/runtime.hpp"
#include "converge/host.hpp"
#include "firewall/firewall.hpp"
#include "netlink/netlink.hpp"

#include <future>
#include <set>
#include <thread>

namespace moat::check {

namespace {

using detail::probe_result;

struct subject {
    state::container_record record;
    plan::container_plan plan;
    std::optional<detail::probe_target> target;
};

// The uplink's own addresses: what NAT'ed traffic is seen as.
std::set<sys::ip_address> addresses_of(const std::string& ifname) {
    std::set<sys::ip_address> out;
    if (ifname.empty()) {
        return out;
    }
    auto nl = netlink::socket::open();
    for (const auto& a : nl.addresses(ifname)) {
        out.insert(a.local.address);
    }
    return out;
}

finding judge_egress(const subject& s, const probe_result& r) {
    finding f{s.plan.name, "egress", true, "", ""};
    const auto& egress = s.plan.egress;
    if (egress == "none") {
        f.ok = !r.connected;
        f.evidence = r.connected ? "reached " + s.target->host + " although egress is none" : "blocked (" + r.error + ")";
        f.hint = f.ok ? "" : "the firewall is not holding: run `moat up`";
        return f;
    }
    if (!r.connected) {
        f.ok = false;
        f.evidence = "cannot reach " + s.target->host + ": " + r.error;
        f.hint = egress == "vpn" ? "is the tunnel up? see `moat status`" : "is the uplink up, and the probe reachable from the host?";
        return f;
    }
    f.evidence = "reached " + s.target->host;
    if (r.seen_as) {
        // A confined container has no uplink of its own: the host's is the one it must not show.
        auto uplink = addresses_of(s.plan.uplink.empty() ? converge::default_uplink() : s.plan.uplink);
        bool via_uplink = uplink.count(*r.seen_as) > 0;
        f.evidence += ", seen as " + r.seen_as->str();
        if (egress == "vpn" && via_uplink) {
            f.ok = false;
            f.hint = "confined traffic left by the uplink: a leak";
        }
    }
    return f;
}

std::vector<std::string> moat_links(const std::vector<subject>& subjects) {
    std::vector<std::string> out;
    for (const auto& s : subjects) {
        for (const auto* name : {&s.plan.host_if, &s.plan.bridge_if, &s.plan.tunnel_if}) {
            if (!name->empty()) {
                out.push_back(*name);
            }
        }
    }
    return out;
}

// Probes every container with a probe at once; for "none" and "vpn" ones,
// counts their packets on the host's other interfaces meanwhile. NAT'ed
// containers are probed first and apart, so their legitimate packets to
// the probe are never taken for a leak.
void active_checks(const std::vector<subject>& subjects, const options& opts, std::vector<finding>& out) {
    auto probe_all = [&](bool watched) {
        std::vector<std::pair<const subject*, std::future<probe_result>>> running;
        for (const auto& s : subjects) {
            bool is_watched = s.plan.egress != "nat";
            if (s.target && is_watched == watched) {
                // "none" is expected to time out; half the time is proof enough.
                auto timeout = s.plan.egress == "none" ? opts.timeout / 2 : opts.timeout;
                running.emplace_back(&s, std::async(std::launch::async, detail::probe_from, s.record.init.pid, *s.target,
                                                    timeout));
            }
        }
        for (auto& [s, fut] : running) {
            out.push_back(judge_egress(*s, fut.get()));
        }
    };
    probe_all(false);
    std::vector<const subject*> watched;
    std::vector<sys::ip_address> sources;
    for (const auto& s : subjects) {
        if (s.target && s.plan.egress != "nat") {
            watched.push_back(&s);
            for (const auto* pair : {&s.plan.v4, &s.plan.v6}) {
                if (*pair) {
                    sources.push_back((*pair)->local.address);
                }
            }
        }
    }
    if (watched.empty()) {
        return;
    }
    detail::capture cap(moat_links(subjects), watched.front()->target->address, sources);
    probe_all(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the last packets land
    std::string seen;
    int total = 0;
    for (const auto& [ifname, n] : cap.counts()) {
        total += n;
        seen += (seen.empty() ? "" : ", ") + ifname + ": " + std::to_string(n);
    }
    for (const auto* s : watched) {
        out.push_back({s->plan.name, "leak", total == 0, "packets outside moat's links and tunnels: " + (seen.empty() ? "no interface" : seen),
                       total == 0 ? "" : "traffic bypassed the confinement: check `moat check` static results, run `moat up`"});
    }
}

}  // namespace

std::vector<finding> run(const state::store& store, const options& opts) {
    std::vector<subject> subjects;
    for (auto& r : store.containers()) {
        // moat's own `_pipes` and `_tunnels` get the static checks (their
        // init and services: the pipes and tunnel daemons) but no probe.
        if (!opts.names.empty() && std::find(opts.names.begin(), opts.names.end(), r.name) == opts.names.end()) {
            continue;
        }
        auto p = plan::plan_from_json(r.spec);
        bool internal = r.name.front() == '_';
        auto target = internal || p.probe.empty() || !container::running(r) ? std::nullopt : detail::parse_probe(p.probe);
        subjects.push_back({std::move(r), std::move(p), target});
    }
    std::optional<std::string> table;
    try {
        table = firewall::context().current();
    } catch (const std::exception&) {
    }
    std::vector<finding> out;
    for (const auto& s : subjects) {
        detail::static_checks(store, s.record, s.plan, table, out);
        if (!s.plan.probe.empty() && !s.target && container::running(s.record)) {
            out.push_back({s.plan.name, "egress", false, "probe \"" + s.plan.probe + "\" is not http://ADDRESS[:PORT][/PATH] or ADDRESS:PORT", ""});
        }
    }
    active_checks(subjects, opts, out);
    return out;
}

}  // namespace moat::check
