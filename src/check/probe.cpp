// The active half of `moat check`, inside a container's network namespace:
// a question to its resolver, a connection to each probe, and the marked
// datagrams the leak capture looks for.
#include "check/detail.hpp"

#include "netlink/netns.hpp"
#include "sys/error.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace moat::check::detail {

namespace {

using clock = std::chrono::steady_clock;

ssize_t send_to(int fd, const std::string& data, const sys::ip_address& a, std::uint16_t port) {
    socklen_t len = 0;
    auto sa = to_sockaddr(a, port, len);
    return ::sendto(fd, data.data(), data.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sa), len);
}

bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(timeout.count(), 0))) == 1;
}

std::chrono::milliseconds left(clock::time_point deadline) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
}

std::uint16_t random_id() {
    static thread_local std::mt19937 rng{std::random_device{}()};
    return static_cast<std::uint16_t>(rng());
}

std::string joined(const std::vector<sys::ip_address>& as) {
    std::string out;
    for (const auto& a : as) {
        out += (out.empty() ? "" : ", ") + a.str();
    }
    return out;
}

// The first line of the body, when it is an address (an echoing probe).
std::optional<sys::ip_address> http_seen_as(int fd, const config::probe_target& t, std::chrono::milliseconds timeout) {
    std::string host = t.address && t.address->is_v6() ? "[" + t.host + "]" : t.host;
    std::string req = "GET " + t.path + " HTTP/1.0\r\nHost: " + host + "\r\nUser-Agent: moat-check\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        return std::nullopt;
    }
    std::string resp;
    char buf[1024];
    auto deadline = clock::now() + timeout;
    while (resp.size() < 8192 && wait_for(fd, POLLIN, left(deadline))) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        resp.append(buf, static_cast<std::size_t>(n));
    }
    auto body = resp.find("\r\n\r\n");
    if (body == std::string::npos) {
        return std::nullopt;
    }
    std::string line = resp.substr(body + 4);
    line = line.substr(0, line.find_first_of("\r\n \t"));
    return sys::ip_address::parse(line);
}

std::uint16_t checksum(const std::string& data) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < data.size(); i += 2) {
        sum += static_cast<std::uint32_t>(static_cast<std::uint8_t>(data[i]) << 8 | static_cast<std::uint8_t>(data[i + 1]));
    }
    if (data.size() % 2) {
        sum += static_cast<std::uint32_t>(static_cast<std::uint8_t>(data.back()) << 8);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(~sum);
}

}  // namespace

sockaddr_storage to_sockaddr(const sys::ip_address& a, std::uint16_t port, socklen_t& len) {
    sockaddr_storage ss{};
    if (a.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        std::memcpy(&sin->sin_addr, a.bytes.data(), 4);
        len = sizeof *sin;
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        std::memcpy(&sin6->sin6_addr, a.bytes.data(), 16);
        len = sizeof *sin6;
    }
    return ss;
}

std::vector<sys::ip_address> nameservers(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/root/etc/resolv.conf");
    std::vector<sys::ip_address> out;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string key, value;
        if (words >> key >> value && key == "nameserver") {
            // A scoped IPv6 server ("fe80::1%eth0") keeps only its address.
            if (auto a = sys::ip_address::parse(value.substr(0, value.find('%')))) {
                out.push_back(*a);
            }
        }
    }
    return out;
}

container_net::container_net(const std::string& netns_path) : _ns(netlink::open_netns(netns_path)) {}

sys::unique_fd container_net::socket(int family, int type, int protocol, std::uint16_t port) const {
    sys::unique_fd fd;
    {
        netlink::netns_guard in(_ns.get());
        fd.reset(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
    }
    if (!fd) {
        throw sys::errno_error("socket in the container");
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET6) {
        ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    if (port != 0 && type != SOCK_RAW) {
        sys::ip_address any;
        any.family = family;
        socklen_t len = 0;
        auto sa = to_sockaddr(any, port, len);
        // Taken by a service of the container: the probe goes out unmarked,
        // and only its source address can give a leak away.
        (void)::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), len);
    }
    return fd;
}

namespace {

struct question {
    std::string name;
    std::uint16_t type, id;
    std::optional<dns::answer> answer;
};

// The names' addresses of each family the container has; with no name, the
// reverse name of the first probe address (any answer shows the resolver works).
std::vector<question> questions_for(const std::vector<config::probe_target>& targets, bool v4, bool v6) {
    std::vector<question> qs;
    for (const auto& t : targets) {
        for (auto [has, type] : {std::pair{v4, dns::type_a}, std::pair{v6, dns::type_aaaa}}) {
            if (!t.address && has) {
                qs.push_back({t.host, type, random_id(), std::nullopt});
            }
        }
    }
    if (qs.empty() && !targets.empty()) {
        qs.push_back({dns::reverse_name(*targets.front().address), dns::type_ptr, random_id(), std::nullopt});
    }
    return qs;
}

// Sends every question, then reads answers until all came or time is up;
// the number answered, or -1 (errno set) when sending failed.
int exchange(int fd, const sys::ip_address& server, std::vector<question>& qs, std::chrono::milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    for (const auto& q : qs) {
        if (send_to(fd, dns::query(q.id, q.name, q.type), server, 53) < 0) {
            return -1;
        }
    }
    int answered = 0;
    std::uint8_t buf[1500];
    while (answered < static_cast<int>(qs.size()) && wait_for(fd, POLLIN, left(deadline))) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        for (auto& q : qs) {
            if (n > 0 && !q.answer) {
                q.answer = dns::parse({buf, static_cast<std::size_t>(n)}, q.id);
                answered += q.answer ? 1 : 0;
            }
        }
    }
    return answered;
}

