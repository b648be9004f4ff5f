#include "converge/tunnel_wait.hpp"

#include "container/runtime.hpp"
#include "netlink/netlink.hpp"
#include "sys/fs.hpp"
#include "tunnel/health.hpp"
#include "tunnel/wait_judge.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <thread>

namespace moat::converge {

namespace {

using clock = std::chrono::steady_clock;

std::string seconds(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, s < 10 ? "%.1f s" : "%.0f s", s);
    return buf;
}

// The last `limit` bytes of a file ("" if it cannot be read): the daemon's
// recent lines, never the whole log.
std::string tail(const std::string& path, off_t limit = 32768) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return "";
    }
    struct stat st {};
    std::string out;
    if (::fstat(fd, &st) == 0) {
        off_t from = std::max<off_t>(0, st.st_size - limit);
        out.resize(static_cast<std::size_t>(st.st_size - from));
        ssize_t n = ::pread(fd, out.data(), out.size(), from);
        out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        if (from > 0) {
            out.erase(0, out.find('\n') + 1);  // half a line
        }
    }
    ::close(fd);
    return out;
}

bool routed(netlink::socket& nl, const plan::tunnel_plan& t) {
    for (const auto& r : nl.routes(t.table)) {
        if (!r.destination && r.dev == t.device && r.type == netlink::route_type::unicast) {
            return true;
        }
    }
    return false;
}

struct watched {
    const plan::tunnel_plan* t;
    int restarts_seen = -1;              // at the last look that found its runner running
    std::string state;                   // the last state told
    bool done = false;
    clock::time_point looked{};          // the last whole look
};

// A whole look parses two records and asks the daemon (WireGuard: a UAPI
// round trip the daemon must answer), about 1 ms of `up`'s CPU every 5 ms
// on a machine whose cores the daemon and the containers are starting on
// (issue 14). Without the route in the tunnel's table there is no "up",
// and one table's dump is cheap: until it is there, only the table is
// looked at, and the whole look comes at least this often, for the
// failures and the progress it tells. OpenVPN's route comes with the
// address its server pushes, so with the connection; a WireGuard device
// has its address, and so its route, from the start, and its looks stay
// whole.
constexpr auto whole_look_every = std::chrono::milliseconds(50);

// `routed_now`: the table was just dumped for the cheap look; not again.
tunnel::tunnel_sample look(const state::store& store, netlink::socket& nl, const plan::tunnel_plan& t,
                           std::optional<bool> routed_now) {
    tunnel::tunnel_sample s;
    s.type = t.type;
    auto rec = store.load(plan::tunnels_container);
    if (!rec || !container::running(*rec)) {
        s.service_state = "gone";  // `up` started it: someone ran `down` since, or it died
        return s;
    }
    auto services = store.services(plan::tunnels_container);
    if (auto it = services.find("tunnel-" + t.name); it != services.end() && it->is_object()) {
        s.service_state = it->value("state", "");
        s.restarts = it->value("restarts", 0);
    }
    if (s.service_state != "restarting" && s.service_state != "exited") {
        s.h = tunnel::read_health(t, rec->init.pid);
        s.routed = routed_now ? *routed_now : routed(nl, t);
    }
    return s;
}

tunnel_wait_failure failure(const state::store& store, const watched& w, double waited, bool timed_out) {
    tunnel_wait_failure f{w.t->name, w.t->type, w.state, waited, timed_out, {}};
    auto log = store.container_dir(plan::tunnels_container) + "/logs/tunnel-" + w.t->name + ".log";
    f.reasons = tunnel::reason_lines(tail(log), w.t->name);
    return f;
}

}  // namespace

std::string tunnel_wait_failure::message() const {
    // WireGuard's daemon logs nothing when its peer is silent or refuses
    // the handshake: the missing handshake is the reason.
    const std::string waiting = "waiting for a handshake with ";
    std::string what = state;
    if (timed_out && state.rfind(waiting, 0) == 0) {
        what = "no handshake with " + state.substr(waiting.size()) + " after " + seconds(waited);
    } else if (timed_out) {
        what += " after " + seconds(waited);
    }
    std::string m = "tunnel " + tunnel + " (" + type + ") is not up: " + what;
    const std::string daemon = type == "wireguard" ? "wireguard-go" : "openvpn";
    for (const auto& r : reasons) {
        m += "\n  " + (r.rfind("moat: ", 0) == 0 ? r : daemon + ": " + r);
    }
    m += "\neverything else is applied and stays so: containers confined to " + tunnel +
         " have no egress until it connects (the kill switch stays closed); `moat logs _tunnels` has more, "
         "`moat status` and `moat check` tell when it is up";
    return m;
}

std::vector<tunnel_wait_failure> wait_for_tunnels(const state::store& store,
                                                  const std::vector<plan::tunnel_plan>& tunnels,
                                                  const tunnel_wait_options& o) {
    std::vector<watched> ws;
    for (const auto& t : tunnels) {
        ws.push_back({&t, -1, "", false, {}});
    }
    std::vector<tunnel_wait_failure> failed;
    auto nl = netlink::socket::open();
    const auto start = clock::now();
    for (bool first = true;; first = false) {
        const double waited = std::chrono::duration<double>(clock::now() - start).count();
        const bool last = clock::now() - start >= o.limit;
        for (auto& w : ws) {
            if (w.done) {
                continue;
            }
            const auto now = clock::now();
            std::optional<bool> routed_now;
            if (!first && !last && now - w.looked < whole_look_every) {
                routed_now = routed(nl, *w.t);
                if (!*routed_now) {
                    continue;
                }
            }
            w.looked = now;
            auto s = look(store, nl, *w.t, routed_now);
            auto v = tunnel::judge_wait(s, w.restarts_seen);
            if (s.service_state == "running") {
                w.restarts_seen = s.restarts;
            }
            bool changed = v.state != w.state;
            w.state = v.state;
            if (v.phase == tunnel::wait_phase::up) {
                w.done = true;
                if (!first && o.progress) {  // up at the first look: nothing to tell
                    o.progress("moat: tunnel " + w.t->name + " up in " + seconds(waited));
                }
            } else if (v.phase == tunnel::wait_phase::failed || last) {
                w.done = true;
                failed.push_back(failure(store, w, waited, v.phase != tunnel::wait_phase::failed));
            } else if (changed && o.progress) {
                o.progress("moat: tunnel " + w.t->name + " (" + w.t->type + "): " + v.state + " " + seconds(waited));
            }
        }
        if (std::all_of(ws.begin(), ws.end(), [](const watched& w) { return w.done; })) {
            return failed;
        }
        // A tunnel is usually up within tens of milliseconds of `up`'s
        // first look (issue 14's order starts it first): look often then,
        // so that `up` returns when it is, and rarely once it takes longer.
        std::this_thread::sleep_for(std::chrono::milliseconds(waited < 1.0 ? 5 : 100));
    }
}

}  // namespace moat::converge
