// The active checks of `moat check`: from inside each container, its
// resolver, its probes and — for egress "none" and "vpn" — marked probes
// that a capture on the host's other interfaces must never see.
#include "check/active.hpp"
#include "container/runtime.hpp"

#include "converge/host.hpp"
#include "netlink/netlink.hpp"

#include <fstream>
#include <future>
#include <random>
#include <set>
#include <thread>

namespace moat::check::detail {

namespace {

// The host's global addresses by interface, and the default route's
// interface: read once per phase, after its probes, for judging them.
struct host_view {
    std::map<std::string, std::set<sys::ip_address>> addresses;
    std::string default_uplink;

    static host_view read() {
        host_view v;
        auto nl = netlink::socket::open();
        for (const auto& a : nl.addresses()) {
            if (a.scope == 0) {
                v.addresses[a.ifname].insert(a.local.address);
            }
        }
        v.default_uplink = converge::default_uplink();
        return v;
    }
    const std::set<sys::ip_address>& of(const std::string& ifname) const {
        static const std::set<sys::ip_address> none;
        auto it = addresses.find(ifname);
        return it == addresses.end() ? none : it->second;
    }
};

std::string family_check(const sys::ip_address& a) { return a.is_v4() ? "egress" : "egress6"; }

// Whether egress of this family is meant to work.
bool expected_to_connect(const subject& s, const sys::ip_address& a, const host_view& host) {
    if (s.plan.egress == "none") {
        return false;
    }
    if (s.plan.egress == "vpn" && a.is_v6()) {
        // Confined IPv6 leaves only when the tunnel carries IPv6.
        const auto& tunnel = host.of(s.plan.tunnel_if);
        return std::any_of(tunnel.begin(), tunnel.end(), [](const auto& addr) { return addr.is_v6(); });
    }
    return true;
}

finding judge_egress(const subject& s, const egress_outcome& r, const host_view& host) {
    finding f{s.plan.name, family_check(r.address), true, "", ""};
    if (!expected_to_connect(s, r.address, host)) {
        f.ok = !r.connected;
        std::string why = s.plan.egress == "none" ? "egress is none" : "the tunnel carries no IPv6";
        f.evidence = r.connected ? "reached " + r.target + " although " + why : "blocked as meant (" + why + "): " + r.error;
        f.hint = f.ok ? "" : "the firewall is not holding: run `moat up`";
        return f;
    }
    if (!r.connected) {
        f.ok = false;
        f.evidence = "cannot reach " + r.target + ": " + r.error;
        f.hint = s.plan.egress == "vpn" ? "is the tunnel up? see `moat status`" : "is the uplink up, and the probe reachable from the host?";
        return f;
    }
    f.evidence = "reached " + r.target;
    if (r.seen_as) {
        // A confined container has no uplink of its own: the host's is the one it must not show.
        const auto& uplink = host.of(s.plan.uplink.empty() ? host.default_uplink : s.plan.uplink);
        f.evidence += ", seen as " + r.seen_as->str();
        if (s.plan.egress == "vpn" && uplink.count(*r.seen_as) > 0) {
            f.ok = false;
            f.hint = "confined traffic left by the uplink: a leak";
        }
    }
    return f;
}

// The DNS check is made where it can hold: a resolver moat was told of, or
// a probe that names a host. Egress "none" only sends the question, marked.
bool asks_dns(const subject& s) {
    if (s.plan.egress == "none") {
        return false;
    }
    bool names = std::any_of(s.targets.begin(), s.targets.end(), [](const auto& t) { return !t.address; });
    return names || !s.plan.dns.empty();
}

// Where the probes of `s` go, given what the resolvers said.
std::vector<std::pair<const config::probe_target*, sys::ip_address>> destinations(
    const subject& s, const std::map<std::string, std::vector<sys::ip_address>>& resolved) {
    std::vector<std::pair<const config::probe_target*, sys::ip_address>> out;
    for (const auto& t : s.targets) {
        std::vector<sys::ip_address> as;
        if (t.address) {
            as.push_back(*t.address);
        } else if (auto it = resolved.find(t.host); it != resolved.end()) {
            as = it->second;
        }
        std::set<int> families;
        for (const auto& a : as) {
            // One address per family: the first the resolver gave.
            if ((a.is_v4() ? s.v4 : s.v6) && families.insert(a.family).second) {
                out.emplace_back(&t, a);
            }
        }
    }
    return out;
}

struct phase_result {
    std::vector<finding> findings;
};

class phase {
public:
    phase(std::vector<subject*> group, const options& opts, capture* cap, leak_selector selector)
        : _group(std::move(group)), _opts(opts), _cap(cap), _selector(std::move(selector)) {}

