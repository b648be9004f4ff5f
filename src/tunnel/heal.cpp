#include "tunnel/heal.hpp"

#include "tunnel/health.hpp"
#include "tunnel/tunnel.hpp"

#include "sys/fs.hpp"

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace moat::tunnel {

namespace {

using namespace std::chrono_literals;

// The longest a heal waits for, unless healAfter itself is longer; also
// how long after a heal the path must work again for the back-off to end.
constexpr std::chrono::seconds back_off_cap = 300s;

std::string secs(heal_judge::clock::duration d) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + " s";
}

}  // namespace

heal_judge::heal_judge(std::chrono::seconds heal_after, std::string what)
    : _heal_after(heal_after), _wait(heal_after), _what(std::move(what)) {}

void heal_judge::daemon_started(clock::time_point now) {
    // Counters start at 0 with a new daemon; it has not spoken to the far
    // end yet, so "not connected" runs from its start.
    _last = heal_sample{false, "started", 0, 0};
    _unanswered_since.reset();
    _down_since = now;
}

std::string heal_judge::observe(const heal_sample& s, clock::time_point now) {
    if (_heal_after.count() == 0) {
        return "";
    }
    const heal_sample last = _last.value_or(heal_sample{false, "", 0, 0});
    // Smaller counters: openvpn reconnected inside its process and counts
    // afresh; neither growth nor silence can be told from that sample.
    const bool reset = s.rx < last.rx || s.tx < last.tx;
    const bool rx_grew = !reset && s.rx > last.rx;
    const bool tx_grew = !reset && s.tx > last.tx;
    _last = s;
    if (!s.connected) {
        if (!_down_since) {
            _down_since = now;
        }
        _unanswered_since.reset();
    } else {
        _down_since.reset();
        if (reset || rx_grew || !last.connected) {
            // Connecting took the server's answer: it spoke.
            _unanswered_since.reset();
        } else if (tx_grew && !_unanswered_since) {
            _unanswered_since = now;
        }
        if (rx_grew && _last_heal && now - *_last_heal >= back_off_cap) {
            _wait = _heal_after;  // working again long after the last heal: not a heal loop
            _last_heal.reset();
        }
    }
    if (_down_since && now - *_down_since >= _wait) {
        return _what + " not connected (" + (s.state.empty() ? "no state" : s.state) + ") for " +
               secs(now - *_down_since);
    }
    if (_unanswered_since && now - *_unanswered_since >= _wait) {
        return "nothing received from the server for " + secs(now - *_unanswered_since) + " while sending to it";
    }
    return "";
}

void heal_judge::healed(clock::time_point now) {
    _last_heal = now;
    _wait = std::min(_wait * 2, std::max(back_off_cap, _heal_after));
}

std::optional<heal_sample> read_heal_sample(const plan::tunnel_plan& t) {
    try {
        if (t.type == "wireguard") {
            // The runner waits for the answer: a short limit keeps its
            // routing responsive when the daemon hangs.
            auto peers = parse_uapi_get(uapi_get(uapi_socket_path(t.device), 500ms));
            heal_sample s;
            for (const auto& p : peers) {
                s.rx += p.rx_bytes;
                s.tx += p.tx_bytes;
            }
            return s;
        }
        std::string text;
        try {
            text = sys::read_file(ovpn_record_path(t));
        } catch (const std::system_error& e) {
            if (e.code().value() != ENOENT) {
                throw;
            }
        }
        auto r = parse_ovpn_record(text);
        if (!r) {
            return heal_sample{false, "", 0, 0};  // no state reported yet
        }
        return heal_sample{r->state == "CONNECTED", r->state, r->bytes_in, r->bytes_out};
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

healer::healer(const plan::tunnel_plan& t)
    : _t(t), _judge(std::chrono::seconds(t.heal_after), daemon_argv(t)[0]) {}

void healer::daemon_started() {
    auto now = heal_judge::clock::now();
    _judge.daemon_started(now);
    _next_sample = now + 500ms;
}

// The loop wakes for each sample (until_next_sample) and, for OpenVPN, at
// each `>BYTECOUNT` line, once a second. A sample every 500 ms keeps what
// the judge sees at most half a second behind the counters: woken only
// once a second, a failure 5 ms short of healAfter waited a whole second
// more.
std::string healer::check() {
    auto now = heal_judge::clock::now();
    if (!enabled() || now < _next_sample) {
        return "";
    }
    _next_sample = now + 500ms;
    auto s = read_heal_sample(_t);
    return s ? _judge.observe(*s, now) : "";
}

std::chrono::milliseconds healer::until_next_sample(std::chrono::milliseconds longest) const {
    if (!enabled()) {
        return longest;
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(_next_sample - heal_judge::clock::now());
    return std::clamp(left, std::chrono::milliseconds(0), longest);
}

void healer::healed() { _judge.healed(heal_judge::clock::now()); }

}  // namespace moat::tunnel
