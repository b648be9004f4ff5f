#include "tunnel/tunnel.hpp"

#include "netlink/netlink.hpp"
#include "netlink/sysctl.hpp"
#include "netlink/watch.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
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

// The daemon is killed with its runner (PR_SET_PDEATHSIG): a runner that
// dies by SIGKILL would otherwise leave a daemon holding the device, and
// the runner started in its place could not create it again. An exec
// failure comes back through a close-on-exec pipe as the child's errno.
pid_t spawn(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) {
        throw sys::errno_error("starting " + argv[0]);
    }
    sys::unique_fd rd(report[0]), wr(report[1]);
    const pid_t runner = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) {
        throw sys::errno_error("starting " + argv[0]);
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != runner) {
            ::_exit(127);  // the runner died before the line above
        }
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execvp(args[0], args.data());
        int err = errno;
        (void)!::write(wr.get(), &err, sizeof err);
        ::_exit(127);
    }
    wr.reset();
    int err = 0;
    ssize_t n;
    do {
        n = ::read(rd.get(), &err, sizeof err);
    } while (n < 0 && errno == EINTR);
    if (n == sizeof err) {
        ::waitpid(pid, nullptr, 0);
        throw sys::errno_error("starting " + argv[0], err);
    }
    return pid;
}

// Waits up to `limit` for `pid` to exit; its status, or -1 if still running.
int reap(pid_t pid, std::chrono::milliseconds limit) {
    auto until = std::chrono::steady_clock::now() + limit;
    do {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < until);
    return -1;
}

// A daemon we stop on purpose is not a failure: the runner exits 0.
int stop_daemon(pid_t pid) {
    ::kill(pid, SIGTERM);
    if (reap(pid, 5s) < 0) {
        ::kill(pid, SIGKILL);
        reap(pid, 5s);
    }
    return 0;
}

std::string wireguard_socket(const plan::tunnel_plan& t) { return "/var/run/wireguard/" + t.device + ".sock"; }

void configure_wireguard(const plan::tunnel_plan& t, pid_t daemon) {
    auto wg = plan::parse_wg_quick(sys::read_file(t.config_path), t.config_path);
    std::string sock = wireguard_socket(t);
    std::string request = uapi_set_request(wg);
    for (int i = 0;; ++i) {
        try {
            uapi_send(sock, request);
            break;
        } catch (const std::system_error& e) {
            // Not listening yet (ENOENT, ECONNREFUSED): wait for the daemon, briefly.
            if (i >= 250 || reap(daemon, 0ms) >= 0) {
                throw;
            }
        }
        std::this_thread::sleep_for(20ms);
    }
    auto nl = netlink::socket::open();
    for (const auto& a : wg.addresses) {
        nl.add_address(t.device, a);
    }
    nl.set_up(t.device);
}

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
        try {
            nl.add_rule(own);
        } catch (const netlink::error& e) {
            if (!e.exists()) {
                throw;
            }
        }
    }
    drop_stale_address_rules(nl, t, now.addresses);
    return now;
}

// Sleeps until the daemon exits, a link or address changes, a stop signal
// arrives, or a second has passed. SIGTERM/SIGINT are blocked outside the
// wait, so one arriving just before it is not lost (ppoll unblocks them
// atomically).
void wait_for_change(int pidfd, netlink::change_watch& watch, const sigset_t& open_mask) {
    pollfd fds[2] = {{pidfd, POLLIN, 0}, {watch.fd(), POLLIN, 0}};
    timespec second{1, 0};
    ::ppoll(fds, 2, &second, &open_mask);
    watch.drain();
}

}  // namespace

std::vector<std::string> daemon_argv(const plan::tunnel_plan& t) {
    if (t.type == "wireguard") {
        return {"wireguard-go", "-f", t.device};
    }
    // Options after --config override the file's. Whatever the provider
    // pushes, only the tunnel's own address is taken: moat routes, and DNS
    // is the container's.
    return {"openvpn", "--config", t.config_path, "--dev", t.device, "--dev-type", "tun",
            "--route-nopull", "--pull-filter", "ignore", "redirect-gateway", "--pull-filter", "ignore", "dhcp-option",
            "--pull-filter", "ignore", "route", "--pull-filter", "ignore", "block-outside-dns",
            "--script-security", "1", "--persist-tun", "--verb", "3"};
}

int run(const plan::tunnel_plan& t) {
    struct sigaction sa{};
    sa.sa_handler = on_stop;
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGINT, &sa, nullptr);
    if (t.type == "wireguard") {
        ::unlink(wireguard_socket(t).c_str());  // a killed daemon's socket would refuse us
    }
    // Listening before the daemon starts: no change can fall between a
    // look at the device and the wait.
    netlink::change_watch watch;
    pid_t daemon = spawn(daemon_argv(t));
    std::fprintf(stderr, "moat: tunnel %s: started %s (pid %d) on %s, table %u\n", t.name.c_str(),
                 daemon_argv(t)[0].c_str(), daemon, t.device.c_str(), t.table);
    try {
        sys::unique_fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, daemon, 0)));
        if (!pidfd) {
            throw sys::errno_error("watching " + daemon_argv(t)[0]);
        }
        if (t.type == "wireguard") {
            configure_wireguard(t, daemon);
        }
        sigset_t stops, open_mask;
        sigemptyset(&stops);
        sigaddset(&stops, SIGTERM);
        sigaddset(&stops, SIGINT);
        ::sigprocmask(SIG_BLOCK, &stops, &open_mask);
        sigdelset(&open_mask, SIGTERM);
        sigdelset(&open_mask, SIGINT);
        auto nl = netlink::socket::open();
        routed_state routed;
        while (!stop_requested) {
            if (int rc = reap(daemon, 0ms); rc >= 0) {
                std::fprintf(stderr, "moat: tunnel %s: %s exited (%d)\n", t.name.c_str(), daemon_argv(t)[0].c_str(), rc);
                return rc == 0 ? 1 : rc;  // a tunnel never ends on its own: restart it
            }
            auto now = keep_routes(nl, t, routed);
            if (!now.addresses.empty() && (now.index != routed.index || routed.addresses.empty())) {
                std::fprintf(stderr, "moat: tunnel %s: up, default route in table %u\n", t.name.c_str(), t.table);
            }
            routed = now;
            wait_for_change(pidfd.get(), watch, open_mask);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moat: tunnel %s: %s\n", t.name.c_str(), e.what());
        stop_daemon(daemon);
        return 1;
    }
    return stop_daemon(daemon);
}

}  // namespace moat::tunnel
