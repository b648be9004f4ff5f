#include "tunnel/tunnel.hpp"

#include "netlink/netlink.hpp"
#include "netlink/sysctl.hpp"
#include "netlink/watch.hpp"
#include "tunnel/driver.hpp"
#include "tunnel/heal.hpp"
#include "tunnel/forwarder.hpp"
#include "tunnel/tun_device.hpp"
#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>

namespace moat::tunnel {

namespace {

using namespace std::chrono_literals;

volatile sig_atomic_t stop_requested = 0;

void on_stop(int) { stop_requested = 1; }

// Waits up to `limit` for `pid` to exit; its wait status, or -1 if still
// running. With a limit of 0 it only looks: the loop of run_daemon() calls
// it on every wake-up, and a sleep here (it used to sleep 20 ms before
// looking at the clock) delayed each step of bringing a tunnel up by that
// much — 40 ms of an OpenVPN restart (issue 17).
int reap(pid_t pid, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            return status;
        }
        if (std::chrono::steady_clock::now() >= until) {
            return -1;
        }
        std::this_thread::sleep_for(20ms);
    }
}

// "exited with status 1", "was killed by signal 9 (SIGKILL)"
std::string how_it_ended(int status) {
    if (WIFSIGNALED(status)) {
        const char* abbrev = ::sigabbrev_np(WTERMSIG(status));
        return "was killed by signal " + std::to_string(WTERMSIG(status)) +
               (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
    }
    return "exited with status " + std::to_string(WEXITSTATUS(status));
}

// The daemon, stopped (SIGTERM, then SIGKILL) when the runner leaves run()
// for any reason but the daemon's own death — before the device goes.
struct running_daemon {
    pid_t pid = 0;
    explicit running_daemon(pid_t p) : pid(p) {}
    running_daemon(const running_daemon&) = delete;
    running_daemon& operator=(const running_daemon&) = delete;
    ~running_daemon() {
        if (pid > 0) {
            ::kill(pid, SIGTERM);
            if (reap(pid, 5s) < 0) {
                ::kill(pid, SIGKILL);
                reap(pid, 5s);
            }
        }
    }
};

// What keep_routes() last routed: the device (by ifindex) and its global
// addresses (link-local ones are not a way out).
struct routed_state {
    int index = 0;  // 0: the device is not up
    std::vector<sys::ip_address> addresses;
    bool operator==(const routed_state&) const = default;
};

// An OpenVPN server may hand out another address on every reconnect; the
// rules for the earlier ones would pile up until `down`.
void drop_stale_address_rules(netlink::socket& nl, const plan::tunnel_plan& t,
                              const std::vector<sys::ip_address>& current) {
    for (const auto& r : nl.rules()) {
        if (r.table == t.table && r.priority == plan::tunnel_address_rule_priority && r.from &&
            std::find(current.begin(), current.end(), r.from->address) == current.end()) {
            nl.delete_rule(r);
        }
    }
}

// Keeps "default dev <device>" in the tunnel's table while the device is
// up with an address of that family, and a rule for each of its addresses.
// Acts again when the device was recreated (openvpn restarted) or its
// addresses changed (openvpn reconnected inside one process, --persist-tun,
// and was handed another address).
routed_state keep_routes(netlink::socket& nl, const plan::tunnel_plan& t, const routed_state& was) {
    auto link = nl.link(t.device);
    if (!link || !link->up) {
        return {};
    }
    routed_state now{link->index, {}};
    for (const auto& a : nl.addresses(t.device)) {
        if (a.scope == 0) {
            now.addresses.push_back(a.local.address);
        }
    }
    if (now == was || now.addresses.empty()) {
        return now;
    }
    // IPv4 forwards by the input interface's own flag: replies to confined
    // containers arrive on the tunnel.
    netlink::set_sysctl("net/ipv4/conf/" + t.device + "/forwarding", "1");
    for (const auto& address : now.addresses) {
        netlink::route r;
        r.family = address.family;
        r.dev = t.device;
        r.table = t.table;
        nl.replace_route(r);
        // The host's own packets from the tunnel's address (a RST for a
        // flow whose NAT entry died with the old device) must not take the
        // uplink either: they would show the tunnel's address and the
        // confined flow outside. `down` removes rules into the tunnel's
        // table along with the table.
        netlink::rule own;
        own.from = sys::ip_prefix{address, address.max_prefix()};
        own.table = t.table;
        own.priority = plan::tunnel_address_rule_priority;
        nl.add_rule_if_new(own);
    }
    drop_stale_address_rules(nl, t, now.addresses);
    return now;
}

// Sleeps until the daemon exits, a link or address changes, the driver's
// descriptor is readable (OpenVPN's management connection), a stop signal
// arrives, or `longest` has passed; true when the driver's descriptor is
// readable. SIGTERM/SIGINT are blocked outside the wait, so one arriving
// just before it is not lost (ppoll unblocks them atomically).
bool wait_for_change(int pidfd, netlink::change_watch& watch, int driver_fd, const sigset_t& open_mask,
                     std::chrono::milliseconds longest) {
    pollfd fds[3] = {{pidfd, POLLIN, 0}, {watch.fd(), POLLIN, 0}, {driver_fd, POLLIN, 0}};
    timespec limit{static_cast<time_t>(longest.count() / 1000), static_cast<long>(longest.count() % 1000) * 1000000L};
    ::ppoll(fds, driver_fd >= 0 ? 3 : 2, &limit, &open_mask);
    watch.drain();
    return driver_fd >= 0 && fds[2].revents != 0;
}

// The device goes when the runner does (a persistent OpenVPN device would
// otherwise stay, routed, after its daemon is gone).
struct device_guard {
    netlink::socket& nl;
    const std::string& device;
    ~device_guard() {
        try {
            delete_tun(nl, device);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "moat: deleting %s: %s\n", device.c_str(), e.what());
        }
    }
};

