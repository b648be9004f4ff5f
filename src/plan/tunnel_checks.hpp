// What can be known about a tunnel before anything is started: its
// server's addresses and the tunnel's own addresses. Each problem found is
// a usage_error at the file's line (exit 2, nothing changed).
//
// Theory of operation:
//  * WireGuard hostname endpoints are resolved here, at `up`, and the
//    runner gets the numeric endpoint in its plan (tunnel_plan::endpoints):
//    it never asks DNS itself, so a restart after the network changed
//    does not depend on a resolver that may only be reachable through a
//    tunnel. Of several answers the lowest address is taken, so a round-
//    robin name that answers the same set in another order does not look
//    like an edit (a changed plan restarts the tunnel).
//  * A name that does not exist (EAI_NONAME: the resolver answered "no
//    such name") is a mistake in the file: exit 2. A resolver that cannot
//    be reached (EAI_AGAIN: a laptop offline at boot) is not: `up` goes on
//    with a note, the runner resolves at each start until it can, and the
//    wait of `up` tells that the tunnel is not up.
//  * OpenVPN resolves its `remote` names itself (and tries the next remote
//    when one fails), so only a port out of range, or a file whose every
//    remote is a name that does not exist, is refused here.
//  * A WireGuard Address that is the host's own, or in a subnet the host or
//    moat's networks already route, would take the host's or a
//    container's traffic into the tunnel: refused, as the OpenVPN runner
//    refuses such an address when a server pushes it (tunnel/openvpn.cpp).
#pragma once

#include "plan/network.hpp"
#include "plan/tunnel.hpp"

#include <string>
#include <vector>

namespace moat::plan {

enum class lookup_status { ok, no_such_name, unavailable };
struct lookup {
    lookup_status status = lookup_status::ok;
    std::string endpoint;  // "198.51.100.7:51820", "[2001:db8::1]:51820"
    std::string error;     // gai_strerror's text when not ok
};
// Resolves `host` (a name or a numeric address, without brackets) for UDP
// to `port`; the lowest address answered.
lookup resolve_udp(const std::string& host, const std::string& port);

// WireGuard: fills t.endpoints for the hostname endpoints of `c` (read from
// t.config_path); throws usage_error "<file>:<line>: ..." for a name that
// does not exist; notes (for stderr) the ones it could not resolve now.
void resolve_wg_endpoints(const wg_config& c, tunnel_plan& t, std::vector<std::string>& notes);

// OpenVPN: every `remote HOST [PORT [PROTO]]` and `port`/`rport` line of
// `text` (the file `file`).
void check_ovpn_remotes(const std::string& text, const std::string& file, std::vector<std::string>& notes);

// WireGuard tunnels' Address lines against the host's addresses and
// routes and moat's networks and containers (`networks`, `plans`).
void check_tunnel_addresses(const std::vector<tunnel_plan>& tunnels, const host_context& ctx,
                            const std::vector<network_plan>& networks, const std::vector<container_plan>& plans);

}  // namespace moat::plan
