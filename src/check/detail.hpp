// Internals of `moat check`, shared by its parts.
#pragma once

#include "check/check.hpp"
#include "check/dns.hpp"
#include "check/leak_filter.hpp"
#include "config/probe.hpp"
#include "plan/plan.hpp"
#include "sys/inet.hpp"
#include "sys/unique_fd.hpp"

#include <sys/socket.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moat::check::detail {

// Runs one check of `container`: an exception (a record that names what
// is gone, a namespace that vanished mid-way) becomes that check's failure,
// and the other checks and containers go on.
template <typename F>
void guarded(const std::string& container, const std::string& check, std::vector<finding>& out, F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        out.push_back({container, check, false, std::string("cannot check: ") + e.what(), ""});
    }
}

// `route_localnet`: what each link of the running containers should have
// (converge::route_localnet()).
void static_checks(const state::store& store, const state::container_record& r, const plan::container_plan& p,
                   const std::optional<std::string>& table, const std::map<std::string, bool>& route_localnet,
                   std::vector<finding>& out);

// The nameservers of the container's /etc/resolv.conf, as its processes see it.
std::vector<sys::ip_address> nameservers(pid_t pid);

// `a`:`port` as a socket address; `len` gets its length.
sockaddr_storage to_sockaddr(const sys::ip_address& a, std::uint16_t port, socklen_t& len);

// Sockets made inside a container's network namespace: a socket belongs to
// the namespace it was made in, wherever it is used afterwards.
class container_net {
public:
    explicit container_net(const std::string& netns_path);  // throws if the namespace is gone
    // Bound to `port` (0: any); SO_REUSEADDR so the marked ports can be reused at once.
    sys::unique_fd socket(int family, int type, int protocol, std::uint16_t port = 0) const;

private:
    sys::unique_fd _ns;
};

// Every probe of one container carries a source port (TCP, UDP) or ICMP
// identifier from its own block, so the capture can tell it apart.
constexpr std::uint16_t ports_per_container = 8;

struct dns_outcome {
    bool asked = false;
    bool ok = false;
    std::string evidence;
    std::map<std::string, std::vector<sys::ip_address>> resolved;  // name → addresses
};
// Asks the container's first resolver of a family it has: the probe names'
// A/AAAA records, or else the reverse name of the first probe address.
dns_outcome ask_resolver(const container_net& net, const std::vector<sys::ip_address>& servers,
                         const std::vector<config::probe_target>& targets, bool v4, bool v6, std::uint16_t port,
                         std::chrono::milliseconds timeout);

struct egress_outcome {
    std::string target;  // as written
    sys::ip_address address;
    bool connected = false;
    std::string error;                       // why not
    std::optional<sys::ip_address> seen_as;  // what an echoing HTTP probe saw
};
egress_outcome connect_probe(const container_net& net, const config::probe_target& t, const sys::ip_address& address,
                             std::uint16_t port, std::chrono::milliseconds timeout);

// One UDP datagram (a DNS question) to port 53 and one ICMP echo request,
// both marked with `port` (the echo's payload also with `nonce`): for the
// leak capture, never answered or judged.
void marked_datagrams(const container_net& net, const sys::ip_address& to, std::uint16_t port, std::uint32_t nonce);

struct captured {
    std::string ifname;
    packet_summary packet;
};
// Packet sockets on every interface with the leak filters attached.
class capture {
public:
    explicit capture(const leak_selector& s);
    // Replaces the filter (more destinations became known).
    void select(const leak_selector& s);
    // The interfaces watched when it started (every one not ignored).
    const std::vector<std::string>& interfaces() const { return _interfaces; }
    // What arrived since the last call.
    std::vector<captured> drain();

private:
    std::vector<sys::unique_fd> _fds;  // one per program of leak_filters()
    std::vector<std::string> _interfaces;
};

}  // namespace moat::check::detail
