// Busy host ports (ports.hpp): the claims of a file, matched against the
// host's listening sockets before `up` touches anything.
#include "converge/ports.hpp"

#include "plan/pipes.hpp"
#include "sys/fs.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <sstream>

namespace moat::converge {

namespace {

sys::ip_address wildcard(int family) {
    sys::ip_address a;
    a.family = family;
    return a;
}

config::location key_at(const config::key_locations& keys, const std::string& key, const config::location& where) {
    auto it = keys.find(key);
    return it != keys.end() ? it->second : where;
}

// Two address sets meet (ports.hpp): same family, and a wildcard or equal.
bool meet(const std::vector<sys::ip_address>& a, const std::vector<sys::ip_address>& b) {
    for (const auto& x : a) {
        for (const auto& y : b) {
            if (x.family == y.family && (netlink::is_wildcard(x) || netlink::is_wildcard(y) || x == y)) {
                return true;
            }
        }
    }
    return false;
}

std::vector<sys::ip_address> coverage(const netlink::listening_socket& s) {
    std::vector<sys::ip_address> out{s.address};
    if (s.address.is_v6() && !s.v6_only && netlink::is_wildcard(s.address)) {
        out.push_back(wildcard(AF_INET));
    }
    return out;
}

// The address `moat pipe -s <source>` binds: the first getaddrinfo answer,
// as pipe::resolve() and spiped take it. Unix sockets and names that do
// not resolve claim nothing here (the pipe reports those itself).
std::optional<std::pair<sys::ip_address, std::uint16_t>> pipe_source(const std::string& spec) {
    auto colon = spec.rfind(':');
    if (spec.empty() || spec[0] == '/' || colon == std::string::npos || colon + 1 == spec.size()) {
        return std::nullopt;
    }
    std::string host = spec.substr(0, colon), port = spec.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (port.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || !res) {
        return std::nullopt;
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(res, ::freeaddrinfo);
    sys::ip_address a;
    a.family = res->ai_family;
    std::uint16_t p = 0;
    if (res->ai_family == AF_INET) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(res->ai_addr);
        std::memcpy(a.bytes.data(), &sin->sin_addr, 4);
        p = ntohs(sin->sin_port);
    } else if (res->ai_family == AF_INET6) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(res->ai_addr);
        std::memcpy(a.bytes.data(), &sin6->sin6_addr, 16);
        p = ntohs(sin6->sin6_port);
    } else {
        return std::nullopt;
    }
    return std::pair{a, p};
}

void forward_claims(const config::container& c, const plan::container_plan& p, std::vector<port_claim>& out) {
    std::vector<int> families;
    for (const auto* pair : {&p.v4, &p.v6}) {
        if (*pair) {
            families.push_back((*pair)->local.address.family);
        }
    }
    for (const auto& f : c.forward_ports) {
        port_claim claim;
        claim.where = key_at(f.keys, "hostPort", f.where);
        claim.what = "container '" + c.name + "': forwardPorts " + f.protocol + " " + std::to_string(f.host_port) +
                     (f.host_address ? " on " + f.host_address->str() : "");
        claim.key = "hostPort";
        claim.protocol = f.protocol == "udp" ? IPPROTO_UDP : IPPROTO_TCP;
        claim.port = f.host_port;
        // The families its DNAT rules exist for (converge.cpp, endpoint_of).
        for (int family : families) {
            if (!f.host_address) {
                claim.covers.push_back(wildcard(family));
            } else if (f.host_address->family == family) {
                claim.covers.push_back(*f.host_address);
            }
        }
        if (!claim.covers.empty()) {
            out.push_back(std::move(claim));
        }
    }
}

// `moat pipe ... -s SOURCE`: SOURCE as the planner resolved it.
std::string source_of(const plan::service_plan& s) {
    auto it = std::find(s.argv.begin(), s.argv.end(), "-s");
    return it != s.argv.end() && it + 1 != s.argv.end() ? *(it + 1) : "";
}

// The pipes that listen in the host's namespace: those of `_pipes`, and
// those of a container without a network of its own.
void pipe_claims(const config::model& m, const std::vector<plan::container_plan>& plans, std::vector<port_claim>& out) {
    for (const auto& pipe : m.pipes) {
        const std::string runner = pipe.container ? *pipe.container : plan::host_pipes_container;
        auto owner = std::find_if(plans.begin(), plans.end(), [&](const auto& p) { return p.name == runner; });
        if (owner == plans.end() || owner->private_network) {
            continue;
        }
        auto svc = std::find_if(owner->services.begin(), owner->services.end(),
                                [&](const plan::service_plan& s) { return s.name == "pipe-" + pipe.name; });
        if (svc == owner->services.end()) {
            continue;
        }
        std::string source = source_of(*svc);
        auto bound = pipe_source(source);
        if (!bound) {
            continue;
        }
        port_claim claim;
        claim.where = key_at(pipe.keys, "source", pipe.where);
        claim.what = "pipe '" + pipe.name + "': source " + source;
        claim.key = "source";
        claim.protocol = IPPROTO_TCP;
        claim.port = bound->second;
        claim.covers = {bound->first};
        out.push_back(std::move(claim));
    }
}

std::string holders_text(const std::vector<netlink::socket_holder>& holders) {
    std::string out;
    for (std::size_t i = 0; i < holders.size() && i < 3; ++i) {
        out += (i ? ", " : "") + std::string("pid ") + std::to_string(holders[i].pid) +
               (holders[i].command.empty() ? "" : " " + holders[i].command);
    }
    if (holders.size() > 3) {
        out += " and " + std::to_string(holders.size() - 3) + " more";
    }
    return out;
}

// Whether `own` holds the socket alone.
bool ours(const std::vector<netlink::socket_holder>& holders, const std::set<pid_t>& own) {
    return !holders.empty() &&
           std::all_of(holders.begin(), holders.end(), [&](const auto& h) { return own.count(h.pid) > 0; });
}

// The processes of this state directory's containers that this `up`
// converges (ports.hpp: what they hold is replaced or is claimed again).
std::set<pid_t> own_pids(const state::store& store, const std::vector<plan::container_plan>& plans) {
    std::set<pid_t> out;
    for (const auto& p : plans) {
        auto rec = store.load(p.name);
        if (!rec || rec->cgroup.empty()) {
            continue;
        }
        std::string procs;
        try {
            procs = sys::read_file(rec->cgroup + "/cgroup.procs");
        } catch (const std::exception&) {
            continue;  // not running: it holds nothing
        }
        std::istringstream in(procs);
        for (pid_t pid; in >> pid;) {
            out.insert(pid);
        }
    }
    return out;
}

}  // namespace

