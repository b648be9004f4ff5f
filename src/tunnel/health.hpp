// Is a tunnel's data path working? Evidence for `moat check` and
// `moat status`, read without disturbing the runner or its daemon.
//
// Theory of operation: a tunnel device that is up proves nothing — the
// runner brings wireguard-go's device up at start whether or not the peer
// ever answers, and OpenVPN stays CONNECTED until its ping-restart timer
// fires, minutes later with most providers. What does prove a path is the
// far end speaking:
//
//  * WireGuard: the peer's last handshake, read through wireguard-go's UAPI
//    socket (`get=1`, wireguard.com/xplatform: `last_handshake_time_sec`
//    per peer). A session key is rejected 180 s after its handshake
//    (REJECT_AFTER_TIME) and a live session rekeys after 120 s
//    (REKEY_AFTER_TIME) whenever traffic or a persistent keepalive flows, so
//    a handshake older than 180 s means no working path; none at all means
//    the peer never answered since the daemon started. The socket lives in
//    `_tunnels`' private /run, reached through /proc/<its init>/root.
//  * OpenVPN: the runner is openvpn's only management client (openvpn.cpp);
//    it records the last state line and, from `bytecount` notifications,
//    when bytes last arrived from the server (a server's keepalive pings
//    are traffic), in a file of its private directory that `check` reads
//    the same way. No state, a state other than CONNECTED, or nothing
//    received for longer than the limit is no working path.
//
// The limit is 180 s; tests may lower it with MOAT_TUNNEL_MAX_SILENCE
// (seconds, docs/TESTING.md) to see a dead peer without waiting minutes.
#pragma once

#include "plan/tunnel.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moat::tunnel {

// One peer of a UAPI `get=1` answer.
struct wg_peer_status {
    std::string public_key;              // hex, as the UAPI writes it
    std::string endpoint;                // "203.0.113.2:51820", "" if none
    std::int64_t last_handshake = 0;     // unix seconds; 0 = never
    std::uint64_t rx_bytes = 0, tx_bytes = 0;
};
// Parses the answer to `get=1` (key=value lines, "errno=N" last); throws
// with the errno when the daemon refused.
std::vector<wg_peer_status> parse_uapi_get(const std::string& answer);
// Sends `get=1` over the UAPI socket at `path`; the raw answer (throws
// when none comes within `limit`).
std::string uapi_get(const std::string& path, std::chrono::milliseconds limit = std::chrono::seconds(2));

// What the OpenVPN runner last learnt from openvpn, as it records it.
struct ovpn_record {
    std::string state;                   // CONNECTED, RECONNECTING, WAIT, ...
    std::string detail;                  // the state's description (ping-restart, SIGUSR1, ...)
    std::int64_t since = 0;              // unix seconds of the state change
    std::int64_t last_received = 0;      // unix seconds the server's bytes last grew
    std::uint64_t bytes_in = 0, bytes_out = 0;
};
std::string format_ovpn_record(const ovpn_record& r);
std::optional<ovpn_record> parse_ovpn_record(const std::string& text);
// ">BYTECOUNT:in,out" → {in, out}; nullopt for any other line.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_ovpn_bytecount(const std::string& line);
// Where the runner keeps it (in `_tunnels`' mount namespace).
std::string ovpn_record_path(const plan::tunnel_plan& t);

struct health {
    std::string state = "unknown";       // "up" | "connecting" | "down" | "unknown"
    std::string evidence;                // "last handshake 12 s ago", "no handshake for 240 s", ...
    std::optional<std::int64_t> last_handshake;  // WireGuard: unix seconds
    std::optional<std::int64_t> last_received;   // OpenVPN: unix seconds
    std::string last_error;              // OpenVPN: the description of its last non-CONNECTED state
    std::optional<std::int64_t> since;   // OpenVPN: unix seconds its current state began (up since, connecting since)
    std::string daemon_state;            // OpenVPN: its state name (WAIT, AUTH, CONNECTED, ...); "" if none
    std::string endpoint;                // WireGuard: the peer's endpoint (the newest handshake's, else the first)
    bool ok() const { return state == "up"; }
};

health judge_wireguard(const std::vector<wg_peer_status>& peers, std::int64_t now, std::int64_t max_silence);
health judge_openvpn(const std::optional<ovpn_record>& r, std::int64_t now, std::int64_t max_silence);

// 180 s, or MOAT_TUNNEL_MAX_SILENCE.
std::int64_t max_silence();

// Reads the evidence of tunnel `t` whose runner is a service of the
// `_tunnels` container with init `tunnels_pid`. Never throws: what cannot
// be read is state "unknown" with the reason.
health read_health(const plan::tunnel_plan& t, pid_t tunnels_pid);

}  // namespace moat::tunnel
