// The order in which `up` starts containers (issue 14): which init gets its
// spec and its go when, relative to the firewall commit.
#include "converge/detail.hpp"
#include "converge/routing.hpp"

#include "container/runtime.hpp"
#include "sys/failpoint.hpp"

namespace moat::converge::detail {

namespace {

// The order in which `up` prepares what it starts: `_tunnels` first, the
// rest as planned. Issue 14: a confined container's first packet waits for
// its tunnel's daemon, which `_tunnels`' runner starts only once its init
// has its spec; so that init gets it before the others are even prepared.
// Safe because `_tunnels` has no link of moat's (host network) and nothing
// in `table inet moat` is about the runners or their daemons: the firewall
// confines containers' links, and none of the confined containers runs
// anything before its go, which release_all() sends after the commit.
std::vector<const plan::container_plan*> tunnels_first(const std::vector<const plan::container_plan*>& to_start) {
    std::vector<const plan::container_plan*> out;
    for (const auto* p : to_start) {
        if (p->name == plan::tunnels_container) {
            out.insert(out.begin(), p);
        } else {
            out.push_back(p);
        }
    }
    return out;
}

}  // namespace

// Prepares every container `up` starts, `_tunnels` first and released at
// once (tunnels_first()): its runners start their daemons while the others
// are prepared and the firewall is committed. Returns whether it was.
bool prepare_all(state::store& store, decision& d, const container::start_options& so,
                 std::vector<container::pending>& pend, std::vector<std::string>& attempted, stopwatch& sw) {
    bool released = false;
    for (const auto* p : tunnels_first(d.to_start)) {
        attempted.push_back(p->name);
        pend.push_back(container::prepare(store, *p, so));
        sw.step(p->name + ": namespaces, cgroup and network ready");
        d.keep.push_back(*p);
        if (p->name == plan::tunnels_container) {
            // Before a runner can put its rule "from <tunnel address>
            // lookup T" in place, every table T it serves ends in
            // "unreachable" (routing.hpp), recorded first so that a roll
            // back or `down` removes it, and the runners' rules with it.
            add_routing(store, {*p});
            container::send_spec(store, pend.back(), so);
            container::send_go(store, pend.back());
            released = true;
            sw.step(p->name + ": released, its runners start the tunnels");
            sys::failpoint("after-tunnels-released");
        }
    }
    return released;
}

// Before the commit: every other init gets its spec and builds its root
// while the firewall is committed (issue 14: a confined container's first
// packet waited for its root after the commit); none starts a service
// before its go (handoff.hpp).
void send_specs(state::store& store, std::vector<container::pending>& pend, bool tunnels_released,
                const container::start_options& so) {
    for (std::size_t i = tunnels_released ? 1 : 0; i < pend.size(); ++i) {
        container::send_spec(store, pend[i], so);
    }
}

// After the commit and the routing: the go for all, then each is waited
// for, `_tunnels` last (as before issue 14's change), so that a confined
// container is marked running, and may be entered, as soon as its own init
// is ready rather than after `_tunnels`'.
void release_all(state::store& store, std::vector<container::pending>& pend, bool tunnels_released, stopwatch& sw) {
    std::size_t others = tunnels_released ? 1 : 0;  // _tunnels is pend[0] then
    for (std::size_t i = others; i < pend.size(); ++i) {
        container::send_go(store, pend[i]);
    }
    auto await = [&](container::pending& pd) {
        container::await_ready(store, pd);
        sw.step(pd.record.name + ": root file system built, services starting");
    };
    for (std::size_t i = others; i < pend.size(); ++i) {
        await(pend[i]);
    }
    if (tunnels_released) {
        await(pend.front());
    }
}

}  // namespace moat::converge::detail
