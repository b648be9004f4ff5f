// What planning needs to know of the host before `up` (or a CNI ADD)
// touches it: its links, addresses and routes, and what runs already.
#pragma once

#include "plan/network.hpp"
#include "state/store.hpp"

#include <string>
#include <vector>

namespace moat::converge {

// What planning needs from the host: its default route's interface, its
// links, addresses and routes (netlink), and the running containers as the
// records have them. Reads only.
plan::host_context host_context_of(const state::store& store);

// Tells the tunnel runners of `_tunnels` (if among `plans`) which instance
// they run for: they mark their devices as its (tunnel/tun_device.hpp).
void mark_tunnel_owner(std::vector<plan::container_plan>& plans, const std::string& instance);

}  // namespace moat::converge
