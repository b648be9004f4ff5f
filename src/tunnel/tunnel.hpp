// The tunnel runner: `moat __tunnel <plan JSON>`, the service that keeps one
// VPN tunnel up inside the internal `_tunnels` container (plan/tunnel.hpp).
//
// It starts the real daemon as its child — `wireguard-go -f <device>`, then
// configured through its UAPI socket (keys, peers, endpoint), or `openvpn`
// with the user's file and moat's overrides (its device name, route-nopull,
// pushed routes, redirect-gateway and DNS options filtered out, no user
// scripts) — and while the child lives it keeps the tunnel's default route
// in the tunnel's own table whenever the device is up. The kernel removes
// that route with the device, so when the daemon dies the table falls back
// to its `unreachable` default: confined traffic stops, it never takes
// another way. The runner exits with the daemon, and the init restarts it
// with back-off. SIGTERM is passed on to the daemon.
#pragma once

#include "plan/tunnel.hpp"

#include <string>
#include <vector>

namespace moat::tunnel {

// Runs until the daemon exits or SIGTERM; returns the exit status.
int run(const plan::tunnel_plan& t);

// The daemon's command line (exposed for tests and `moat plan`).
std::vector<std::string> daemon_argv(const plan::tunnel_plan& t);

// WireGuard's UAPI "set" request for `c` (keys in hex, endpoints resolved).
std::string uapi_set_request(const plan::wg_config& c);

// Sends a UAPI request over the daemon's socket; throws with the daemon's errno.
void uapi_send(const std::string& socket_path, const std::string& request);

}  // namespace moat::tunnel
