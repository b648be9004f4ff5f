// The active half of `moat check`: a connection from inside a container,
// and packet counts on the host's other interfaces meanwhile.
#include "check/detail.hpp"

#include "netlink/netlink.hpp"
#include "netlink/netns.hpp"
#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace moat::check::detail {

std::optional<probe_target> parse_probe(const std::string& text) {
    probe_target t;
    std::string rest = text;
    if (rest.rfind("http://", 0) == 0) {
        t.http = true;
        rest = rest.substr(7);
        auto slash = rest.find('/');
        if (slash != std::string::npos) {
            t.path = rest.substr(slash);
            rest = rest.substr(0, slash);
        }
    }
    auto colon = rest.rfind(':');
    std::string host = colon == std::string::npos || rest.back() == ']' ? rest : rest.substr(0, colon);
    if (colon != std::string::npos && rest.back() != ']') {
        t.port = static_cast<std::uint16_t>(std::atoi(rest.c_str() + colon + 1));
    } else if (!t.http) {
        return std::nullopt;  // host:port needs the port
    }
    if (host.size() > 2 && host.front() == '[') {
        host = host.substr(1, host.size() - 2);
    }
    auto a = sys::ip_address::parse(host);
    if (!a || t.port == 0) {
        return std::nullopt;
    }
    t.address = *a;
    t.host = host;
    return t;
}

namespace {

sockaddr_storage to_sockaddr(const probe_target& t, socklen_t& len) {
    sockaddr_storage ss{};
    if (t.address.is_v4()) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(t.port);
        std::memcpy(&sin->sin_addr, t.address.bytes.data(), 4);
        len = sizeof *sin;
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(t.port);
        std::memcpy(&sin6->sin6_addr, t.address.bytes.data(), 16);
        len = sizeof *sin6;
    }
    return ss;
}

bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

// The first line of the body, when it is an address (an echoing probe).
std::optional<sys::ip_address> http_seen_as(int fd, const probe_target& t, std::chrono::milliseconds timeout) {
    std::string req = "GET " + t.path + " HTTP/1.0\r\nHost: " + t.host + "\r\nUser-Agent: moat-check\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
        return std::nullopt;
    }
    std::string resp;
    char buf[1024];
    while (resp.size() < 8192 && wait_for(fd, POLLIN, timeout)) {
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

}  // namespace

probe_result probe_from(pid_t pid, const probe_target& t, std::chrono::milliseconds timeout) {
    probe_result r;
    std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/net";
    sys::unique_fd ns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) {
        r.error = "cannot open " + ns_path;
        return r;
    }
    sys::unique_fd fd;
    {
        // A socket belongs to the namespace it was made in, wherever it is used.
        netlink::netns_guard in(ns.get());
        fd.reset(::socket(t.address.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    }
    socklen_t len = 0;
    auto sa = to_sockaddr(t, len);
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

namespace {

// Classic BPF: IPv4 frames whose destination is `dst` or whose source is
// one of `sources` (up to 16); everything else is not even queued.
std::vector<sock_filter> ipv4_filter(const sys::ip_address& dst, const std::vector<sys::ip_address>& sources) {
    auto be = [](const sys::ip_address& a) {
        return (std::uint32_t{a.bytes[0]} << 24) | (a.bytes[1] << 16) | (a.bytes[2] << 8) | a.bytes[3];
    };
    std::vector<sys::ip_address> src;
    for (const auto& s : sources) {
        if (s.is_v4() && src.size() < 16) {
            src.push_back(s);
        }
    }
    auto n = static_cast<std::uint8_t>(src.size());
    std::vector<sock_filter> f;
    f.push_back(BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12));
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, static_cast<std::uint8_t>(2 + 2 * n)));
    f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 30));  // destination
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, dst.is_v4() ? be(dst) : 0, static_cast<std::uint8_t>(2 * n + 1), 0));
    for (std::uint8_t i = 0; i < n; ++i) {
        f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 26));  // source
        f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, be(src[i]), static_cast<std::uint8_t>(2 * (n - i) - 1), 0));
    }
    f.push_back(BPF_STMT(BPF_RET | BPF_K, 0));
    f.push_back(BPF_STMT(BPF_RET | BPF_K, 0xffff));
    return f;
}

}  // namespace

capture::capture(const std::vector<std::string>& exclude, const sys::ip_address& dst,
                 const std::vector<sys::ip_address>& sources) {
    auto filter = ipv4_filter(dst, sources);
    sock_fprog prog{static_cast<unsigned short>(filter.size()), filter.data()};
    auto nl = netlink::socket::open();
    for (const auto& l : nl.links()) {
        if (l.name == "lo" || std::find(exclude.begin(), exclude.end(), l.name) != exclude.end()) {
            continue;
        }
        int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
        if (fd < 0) {
            throw sys::errno_error("opening a packet socket");
        }
        sockaddr_ll sll{};
        sll.sll_family = AF_PACKET;
        sll.sll_protocol = htons(ETH_P_ALL);
        sll.sll_ifindex = l.index;
        if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0 ||
            ::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
            ::close(fd);
            throw sys::errno_error("capturing on " + l.name);
        }
        // What was queued before the filter and the bind took effect is not ours to count.
        char buf[64];
        while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
        }
        _socks.emplace_back(l.name, fd);
        _counts.emplace_back(l.name, 0);
    }
}

capture::~capture() {
    for (auto& [name, fd] : _socks) {
        ::close(fd);
    }
}

std::vector<std::pair<std::string, int>> capture::counts() {
    char buf[128];
    for (std::size_t i = 0; i < _socks.size(); ++i) {
        while (::recv(_socks[i].second, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
            ++_counts[i].second;
        }
    }
    return _counts;
}

}  // namespace moat::check::detail