// What ended one daemon's run.
enum class ended { stopped, daemon_died, healing };

// One daemon, from a fresh device to its end; `rc` is the runner's exit
// status when the daemon died.
ended run_daemon(const plan::tunnel_plan& t, netlink::socket& nl, netlink::change_watch& watch, healer& heal,
                 forwarder& forwarding, const sigset_t& open_mask, int& rc) {
    const std::string what = daemon_argv(t)[0];
    delete_tun(nl, t.device);  // left by a runner killed with -9, or by the daemon before a heal
    device_guard guard{nl, t.device};
    auto drv = t.type == "wireguard" ? wireguard_driver(t, nl) : openvpn_driver(t, nl);
    running_daemon daemon{start_daemon(drv->spec())};
    std::fprintf(stderr, "moat: tunnel %s: started %s (pid %d, uid %u) on %s, table %u\n", t.name.c_str(),
                 what.c_str(), daemon.pid, daemon_identity_for(t).uid, t.device.c_str(), t.table);
    sys::unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, daemon.pid, 0)));
    if (!pidfd) {
        throw sys::errno_error("watching " + what);
    }
    drv->started(daemon.pid);
    heal.daemon_started();
    routed_state routed;
    while (!stop_requested) {
        if (int status = reap(daemon.pid, 0ms); status >= 0) {
            daemon.pid = 0;
            // The init stamps this line with the time it read it:
            // `moat logs` tells why and when the daemon last died.
            std::fprintf(stderr, "moat: tunnel %s: %s %s\n", t.name.c_str(), what.c_str(),
                         how_it_ended(status).c_str());
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            rc = rc == 0 ? 1 : rc;  // a tunnel never ends on its own: restart it
            return ended::daemon_died;
        }
        // --- heal (heal.hpp): a data path failed for healAfter. The device
        // goes down before the daemon is stopped: the kernel drops its
        // routes at once and the tunnel's table falls back to unreachable.
        if (auto why = heal.check(); !why.empty()) {
            if (nl.link(t.device)) {
                nl.set_down(t.device);
            }
            heal.healed();
            std::fprintf(stderr, "moat: tunnel %s: %s: %s down, restarting %s (pid %d; a next heal waits for %lld s)\n",
                         t.name.c_str(), why.c_str(), t.device.c_str(), what.c_str(), daemon.pid,
                         static_cast<long long>(heal.wait().count()));
            return ended::healing;
        }
        // --- end heal
        auto now = keep_routes(nl, t, routed);
        if (!now.addresses.empty() && (now.index != routed.index || routed.addresses.empty())) {
            std::fprintf(stderr, "moat: tunnel %s: up, default route in table %u\n", t.name.c_str(), t.table);
        }
        routed = now;
        forwarding.update(now.index, now.addresses);  // provider port forwarding (forwarder.hpp)
        if (wait_for_change(pidfd.get(), watch, drv->fd(), open_mask, heal.until_next_sample(1000ms))) {
            drv->on_readable();
        }
        drv->tick();
    }
    return ended::stopped;
}

}  // namespace

daemon_identity daemon_identity_for(const plan::tunnel_plan& t) { return {t.table, t.table}; }

std::string private_dir(const plan::tunnel_plan& t) { return "/run/moat-tunnel/" + t.name; }

std::vector<std::string> daemon_argv(const plan::tunnel_plan& t) {
    if (t.type == "wireguard") {
        return {"wireguard-go", "-f", t.device};
    }
    // Options after --config override the file's (whose own device, script
    // and management lines are commented out in the daemon's copy anyway).
    // openvpn only opens the device moat created (through a clone node it
    // may open) and configures nothing: the runner sets the address it
    // reports over the management socket. Whatever the provider pushes,
    // only that address is taken: moat routes, and DNS is the container's.
    const std::string dir = private_dir(t);
    return {"openvpn", "--config", dir + "/config.ovpn", "--dev", t.device, "--dev-type", "tun",
            "--dev-node", "/dev/net/" + t.device, "--ifconfig-noexec", "--route-noexec", "--disable-dco",
            "--route-nopull", "--pull-filter", "ignore", "redirect-gateway", "--pull-filter", "ignore", "dhcp-option",
            "--pull-filter", "ignore", "route", "--pull-filter", "ignore", "block-outside-dns",
            "--script-security", "1", "--persist-tun", "--management", dir + "/management.sock", "unix",
            "--management-client", "--verb", "3"};
}

int run(const plan::tunnel_plan& t) {
    struct sigaction sa{};
    sa.sa_handler = on_stop;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    // SIGTERM/SIGINT stay blocked outside the wait (wait_for_change); the
    // daemon starts with an empty mask (daemon.cpp).
    sigset_t stops, open_mask;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    ::sigprocmask(SIG_BLOCK, &stops, &open_mask);
    sigdelset(&open_mask, SIGTERM);
    sigdelset(&open_mask, SIGINT);
    try {
        // Listening before the daemon starts: no change can fall between a
        // look at the device and the wait.
        netlink::change_watch watch;
        auto nl = netlink::socket::open();
        healer heal(t);
        forwarder forwarding(t);  // one per runner: it maps again on each new device
        int rc = 0;
        for (;;) {
            switch (run_daemon(t, nl, watch, heal, forwarding, open_mask, rc)) {
            case ended::stopped: return 0;  // stopped on purpose: not a failure
            case ended::daemon_died: return rc;
            case ended::healing: continue;
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: tunnel %s: %s\n", t.name.c_str(), e.what());
        return 1;
    }
}

}  // namespace moat::tunnel
