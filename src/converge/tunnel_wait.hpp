// Waiting until tunnels pass traffic: what makes `moat up` honest (and
// what `moat run --egress vpn:NAME` can call before its command starts).
//
// Theory of operation: `up` applies everything first (the kill switch is
// closed from the start: a confined container's table falls back to
// `unreachable`), then looks at each tunnel every 100 ms until it passes
// traffic (tunnel/wait_judge.hpp: the far end answered and the tunnel's
// default route is in its table), its daemon died, or the limit passed.
// Nothing is undone on failure: the tunnel may still come later, and
// `status`/`check` tell the truth meanwhile. A tunnel that is up at the
// first look costs one look. Reading is all it does: the runner's
// services.json and log in the state directory, the daemon's evidence
// through /proc/<`_tunnels` init>/root (tunnel/health.hpp), the tunnel's
// table over netlink.
#pragma once

#include "plan/tunnel.hpp"
#include "state/store.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace moat::converge {

struct tunnel_wait_options {
    std::chrono::milliseconds limit{30000};
    // Called with one line (no newline) at each state change of a tunnel;
    // empty = silent.
    std::function<void(const std::string&)> progress;
};

struct tunnel_wait_failure {
    std::string tunnel, type;
    std::string state;                 // its last state ("connecting (WAIT)", "openvpn exited; ...")
    double waited = 0;                 // seconds
    bool timed_out = false;            // the limit passed (else: the daemon died)
    std::vector<std::string> reasons;  // the daemon's last meaningful log lines
    // The whole message for the user, several lines, no trailing newline.
    std::string message() const;
};

// Waits until every tunnel of `tunnels` passes traffic or cannot within
// o.limit; the ones that do not. The tunnels' runners are services of the
// `_tunnels` container recorded in `store` (the caller holds its lock or
// has just brought it up).
std::vector<tunnel_wait_failure> wait_for_tunnels(const state::store& store,
                                                  const std::vector<plan::tunnel_plan>& tunnels,
                                                  const tunnel_wait_options& o);

}  // namespace moat::converge