    void run(std::map<std::string, std::vector<sys::ip_address>>& resolved, std::vector<finding>& out) {
        parallel([&](subject& s) { ask(s); });
        for (auto* s : _group) {
            for (const auto& [name, as] : s->dns.resolved) {
                auto& into = resolved[name];
                into.insert(into.end(), as.begin(), as.end());
            }
        }
        if (_cap) {
            for (auto* s : _group) {
                for (const auto& [t, a] : destinations(*s, resolved)) {
                    _selector.destinations.push_back(a);
                }
            }
            _cap->select(_selector);
        }
        std::vector<std::vector<egress_outcome>> results(_group.size());
        parallel([&](subject& s) { results[index_of(s)] = probe(s, resolved); });
        auto host = host_view::read();
        for (std::size_t i = 0; i < _group.size(); ++i) {
            auto& s = *_group[i];
            if (s.dns.asked) {
                out.push_back({s.plan.name, "dns", s.dns.ok, s.dns.evidence,
                               s.dns.ok ? "" : s.plan.egress == "vpn" ? "confined DNS must go through the tunnel: is the tunnel up, and resolv.conf the tunnel's resolver?"
                                                                       : "is the resolver in the container's /etc/resolv.conf reachable from it?"});
            }
            for (const auto& r : results[i]) {
                out.push_back(judge_egress(s, r, host));
            }
            if (results[i].empty() && s.plan.egress != "none") {
                out.push_back({s.plan.name, "egress", false, "no probe address to reach: the probe's name did not resolve", "see the dns check"});
            }
        }
    }

private:
    template <typename F>
    void parallel(F&& f) {
        std::vector<std::future<void>> running;
        for (auto* s : _group) {
            running.push_back(std::async(std::launch::async, [&f, s] { f(*s); }));
        }
        for (auto& r : running) {
            r.get();
        }
    }

    std::size_t index_of(const subject& s) const {
        return static_cast<std::size_t>(std::find(_group.begin(), _group.end(), &s) - _group.begin());
    }

    void ask(subject& s) {
        try {
            container_net net(container::netns_path(s.record));
            if (asks_dns(s)) {
                s.dns = ask_resolver(net, s.resolvers, s.targets, s.v4, s.v6, s.port, _opts.timeout);
            } else if (_cap) {
                for (const auto& r : s.resolvers) {
                    marked_datagrams(net, r, s.port, _selector.icmp_nonce);
                }
            }
        } catch (const std::exception& e) {
            s.dns = {true, false, std::string("cannot ask from inside: ") + e.what(), {}};
        }
    }

    std::vector<egress_outcome> probe(subject& s, const std::map<std::string, std::vector<sys::ip_address>>& resolved) {
        try {
            return probe_in(container_net(container::netns_path(s.record)), s, resolved);
        } catch (const std::exception& e) {
            egress_outcome r;
            r.target = s.plan.probes.front();
            r.address = s.v4 || !s.v6 ? sys::ip_address::parse("0.0.0.0").value() : sys::ip_address::parse("::").value();
            r.error = std::string("cannot probe from inside: ") + e.what();
            return {r};
        }
    }

    std::vector<egress_outcome> probe_in(const container_net& net, subject& s,
                                         const std::map<std::string, std::vector<sys::ip_address>>& resolved) {
        // "none" is expected to time out; half the time is proof enough.
        auto timeout = s.plan.egress == "none" ? _opts.timeout / 2 : _opts.timeout;
        auto dests = destinations(s, resolved);
        std::vector<std::future<egress_outcome>> running;
        std::uint16_t port = s.port + 2;
        for (const auto& [t, a] : dests) {
            if (_cap) {
                marked_datagrams(net, a, s.port + 1, _selector.icmp_nonce);
            }
            running.push_back(std::async(std::launch::async, connect_probe, std::cref(net), std::cref(*t), a, port++, timeout));
        }
        std::vector<egress_outcome> out;
        for (auto& r : running) {
            out.push_back(r.get());
        }
        if (_cap) {
            for (const auto& [t, a] : dests) {
                marked_datagrams(net, a, s.port + 1, _selector.icmp_nonce);  // once more, after the connection's outcome
            }
        }
        return out;
    }