// Judges the answers into `out`: a name must resolve; the reverse question
// only shows that the resolver answers (NOERROR or NXDOMAIN).
std::string judge(const std::vector<question>& qs, dns_outcome& out) {
    std::string said;
    for (const auto& q : qs) {
        std::string type = q.type == dns::type_a ? "A" : q.type == dns::type_aaaa ? "AAAA" : "PTR";
        said += (said.empty() ? "" : "; ") + q.name + " " + type + ": ";
        if (!q.answer) {
            said += "no answer";
            out.ok = false;
            continue;
        }
        said += dns::rcode_name(q.answer->rcode);
        if (!q.answer->addresses.empty()) {
            said += " " + joined(q.answer->addresses);
            auto& into = out.resolved[q.name];
            into.insert(into.end(), q.answer->addresses.begin(), q.answer->addresses.end());
        }
        int rc = q.answer->rcode;
        out.ok = out.ok && (rc == 0 || (q.type == dns::type_ptr && rc == 3));
    }
    for (const auto& q : qs) {
        if (q.type != dns::type_ptr && out.resolved[q.name].empty()) {
            out.ok = false;  // NOERROR without an address of any family the container has
        }
    }
    return said;
}

}  // namespace

dns_outcome ask_resolver(const container_net& net, const std::vector<sys::ip_address>& servers,
                         const std::vector<config::probe_target>& targets, bool v4, bool v6, std::uint16_t port,
                         std::chrono::milliseconds timeout) {
    dns_outcome out;
    out.asked = true;
    auto server = std::find_if(servers.begin(), servers.end(), [&](const auto& s) { return s.is_v4() ? v4 : v6; });
    if (server == servers.end()) {
        out.evidence = servers.empty() ? "no nameserver in the container's /etc/resolv.conf"
                                       : "no nameserver of a family the container has (" + joined(servers) + ")";
        return out;
    }
    auto qs = questions_for(targets, v4, v6);
    auto fd = net.socket(server->is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM, 0, port);
    auto start = clock::now();
    int answered = exchange(fd.get(), *server, qs, timeout);
    if (answered < 0) {
        out.evidence = "cannot ask " + server->str() + ": " + std::strerror(errno);
        return out;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start).count();
    out.ok = true;
    std::string said = judge(qs, out);
    out.evidence = server->str() + " " +
                   (answered ? "answered in " + std::to_string(ms) + " ms" : "did not answer within " + std::to_string(timeout.count()) + " ms") +
                   ": " + said;
    return out;
}

egress_outcome connect_probe(const container_net& net, const config::probe_target& t, const sys::ip_address& address,
                             std::uint16_t port, std::chrono::milliseconds timeout) {
    egress_outcome r{t.http ? "http://" + (address.is_v6() ? "[" + address.str() + "]" : address.str()) + ":" +
                                  std::to_string(t.port) + t.path
                            : (address.is_v6() ? "[" + address.str() + "]" : address.str()) + ":" + std::to_string(t.port),
                     address, false, "", std::nullopt};
    auto fd = net.socket(address.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM, 0, port);
    // Closed with a reset: no TIME_WAIT left behind in the container.
    linger lg{1, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    socklen_t len = 0;
    auto sa = to_sockaddr(address, t.port, len);
    int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), len);
    if (rc != 0 && errno != EINPROGRESS) {
        r.error = std::strerror(errno);
        return r;
    }
    if (rc != 0 && !wait_for(fd.get(), POLLOUT, timeout)) {
        r.error = "no answer within " + std::to_string(timeout.count()) + " ms";
        return r;
    }
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) {
        r.error = std::strerror(err);
        return r;
    }
    r.connected = true;
    if (t.http) {
        r.seen_as = http_seen_as(fd.get(), t, timeout);
    }
    return r;
}

void marked_datagrams(const container_net& net, const sys::ip_address& to, std::uint16_t port, std::uint32_t nonce) {
    bool v4 = to.is_v4();
    auto udp = net.socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM, 0, port);
    (void)send_to(udp.get(), dns::query(random_id(), "moat-check.invalid", dns::type_a), to, 53);
    // ICMPv6 raw sockets have the kernel fill in the checksum; ICMP ones do not.
    std::string echo{static_cast<char>(v4 ? 8 : 128), 0, 0, 0, static_cast<char>(port >> 8), static_cast<char>(port & 0xff), 0, 1};
    for (int shift = 24; shift >= 0; shift -= 8) {
        echo.push_back(static_cast<char>(nonce >> shift & 0xff));
    }
    echo += "moat-check";
    if (v4) {
        auto sum = checksum(echo);
        echo[2] = static_cast<char>(sum >> 8);
        echo[3] = static_cast<char>(sum & 0xff);
    }
    auto icmp = net.socket(v4 ? AF_INET : AF_INET6, SOCK_RAW, v4 ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6});
    (void)send_to(icmp.get(), echo, to, 0);
}

}  // namespace moat::check::detail