bool conflicts(const port_claim& claim, const netlink::listening_socket& socket) {
    return claim.protocol == socket.protocol && claim.port == socket.port && meet(claim.covers, coverage(socket));
}

bool conflicts(const port_claim& a, const port_claim& b) {
    return a.protocol == b.protocol && a.port == b.port && meet(a.covers, b.covers);
}

std::vector<port_claim> port_claims(const config::model& m, const std::vector<plan::container_plan>& plans) {
    std::vector<port_claim> out;
    for (const auto& p : plans) {
        if (const auto* c = m.find_container(p.name)) {
            forward_claims(*c, p, out);
        }
    }
    pipe_claims(m, plans, out);
    return out;
}

std::vector<busy_port> find_busy(const std::vector<port_claim>& claims,
                                 const std::vector<netlink::listening_socket>& sockets) {
    std::vector<busy_port> out;
    for (std::size_t i = 0; i < claims.size(); ++i) {
        busy_port b{&claims[i], {}, nullptr};
        for (const auto& s : sockets) {
            if (conflicts(claims[i], s)) {
                b.sockets.push_back(s);
            }
        }
        for (std::size_t j = 0; j < i && !b.earlier; ++j) {
            // Two forwards are the validator's (config/validate_relations.cpp).
            bool both_forwards = claims[j].key == "hostPort" && claims[i].key == "hostPort";
            if (!both_forwards && conflicts(claims[i], claims[j])) {
                b.earlier = &claims[j];
            }
        }
        if (!b.sockets.empty() || b.earlier) {
            out.push_back(std::move(b));
        }
    }
    return out;
}

config::diagnostic diagnostic_of(const busy_port& b, const std::vector<std::vector<netlink::socket_holder>>& holders) {
    std::string seen;
    for (std::size_t i = 0; i < b.sockets.size(); ++i) {
        std::string who = i < holders.size() ? holders_text(holders[i]) : "";
        if (who.empty()) {
            who = "uid " + std::to_string(b.sockets[i].uid) + ", no process visible";
        }
        seen += (seen.empty() ? "" : ", ") + netlink::describe(b.sockets[i]) + " (" + who + ")";
    }
    if (b.earlier) {
        seen += (seen.empty() ? "" : ", and ") + b.earlier->what + " at line " + std::to_string(b.earlier->where.line);
    }
    bool forward = b.claim->key == "hostPort";
    std::string hint = forward ? "choose a free hostPort, or stop that service: the forward would silently take the "
                                 "port from it"
                               : "choose a free port for source, or stop that service";
    return {b.claim->where, b.claim->what + ": port already in use on the host: " + seen, hint};
}

std::vector<config::diagnostic> busy_host_ports(const config::model& m, const std::vector<plan::container_plan>& plans,
                                                const state::store& store) {
    auto claims = port_claims(m, plans);
    if (claims.empty()) {
        return {};
    }
    auto busy = find_busy(claims, netlink::listening_sockets());
    std::vector<std::uint64_t> inodes;
    for (const auto& b : busy) {
        for (const auto& s : b.sockets) {
            inodes.push_back(s.inode);
        }
    }
    auto holders = netlink::socket_holders(inodes);
    auto own = own_pids(store, plans);
    std::vector<config::diagnostic> out;
    std::size_t k = 0;
    for (auto& b : busy) {
        busy_port left{b.claim, {}, b.earlier};
        std::vector<std::vector<netlink::socket_holder>> who;
        for (const auto& s : b.sockets) {
            if (!ours(holders[k], own)) {
                left.sockets.push_back(s);
                who.push_back(holders[k]);
            }
            ++k;
        }
        if (!left.sockets.empty() || left.earlier) {
            out.push_back(diagnostic_of(left, who));
        }
    }
    return out;
}

}  // namespace moat::converge