    std::vector<subject*> _group;
    const options& _opts;
    capture* _cap;
    leak_selector _selector;
};

// Which watched container a captured packet belongs to: by its source
// address, or by the marked port block it carries.
const subject* owner(const std::vector<subject*>& watched, const packet_summary& p) {
    for (const auto* s : watched) {
        bool from_it = std::find(s->addresses.begin(), s->addresses.end(), p.source) != s->addresses.end();
        if (from_it || (p.port >= s->port && p.port < s->port + ports_per_container)) {
            return s;
        }
    }
    return nullptr;
}

std::string protocol_name(int p) {
    switch (p) {
        case 1: return "icmp";
        case 6: return "tcp";
        case 17: return "udp";
        case 58: return "icmp6";
        default: return "proto " + std::to_string(p);
    }
}

void judge_leaks(const std::vector<subject*>& watched, capture& cap, std::vector<finding>& out) {
    std::map<const subject*, std::map<std::string, std::map<std::string, int>>> seen;  // subject → if → kind → n
    for (const auto& c : cap.drain()) {
        if (const auto* s = owner(watched, c.packet)) {
            ++seen[s][c.ifname][protocol_name(c.packet.protocol) + " to " + c.packet.destination.str()];
        }
    }
    for (const auto* s : watched) {
        std::string evidence;
        int total = 0;
        for (const auto& ifname : cap.interfaces()) {
            int n = 0;
            std::string kinds;
            for (const auto& [kind, count] : seen[s][ifname]) {
                n += count;
                kinds += (kinds.empty() ? "" : ", ") + std::to_string(count) + " " + kind;
            }
            total += n;
            evidence += (evidence.empty() ? "" : ", ") + ifname + ": " + std::to_string(n) + (kinds.empty() ? "" : " (" + kinds + ")");
        }
        for (const auto& [ifname, kinds] : seen[s]) {
            if (std::find(cap.interfaces().begin(), cap.interfaces().end(), ifname) == cap.interfaces().end()) {
                for (const auto& [kind, count] : kinds) {
                    total += count;
                    evidence += ", " + ifname + " (new): " + std::to_string(count) + " " + kind;
                }
            }
        }
        out.push_back({s->plan.name, "leak", total == 0,
                       "packets outside moat's links and tunnels: " + (evidence.empty() ? "no interface" : evidence),
                       total == 0 ? "" : "traffic bypassed the confinement: see the static checks above, run `moat up`"});
    }
}

// Below the host's ephemeral ports, so that none of its own connections
// carries a mark; above them if the range leaves no room below.
std::uint16_t marked_base(std::uint32_t span, std::mt19937& rng) {
    std::uint32_t low = 32768, high = 60999;
    std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> low >> high;
    std::uint32_t first = 10000, last = low > span ? low - span : 0;  // the base's bounds
    if (last <= first) {
        first = high + 1;
        last = 65536 - span;
    }
    if (last <= first) {
        first = 1024;  // too many containers for a gap: marks may meet the host's ports
        last = std::max<std::uint32_t>(first + 1, 65536 - span);
    }
    return static_cast<std::uint16_t>(first + rng() % (last - first));
}

}  // namespace

void active_checks(std::vector<subject>& subjects, const std::vector<int>& moat_ifindexes, const options& opts,
                   std::vector<finding>& out) {
    std::vector<subject*> nat, watched;
    for (auto& s : subjects) {
        if (!s.targets.empty()) {
            (s.plan.egress == "nat" ? nat : watched).push_back(&s);
        }
    }
    // Each container's block of marked ports, from a random base per run.
    std::mt19937 rng{std::random_device{}()};
    auto span = static_cast<std::uint32_t>(subjects.size() * ports_per_container);
    auto base = marked_base(span, rng);
    for (std::size_t i = 0; i < subjects.size(); ++i) {
        subjects[i].port = static_cast<std::uint16_t>(base + i * ports_per_container);
    }
    std::map<std::string, std::vector<sys::ip_address>> resolved;
    // NAT'ed containers first and apart: their legitimate packets are not leaks.
    phase(nat, opts, nullptr, {}).run(resolved, out);
    if (watched.empty()) {
        return;
    }
    leak_selector sel;
    sel.ignored_ifindexes = moat_ifindexes;
    sel.first_port = base;
    sel.last_port = static_cast<std::uint16_t>(base + span - 1);
    sel.icmp_nonce = static_cast<std::uint32_t>(rng());
    for (const auto* s : watched) {
        sel.sources.insert(sel.sources.end(), s->addresses.begin(), s->addresses.end());
        sel.destinations.insert(sel.destinations.end(), s->resolvers.begin(), s->resolvers.end());
        for (const auto& t : s->targets) {
            if (t.address) {
                sel.destinations.push_back(*t.address);
            }
        }
    }
    capture cap(sel);
    phase(watched, opts, &cap, sel).run(resolved, out);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the last packets land
    judge_leaks(watched, cap, out);
}

}  // namespace moat::check::detail
