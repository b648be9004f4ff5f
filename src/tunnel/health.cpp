#include "tunnel/health.hpp"

#include "tunnel/tunnel.hpp"

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/printable.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <limits.h>
#include <sstream>

namespace moat::tunnel {

namespace {

std::optional<std::uint64_t> number(const std::string& s) {
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    return std::stoull(s);
}

std::vector<std::pair<std::string, std::string>> key_values(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (auto eq = line.find('='); eq != std::string::npos) {
            out.emplace_back(line.substr(0, eq), line.substr(eq + 1));
        }
    }
    return out;
}

std::string seconds(std::int64_t s) { return std::to_string(std::max<std::int64_t>(s, 0)) + " s"; }

// `path` inside the mount namespace of `pid`, for a caller in another one.
// /proc/<pid>/root is that process's root, but an absolute symlink under
// it (Debian's /var/run → /run) would resolve against the caller's root,
// so one level of it is followed by hand.
std::string inside(pid_t pid, const std::string& path) {
    const std::string root = "/proc/" + std::to_string(pid) + "/root";
    if (path.rfind("/var/run/", 0) == 0) {
        char target[PATH_MAX];
        ssize_t n = ::readlink((root + "/var/run").c_str(), target, sizeof target - 1);
        if (n > 0) {
            std::string t(target, static_cast<std::size_t>(n));
            std::string rest = path.substr(8);
            return t.front() == '/' ? root + t + rest : root + "/var/" + t + rest;
        }
    }
    return root + path;
}

}  // namespace

std::vector<wg_peer_status> parse_uapi_get(const std::string& answer) {
    std::vector<wg_peer_status> peers;
    std::optional<std::uint64_t> err;
    for (const auto& [key, value] : key_values(answer)) {
        if (key == "errno") {
            err = number(value);
        } else if (key == "public_key") {
            peers.push_back({value, "", 0, 0, 0});
        } else if (peers.empty()) {
            continue;  // the interface's own keys
        } else if (key == "endpoint") {
            peers.back().endpoint = sys::printable(value);  // shown by `up`; the daemon is untrusted
        } else if (key == "last_handshake_time_sec") {
            peers.back().last_handshake = static_cast<std::int64_t>(number(value).value_or(0));
        } else if (key == "rx_bytes") {
            peers.back().rx_bytes = number(value).value_or(0);
        } else if (key == "tx_bytes") {
            peers.back().tx_bytes = number(value).value_or(0);
        }
    }
    if (!err) {
        throw moat::error("wireguard-go's UAPI answer has no errno line");
    }
    if (*err != 0) {
        throw moat::error("wireguard-go answered get=1 with errno=" + std::to_string(*err));
    }
    return peers;
}

std::string uapi_get(const std::string& path, std::chrono::milliseconds limit) {
    return uapi_exchange(path, "get=1\n\n", limit);
}

std::string format_ovpn_record(const ovpn_record& r) {
    return "state=" + r.state + "\ndetail=" + r.detail + "\nsince=" + std::to_string(r.since) +
           "\nlast_received=" + std::to_string(r.last_received) + "\nbytes_in=" + std::to_string(r.bytes_in) +
           "\nbytes_out=" + std::to_string(r.bytes_out) + "\n";
}

