#include "tunnel/wait_judge.hpp"

#include "sys/printable.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>
#include <string_view>

namespace moat::tunnel {

namespace {

std::string daemon_name(const std::string& type) { return type == "wireguard" ? "wireguard-go" : "openvpn"; }

// What openvpn's management states mean (management-notes.txt, "STATE").
std::string ovpn_meaning(const std::string& state) {
    static const std::pair<const char*, const char*> meanings[] = {
        {"CONNECTING", "starting"},
        {"WAIT", "no answer from the server yet"},
        {"AUTH", "authenticating"},
        {"GET_CONFIG", "waiting for the server's settings"},
        {"ASSIGN_IP", "assigning the address"},
        {"ADD_ROUTES", "adding routes"},
        {"RECONNECTING", "restarting the connection"},
        {"RESOLVE", "resolving the server's name"},
        {"TCP_CONNECT", "connecting over TCP"},
        {"AUTH_PENDING", "waiting for an authentication step"},
    };
    for (const auto& [name, meaning] : meanings) {
        if (state == name) {
            return std::string(": ") + meaning;
        }
    }
    return "";
}

std::string waiting_label(const tunnel_sample& s) {
    const health& h = s.h;
    if (h.ok()) {
        return "connected, waiting for its route";
    }
    if (s.type == "wireguard") {
        // No peer yet: the runner configures it over the UAPI just after
        // wireguard-go started.
        if (h.state == "unknown" || (h.state == "down" && h.endpoint.empty() && !h.last_handshake)) {
            return "starting";
        }
        std::string with = h.endpoint.empty() ? "its peer" : h.endpoint;
        return h.last_handshake ? "waiting for a new handshake with " + with : "waiting for a handshake with " + with;
    }
    if (h.daemon_state.empty()) {
        return "starting";
    }
    if (h.daemon_state == "CONNECTED") {
        return "connected, but nothing received from the server";
    }
    return "connecting (" + h.daemon_state + ovpn_meaning(h.daemon_state) + ")";
}

// "2026-12-03T11:50:01.123Z " (the init's stamp) and "2026-12-03 11:50:01 "
// (openvpn's own) at the start of a line.
std::string_view cut_stamps(std::string_view line) {
    auto digits = [](std::string_view s, std::size_t at, std::size_t n) {
        if (s.size() < at + n) {
            return false;
        }
        return std::all_of(s.begin() + static_cast<long>(at), s.begin() + static_cast<long>(at + n),
                           [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
    };
    for (int round = 0; round < 2; ++round) {
        if (!(digits(line, 0, 4) && line.size() > 19 && line[4] == '-' && digits(line, 5, 2) && line[7] == '-' &&
              digits(line, 8, 2) && (line[10] == 'T' || line[10] == ' ') && digits(line, 11, 2) && line[13] == ':')) {
            break;
        }
        auto space = line.find(' ', line[10] == ' ' ? 11 : 10);
        if (space == std::string_view::npos) {
            break;
        }
        line.remove_prefix(space + 1);
    }
    return line;
}

// What tells why a tunnel does not come up: openvpn's errors and what it
// was trying, wireguard-go's errors (it logs only those by default), the
// runner's word on how the daemon ended or what it refused.
bool meaningful(std::string_view line) {
    static constexpr std::array<std::string_view, 8> noise = {
        "MANAGEMENT:", "library versions", "Restart pause", "DCO version", "NOTE:", "Note:", "Initialization Sequence",
        "net_"};
    static constexpr std::array<std::string_view, 28> signal = {
        "AUTH_FAILED", "TLS Error", "TLS key negotiation failed", "No route to host", "Connection refused",
        "Network is unreachable", "Connection reset", "RESOLVE", "Cannot resolve", "Options error", "fatal",
        "Fatal", "ERROR", "Error", "error", "failed", "VERIFY", "Inactivity timeout", "SIGUSR1", "SIGTERM",
        "refused", "denied", "Cannot", "cannot", "timed out", "link remote", "exited with", "was killed"};
    auto has = [&](std::string_view what) { return line.find(what) != std::string_view::npos; };
    // The runner's own lines matter only when they tell an end or a refusal.
    bool runner = line.rfind("moat: tunnel", 0) == 0;
    if (!runner && std::any_of(noise.begin(), noise.end(), has)) {
        return false;
    }
    if (runner && (has(": started ") || has(": up, default route") || has(": connected as "))) {
        return false;
    }
    return std::any_of(signal.begin(), signal.end(), has);
}

}  // namespace

wait_verdict judge_wait(const tunnel_sample& s, int restarts_seen) {
    const std::string daemon = daemon_name(s.type);
    if (s.service_state == "gone") {
        return {wait_phase::failed, "`_tunnels`, the container of its runner, is not running"};
    }
    if (s.service_state == "exited") {
        return {wait_phase::failed, "its runner exited and is not restarted"};
    }
    if (restarts_seen >= 0 && (s.service_state == "restarting" || s.restarts > restarts_seen)) {
        return {wait_phase::failed, daemon + " exited; restarting with back-off"};
    }
    if (s.service_state == "restarting") {
        return {wait_phase::waiting, "restarting (" + daemon + " had exited before the wait)"};
    }
    // The evidence decides, not services.json: the init rewrites that only
    // when a service changes state, so a lost or damaged one may not list
    // a runner that works.
    if (s.h.ok() && s.routed) {
        return {wait_phase::up, "up"};
    }
    if (s.service_state != "running") {
        return {wait_phase::waiting, "starting"};
    }
    return {wait_phase::waiting, waiting_label(s)};
}

std::vector<std::string> reason_lines(const std::string& text, const std::string& name, std::size_t max) {
    std::vector<std::string_view> lines;
    std::string_view all(text);
    for (std::size_t start = 0; start < all.size();) {
        auto nl = all.find('\n', start);
        auto end = nl == std::string_view::npos ? all.size() : nl;
        lines.push_back(cut_stamps(all.substr(start, end - start)));
        start = end + 1;
    }
    // From the second-to-last start: a daemon that died and was restarted
    // told why in the run before the current one.
    const std::string marker = "moat: tunnel " + name + ": started ";
    std::size_t from = 0;
    int starts = 0;
    for (std::size_t k = lines.size(); k-- > 0;) {
        if (lines[k].rfind(marker, 0) == 0 && ++starts == 2) {
            from = k;
            break;
        }
    }
    std::vector<std::string> out;
    for (std::size_t k = lines.size(); k-- > from && out.size() < max;) {
        if (!meaningful(lines[k])) {
            continue;
        }
        std::string line(lines[k].substr(0, 200));
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
            line.pop_back();
        }
        line = sys::printable(line);  // the daemon's words, printed on the operator's terminal
        if (std::find(out.begin(), out.end(), line) == out.end()) {
            out.push_back(line);
        }
    }
    std::reverse(out.begin(), out.end());
    return out;
}

}  // namespace moat::tunnel
