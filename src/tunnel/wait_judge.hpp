// The pure half of waiting for a tunnel (`moat up`'s honest wait,
// converge/tunnel_wait.hpp): what one look at a tunnel means, and which of
// its daemon's log lines say why it is not up.
//
// Theory of operation: a tunnel passes traffic for its confined containers
// only when both halves of the path are there —
//  * the far end answers (tunnel/health.hpp's evidence: a WireGuard
//    handshake since wireguard-go started, an OpenVPN that is CONNECTED and
//    hears from its server), and
//  * the container's side routes into the device: "default dev <device>"
//    in the tunnel's table. The runner adds it only after the device is up
//    with an address (runner.cpp keep_routes), and for OpenVPN after it
//    recorded CONNECTED, so evidence alone can come a few milliseconds
//    before a confined packet could leave: it would meet the table's
//    `unreachable` fallback. A wait that ends before the route is there
//    would make the first connection after `up` fail.
// A daemon that dies while the wait watches it (AUTH_FAILED, a fatal
// option, a refused address: its runner's service goes to "restarting"
// with back-off) is a failure at once: it will not come up by itself. One
// already in back-off at the first look (killed by someone, failing since
// yesterday) gets its next run judged instead.
#pragma once

#include "tunnel/health.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace moat::tunnel {

// One look at a tunnel.
struct tunnel_sample {
    std::string type;           // "openvpn" | "wireguard"
    // The runner's service in `_tunnels`' services.json: "running",
    // "restarting", "exited", "stopped", "" (not listed), or "gone" when
    // `_tunnels` itself is not running.
    std::string service_state;
    int restarts = 0;           // its restart count
    health h;                   // read_health()
    bool routed = false;        // the tunnel's table has its default route into the device
};

enum class wait_phase { waiting, up, failed };

struct wait_verdict {
    wait_phase phase = wait_phase::waiting;
    // A short label of the state that changes only when the state does
    // (no running seconds in it): "connecting (WAIT)", "waiting for a
    // handshake with 203.0.113.2:51820", "openvpn exited, restarting".
    std::string state;
};

// `restarts_seen`: the service's restart count at the last look that found
// it running, -1 if none did yet (the caller keeps it: tunnel_wait.cpp).
wait_verdict judge_wait(const tunnel_sample& s, int restarts_seen);

// The daemon's last meaningful lines in its service log `text` (the init's
// lines, "<RFC 3339 time> <text>"), from the runs of the last two starts of
// tunnel `name`'s runner: errors and what the daemon was trying, not its
// banner, its notes or moat's own progress. Time stamps are cut, repeats
// kept once (the last), at most `max` lines, oldest first, each with its
// control bytes as \xHH (sys/printable.hpp: a compromised daemon writes
// what it likes, and `up` prints these on the operator's terminal).
std::vector<std::string> reason_lines(const std::string& text, const std::string& name, std::size_t max = 5);

}  // namespace moat::tunnel
