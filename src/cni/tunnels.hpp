// VPN egress for pods: "egress": "vpn:<tunnel>" with "moatConfig", the
// moat file whose [tunnels.<tunnel>] defines the tunnel.
//
// Theory of operation. A pod's tunnel is run exactly as a file's is: by a
// runner in the state directory's internal `_tunnels` container, started
// with the same planner and the same `up` (so the same checks of the file,
// the same supervision, and a tunnel device marked as this instance's).
// The first pod that needs a tunnel starts `_tunnels` (or restarts it with
// the tunnel added: the kill switch of the pods it already serves holds
// meanwhile); an edited moatConfig restarts it the same way at the next
// ADD, as an edited file does at the next `up`. A pod is confined before
// its ADD returns: the policy rule into the tunnel's table (whose fallback
// is unreachable) and the firewall's tunnel-only output chain are both in
// place whether or not the tunnel is up yet, so its first packet either
// goes through the tunnel or nowhere. ADD does not wait for the tunnel: an
// engine's ADD has a deadline, and a pod starting while its tunnel connects
// sees a network that is not there yet rather than a leak. When no running
// container or pod is confined to any tunnel `_tunnels` serves, the DEL
// that noticed stops it.
//
// `_tunnels` belongs to one file. If a `moat up` of another file runs it
// under the same state directory, a pod may use the tunnels it serves but
// cannot add one: that is refused (code 7), never a restart of another
// file's tunnels.
#pragma once

#include "cni/netconf.hpp"
#include "plan/plan.hpp"
#include "state/store.hpp"

namespace moat::cni {

// Confines `pod` (planned with egress "vpn") to nc.tunnel and makes sure
// `_tunnels` runs that tunnel. The store's lock is held. Throws cni::error
// invalid_config for a moatConfig that cannot be used (with its file:line).
void confine_pod(state::store& st, const netconf& nc, plan::container_plan& pod);

// Stops `_tunnels` when nothing running is confined to a tunnel it serves
// and no network kept when idle (keepWhenIdle) names one.
void stop_unused_tunnels(state::store& st);

}  // namespace moat::cni