std::optional<ovpn_record> parse_ovpn_record(const std::string& text) {
    ovpn_record r;
    for (const auto& [key, value] : key_values(text)) {
        auto n = number(value);
        if (key == "state") {
            r.state = value;
        } else if (key == "detail") {
            r.detail = value;
        } else if (key == "since" && n) {
            r.since = static_cast<std::int64_t>(*n);
        } else if (key == "last_received" && n) {
            r.last_received = static_cast<std::int64_t>(*n);
        } else if (key == "bytes_in" && n) {
            r.bytes_in = *n;
        } else if (key == "bytes_out" && n) {
            r.bytes_out = *n;
        }
    }
    if (r.state.empty()) {
        return std::nullopt;
    }
    return r;
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_ovpn_bytecount(const std::string& line) {
    std::string body = line;
    if (!body.empty() && body.back() == '\r') {
        body.pop_back();
    }
    if (body.rfind(">BYTECOUNT:", 0) != 0) {
        return std::nullopt;
    }
    body.erase(0, 11);
    auto comma = body.find(',');
    if (comma == std::string::npos) {
        return std::nullopt;
    }
    auto in = number(body.substr(0, comma)), out = number(body.substr(comma + 1));
    if (!in || !out) {
        return std::nullopt;
    }
    return std::pair{*in, *out};
}

std::string ovpn_record_path(const plan::tunnel_plan& t) { return private_dir(t) + "/health"; }

health judge_wireguard(const std::vector<wg_peer_status>& peers, std::int64_t now, std::int64_t max_silence) {
    health h;
    if (peers.empty()) {
        h.state = "down";
        h.evidence = "wireguard-go has no peer";
        return h;
    }
    auto newest = std::max_element(peers.begin(), peers.end(), [](const auto& a, const auto& b) {
        return a.last_handshake < b.last_handshake;
    });
    h.endpoint = newest->endpoint;
    if (newest->last_handshake == 0) {
        h.state = "connecting";
        h.evidence = "no handshake since wireguard-go started";
        return h;
    }
    h.last_handshake = newest->last_handshake;
    std::int64_t age = now - newest->last_handshake;
    h.state = age > max_silence ? "down" : "up";
    h.evidence = age > max_silence ? "no handshake for " + seconds(age) : "last handshake " + seconds(age) + " ago";
    return h;
}

health judge_openvpn(const std::optional<ovpn_record>& r, std::int64_t now, std::int64_t max_silence) {
    health h;
    if (!r) {
        h.state = "connecting";
        h.evidence = "openvpn has reported no state yet";
        return h;
    }
    h.daemon_state = r->state;
    h.since = r->since;
    if (r->state != "CONNECTED") {
        h.last_error = r->detail;
        h.state = r->state == "EXITING" ? "down" : "connecting";
        h.evidence = "openvpn state " + r->state + (r->detail.empty() ? "" : " (" + r->detail + ")") + " for " +
                     seconds(now - r->since);
        return h;
    }
    h.last_received = r->last_received;
    std::int64_t age = now - r->last_received;
    h.state = age > max_silence ? "down" : "up";
    const std::string connected = "openvpn CONNECTED for " + seconds(now - r->since);
    h.evidence = age > max_silence ? connected + ", but nothing received from the server for " + seconds(age)
                                   : connected + ", last received from the server " + seconds(age) + " ago";
    return h;
}

std::int64_t max_silence() {
    if (const char* v = std::getenv("MOAT_TUNNEL_MAX_SILENCE")) {
        if (auto n = number(v); n && *n > 0) {
            return static_cast<std::int64_t>(*n);
        }
    }
    return 180;  // REJECT_AFTER_TIME
}

health read_health(const plan::tunnel_plan& t, pid_t tunnels_pid) {
    const std::int64_t now = std::time(nullptr);
    try {
        if (t.type == "wireguard") {
            return judge_wireguard(parse_uapi_get(uapi_get(inside(tunnels_pid, uapi_socket_path(t.device)))), now,
                                   max_silence());
        }
        std::optional<ovpn_record> r;
        try {
            r = parse_ovpn_record(sys::read_file(inside(tunnels_pid, ovpn_record_path(t))));
        } catch (const std::system_error& e) {
            if (e.code().value() != ENOENT) {
                throw;
            }
        }
        return judge_openvpn(r, now, max_silence());
    } catch (const std::exception& e) {
        health h;
        h.evidence = std::string("cannot read the daemon's state: ") + e.what();
        return h;
    }
}

}  // namespace moat::tunnel
