// The host-access check (host_access.hpp): the host's listening sockets
// that each container could reach, probed from inside it.
#include "check/host_access.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <future>
#include <random>
#include <set>
#include <tuple>

namespace moat::check::detail {

namespace {

using clock = std::chrono::steady_clock;

struct target {
    int protocol = 0;
    sys::ip_address address;
    std::uint16_t port = 0;
    bool allowed = false;
    bool probed = false;   // false: a UDP port without a question we know
    bool reached = false;  // a TCP handshake completed, or the resolver answered
    auto key() const { return std::tie(allowed, protocol, port, address); }  // not allowed first
};

std::string proto_name(int p) { return p == IPPROTO_TCP ? "tcp" : "udp"; }

std::string where(const target& t) {
    std::string a = t.address.is_v6() ? "[" + t.address.str() + "]" : t.address.str();
    return proto_name(t.protocol) + " " + a + ":" + std::to_string(t.port);
}

// Where each reachable socket is probed, without duplicates, the ones the
// configuration does not open first: at most max_probes probes and 8 UDP
// ports listed unprobed; `skipped` counts the rest.
std::vector<target> targets_for(const host_access_subject& s, const std::vector<host_socket>& sockets,
                                const std::vector<sys::ip_address>& host_addresses, std::size_t& skipped) {
    std::set<std::tuple<int, sys::ip_address, std::uint16_t>> seen;
    std::vector<target> out;
    auto add = [&](const host_socket& h, const std::optional<sys::ip_address>& to) {
        if (to && seen.emplace(h.protocol, *to, h.port).second) {
            const auto& allowed = h.protocol == IPPROTO_TCP ? s.allowed_tcp : s.allowed_udp;
            target t{h.protocol, *to, h.port, std::count(allowed.begin(), allowed.end(), h.port) > 0, false, false};
            t.probed = h.protocol == IPPROTO_TCP || h.port == 53;
            out.push_back(t);
        }
    };
    for (const auto& h : sockets) {
        if (h.bound_ifindex != 0 && h.bound_ifindex != s.link_ifindex) {
            continue;  // bound to another device: not reachable through the container's link
        }
        bool v4 = h.address.is_v4();
        if (netlink::is_wildcard(h.address)) {
            add(h, v4 ? s.gateway4 : s.gateway6);
            if (!v4 && !h.v6_only) {
                add(h, s.gateway4);
            }
        } else if (std::count(host_addresses.begin(), host_addresses.end(), h.address) > 0) {
            // Any of the host's global addresses is local to it wherever the
            // packet comes in (Linux's weak host model): the container's
            // default route via its gateway reaches it.
            add(h, (v4 ? s.gateway4 : s.gateway6) ? std::optional(h.address) : std::nullopt);
        }
    }
    std::sort(out.begin(), out.end(), [](const target& a, const target& b) { return a.key() < b.key(); });
    std::vector<target> kept;
    std::size_t probes = 0, listed = 0;
    skipped = 0;
    for (const auto& t : out) {
        // Only probes cost time; the unprobed are listed, a few of them.
        if (t.probed ? probes++ < max_probes : listed++ < 8) {
            kept.push_back(t);
        } else {
            ++skipped;
        }
    }
    return kept;
}

struct attempt {
    target* t;
    sys::unique_fd fd;
    std::uint16_t dns_id = 0;
    bool done = false;
};

// Starts one probe: a non-blocking connect, or a DNS question sent.
attempt start(const container_net& net, target& t, std::mt19937& rng) {
    int family = t.address.is_v4() ? AF_INET : AF_INET6;
    attempt a{&t, net.socket(family, t.protocol == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM, 0), 0, false};
    socklen_t len = 0;
    auto sa = to_sockaddr(t.address, t.port, len);
    if (t.protocol == IPPROTO_TCP) {
        // Closed with a reset: no TIME_WAIT left in the container.
        linger lg{1, 0};
        ::setsockopt(a.fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    if (::connect(a.fd.get(), reinterpret_cast<sockaddr*>(&sa), len) != 0 && errno != EINPROGRESS) {
        a.done = true;
        return a;
    }
    if (t.protocol == IPPROTO_UDP) {
        a.dns_id = static_cast<std::uint16_t>(rng());
        auto q = dns::query(a.dns_id, "moat-check.invalid", dns::type_a);
        a.done = ::send(a.fd.get(), q.data(), q.size(), MSG_NOSIGNAL) < 0;
    }
    return a;
}

// Reads what arrived for `a`; true when it is settled.
bool settle(attempt& a, short revents) {
    if (a.t->protocol == IPPROTO_TCP) {
        int err = 0;
        socklen_t elen = sizeof err;
        ::getsockopt(a.fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
        a.t->reached = err == 0 && (revents & POLLOUT);
        return true;
    }
    std::uint8_t buf[1500];
    ssize_t n = ::recv(a.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0 && dns::parse({buf, static_cast<std::size_t>(n)}, a.dns_id)) {
        a.t->reached = true;
        return true;
    }
    return n < 0 && errno != EAGAIN;  // an ICMP error: no answer will come
}

void probe_all(const std::string& netns, std::vector<target>& targets, std::chrono::milliseconds timeout) {
    container_net net(netns);
    std::mt19937 rng{std::random_device{}()};
    std::vector<attempt> running;
    for (auto& t : targets) {
        if (t.probed) {
            running.push_back(start(net, t, rng));
        }
    }
    auto deadline = clock::now() + timeout;
    while (true) {
        std::vector<pollfd> fds;
        std::vector<attempt*> which;
        for (auto& a : running) {
            if (!a.done) {
                fds.push_back({a.fd.get(), static_cast<short>(a.t->protocol == IPPROTO_TCP ? POLLOUT : POLLIN), 0});
                which.push_back(&a);
            }
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (fds.empty() || left <= 0 || ::poll(fds.data(), fds.size(), static_cast<int>(left)) <= 0) {
            return;
        }
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].revents != 0) {
                which[i]->done = settle(*which[i], fds[i].revents);
            }
        }
    }
}

finding judge(const host_access_subject& s, const std::vector<target>& targets, std::size_t skipped) {
    finding f{s.name, "host access", true, "", ""};
    std::string reachable, allowed, blocked, unprobed;
    auto add = [](std::string& list, const std::string& item) { list += (list.empty() ? "" : ", ") + item; };
    for (const auto& t : targets) {
        if (!t.probed) {
            add(unprobed, where(t) + (t.allowed ? " (allowed)" : ""));
        } else if (t.reached && !t.allowed) {
            add(reachable, where(t) + " (not in " + (t.protocol == IPPROTO_TCP ? "allowedHostTCPPorts" : "allowedHostUDPPorts") + ")");
        } else if (t.allowed) {
            add(allowed, where(t) + (t.reached ? " answered" : " no answer"));
        } else {
            add(blocked, where(t));
        }
    }
    if (!reachable.empty()) {
        f.ok = false;
        f.evidence = "host service reachable: " + reachable;
        f.hint = "table inet moat is not holding (see `firewall rules`); if the container should use the service, "
                 "list its port in the container's firewall.allowedHostTCPPorts/allowedHostUDPPorts";
    } else if (targets.empty()) {
        f.evidence = "no host service listens where this container could reach it";
    } else {
        f.evidence = blocked.empty() ? "no other host service probed" : "blocked as meant: " + blocked;
    }
    if (!allowed.empty()) {
        f.evidence += "; allowed: " + allowed;
    }
    if (!unprobed.empty()) {
        f.evidence += "; not probed (no question known for the port): " + unprobed;
    }
    if (skipped > 0) {
        f.evidence += "; " + std::to_string(skipped) + " more not probed";
    }
    return f;
}

}  // namespace

void host_access_checks(const std::vector<host_access_subject>& subjects, const std::vector<host_socket>& sockets,
                        const std::vector<sys::ip_address>& host_addresses, std::chrono::milliseconds timeout,
                        std::vector<finding>& out) {
    std::vector<std::future<finding>> running;
    for (const auto& s : subjects) {
        running.push_back(std::async(std::launch::async, [&, s] {
            std::size_t skipped = 0;
            auto targets = targets_for(s, sockets, host_addresses, skipped);
            try {
                probe_all(s.netns, targets, timeout);
            } catch (const std::exception& e) {
                return finding{s.name, "host access", false, std::string("cannot probe from inside: ") + e.what(), ""};
            }
            return judge(s, targets, skipped);
        }));
    }
    for (auto& r : running) {
        out.push_back(r.get());
    }
}

}  // namespace moat::check::detail
