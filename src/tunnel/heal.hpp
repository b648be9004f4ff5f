// Heal: the runner restarts a tunnel daemon whose data path has failed for
// the tunnel's `healAfter` seconds (0 = never), with back-off between
// heals, and never opens the kill switch to do it.
//
// Theory of operation. About once a second the runner samples what the daemon
// says about its far end (read_heal_sample): the bytes received from and
// sent to the server, and for OpenVPN whether it is CONNECTED. A device
// that is up proves nothing (health.hpp), and neither does silence on an
// idle tunnel, so the data path counts as failed only when:
//
//  * something was sent and nothing at all came back for healAfter
//    (bytes out grew, bytes in stayed flat). For WireGuard this is exact:
//    a peer that receives data answers within KEEPALIVE_TIMEOUT (10 s)
//    even with nothing to say (a passive keepalive), and a sender that
//    hears nothing re-initiates a handshake every REKEY_TIMEOUT (5 s), so
//    a working path never leaves tx growing and rx flat for long; an idle
//    tunnel sends nothing and is never healed. For OpenVPN the server's
//    keepalive pings (`keepalive`, pushed by providers as ping/ping-restart)
//    are the answer; a server that never pings and a container that only
//    sends one-way datagrams would look failed — with healAfter ≥ 60 s
//    that is a daemon restart a minute, bounded by the back-off.
//  * OpenVPN: the daemon has not been CONNECTED for healAfter since it
//    started or last left CONNECTED (stuck in RESOLVE, WAIT, AUTH, or
//    RECONNECTING, say behind a name that resolves to a dead address).
//    openvpn's own ping-restart reconnects inside the process first when
//    its ping-restart is shorter than healAfter; heal only acts on what
//    that did not fix.
//
// What the daemon cannot tell (it hangs, it no longer answers its control
// socket) is no evidence either way: such a sample is skipped.
//
// Healing is the runner's: it takes the device down first — the kernel
// drops its routes, and the tunnel's table falls back to `unreachable` —
// then stops the daemon and starts a new one with fresh sockets and
// device, as at start (a WireGuard endpoint is resolved again). Each heal
// doubles the failure time the next one waits for (healAfter, 2×, 4×, ...,
// at most 5 minutes or healAfter if longer); the back-off returns to
// healAfter once the path has carried traffic again 5 minutes after the
// last heal.
#pragma once

#include "plan/tunnel.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace moat::tunnel {

struct heal_sample {
    bool connected = true;       // OpenVPN: state CONNECTED; WireGuard has no states
    std::string state;           // OpenVPN's state name, for the log
    std::uint64_t rx = 0, tx = 0;  // bytes from and to the far end since the daemon started
};

// Pure: decides from samples and times (unit-tested).
class heal_judge {
public:
    using clock = std::chrono::steady_clock;
    // `heal_after` 0 never heals; `what` names the daemon in reasons.
    heal_judge(std::chrono::seconds heal_after, std::string what);

    // A new daemon runs since `now`: failure times start over.
    void daemon_started(clock::time_point now);
    // The reason to heal now ("" = none), from the latest sample.
    std::string observe(const heal_sample& s, clock::time_point now);
    // The runner healed at `now`: the next heal waits twice as long.
    void healed(clock::time_point now);

    std::chrono::seconds wait() const { return _wait; }  // failure time the next heal needs

private:
    std::chrono::seconds _heal_after, _wait;
    std::string _what;
    std::optional<heal_sample> _last;
    std::optional<clock::time_point> _unanswered_since;  // tx grew with no rx since
    std::optional<clock::time_point> _down_since;        // not connected since
    std::optional<clock::time_point> _last_heal;
};

// The daemon's current counters and state, read in the runner's own mount
// namespace (WireGuard: UAPI get=1; OpenVPN: the record openvpn.cpp keeps);
// nullopt when the daemon does not tell.
std::optional<heal_sample> read_heal_sample(const plan::tunnel_plan& t);

// The runner's side: samples at most twice a second.
class healer {
public:
    explicit healer(const plan::tunnel_plan& t);
    void daemon_started();
    // "" or the reason to heal now.
    std::string check();
    // How long the runner's loop may sleep before check() has a sample
    // to take: at most `longest`.
    std::chrono::milliseconds until_next_sample(std::chrono::milliseconds longest) const;
    void healed();
    bool enabled() const { return _t.heal_after > 0; }
    std::chrono::seconds wait() const { return _judge.wait(); }

private:
    const plan::tunnel_plan& _t;
    heal_judge _judge;
    heal_judge::clock::time_point _next_sample{};
};

}  // namespace moat::tunnel
