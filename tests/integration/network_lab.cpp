#include "network_lab.hpp"

#include <arpa/inet.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace moat::test {

namespace {

// Answers every GET with the peer's address (IPv4-mapped addresses shown as
// IPv4). Dual-stack on port 80; never resolves a name (getfqdn would).
const char* web_server = R"(import http.server, socket, socketserver
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        peer = self.client_address[0]
        if peer.startswith("::ffff:"):
            peer = peer[7:]
        body = (peer + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "wan", 80
Server(("::", 80), Handler).serve_forever()
)";

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

void must(lab& l, const std::string& cmd, const std::string& ns) {
    auto r = l.in(cmd, ns);
    if (r.code != 0) {
        throw std::runtime_error("lab setup failed in " + (ns.empty() ? l.host_ns() : ns) + ": " + cmd + "\n" +
                                 r.out + r.err);
    }
}

}  // namespace

std::string shq(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    }
    return q + "'";
}

wan::wan(lab& l) : _ns(l.add_ns("wan")), _uplink("u" + l.id()) {
    const std::string w = "w" + l.id();
    must(l, "ip link add " + _uplink + " type veth peer name " + w + " netns " + _ns, "");
    must(l,
         "sysctl -qw net.ipv6.conf." + w + ".accept_dad=0 && ip link set " + w + " up" +
             " && ip addr add 203.0.113.1/24 dev " + w + " && ip -6 addr add 2001:db8:113::1/64 dev " + w + " nodad" +
             " && ip addr add " + web4 + "/32 dev lo && ip -6 addr add " + web6 + "/128 dev lo",
         _ns);
    must(l,
         "sysctl -qw net.ipv6.conf." + _uplink + ".accept_dad=0 && ip link set " + _uplink + " up" +
             " && ip addr add " + uplink4 + "/24 dev " + _uplink + " && ip -6 addr add " + uplink6 + "/64 dev " +
             _uplink + " nodad && ip route add default via 203.0.113.1 dev " + _uplink +
             " && ip -6 route add default via 2001:db8:113::1 dev " + _uplink,
         "");
    serve_web(l, _ns, "http://" + web4 + "/");
    // The fixture's own check: the server sees the host's uplink address.
    std::string seen4, seen6;
    eventually([&] { return (seen4 = ns_http_get(l, "", "http://" + web4 + "/", 1)) == uplink4 + "\n"; });
    eventually([&] { return (seen6 = ns_http_get(l, "", "http://[" + web6 + "]/", 1)) == uplink6 + "\n"; });
    if (seen4 != uplink4 + "\n" || seen6 != uplink6 + "\n") {
        throw std::runtime_error("wan web server not answering the host: '" + seen4 + "' '" + seen6 + "' " +
                                 sh("cat " + l.dir() + "/web-" + _ns + ".log").out);
    }
}

void serve_web(lab& l, const std::string& ns, const std::string& url) {
    auto script = l.write("web.py", web_server);
    auto log = l.dir() + "/web-" + ns + ".log";
    must(l, "setsid /usr/bin/python3 " + script + " </dev/null >" + log + " 2>&1 &", ns);
    if (!eventually([&] { return !ns_http_get(l, ns, url, 1).empty(); })) {
        throw std::runtime_error("web server in " + ns + " does not answer " + url + ": " + sh("cat " + log).out);
    }
}

bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (true) {
        if (fn()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

nlohmann::json status(lab& l) {
    auto r = l.moat("status --json");
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
}

nlohmann::json container_status(lab& l, const std::string& name) {
    auto st = status(l);
    if (st.contains("containers")) {
        for (const auto& c : st["containers"]) {
            if (c.value("name", "") == name) return c;
        }
    }
    return nullptr;
}

std::string address_of(lab& l, const std::string& name, const std::string& key) {
    auto c = container_status(l, name);
    if (!c.is_object() || !c.contains("addresses") || !c["addresses"].contains(key)) return "";
    auto a = c["addresses"][key].get<std::string>();
    return a.substr(0, a.find('/'));
}

std::string http_get(lab& l, const std::string& name, const std::string& url, int seconds) {
    auto s = std::to_string(seconds);
    auto r = l.moat("exec " + name + " -- timeout " + s + " curl --noproxy '*' -sg -m " + s + " " + shq(url),
                    std::chrono::seconds(seconds + 10));
    return r.code == 0 ? r.out : "";
}

std::string tcp_line(lab& l, const std::string& name, const std::string& addr, int port, int seconds) {
    auto script = "exec 3<>/dev/tcp/" + addr + "/" + std::to_string(port) + " && head -n1 <&3";
    auto r = l.moat("exec " + name + " -- timeout " + std::to_string(seconds) + " bash -c " + shq(script),
                    std::chrono::seconds(seconds + 10));
    return r.code == 0 ? r.out : "";
}

std::string ns_http_get(lab& l, const std::string& ns, const std::string& url, int seconds) {
    auto s = std::to_string(seconds);
    auto r = l.in("timeout " + s + " curl --noproxy '*' -sg -m " + s + " " + shq(url), ns,
                  std::chrono::seconds(seconds + 10));
    return r.code == 0 ? r.out : "";
}

std::string ns_udp(lab& l, const std::string& ns, const std::string& addr, int port, const std::string& payload,
                   bool v6) {
    auto r = l.in("echo " + shq(payload) + " | timeout 3 nc -u " + (v6 ? "-6 " : "-4 ") + "-w1 " + addr + " " +
                      std::to_string(port) + " | head -n1",
                  ns);
    return r.out;
}

bool in_subnet(const std::string& addr, const std::string& subnet) {
    auto slash = subnet.find('/');
    std::string net = subnet.substr(0, slash);
    int len = std::atoi(subnet.c_str() + slash + 1);
    int family = net.find(':') == std::string::npos ? AF_INET : AF_INET6;
    unsigned char a[16] = {}, n[16] = {};
    if (::inet_pton(family, addr.c_str(), a) != 1 || ::inet_pton(family, net.c_str(), n) != 1) return false;
    for (int bit = 0; bit < len; ++bit) {
        unsigned char mask = static_cast<unsigned char>(0x80 >> (bit % 8));
        if ((a[bit / 8] & mask) != (n[bit / 8] & mask)) return false;
    }
    return true;
}

bool reported(const std::string& out, const std::string& name, const std::string& word) {
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream words(line);
        std::string a, b;
        if (words >> a >> b && a == name && b == word) return true;
    }
    return false;
}

int ifindex(lab& l, const std::string& ifname) {
    auto r = l.in("ip -o link show dev " + ifname);
    return r.code == 0 ? std::atoi(r.out.c_str()) : -1;
}

std::string sysctl(lab& l, const std::string& key) { return trim(l.in("sysctl -n " + key).out); }

std::string without_moat_table(const std::string& ruleset) {
    std::istringstream lines(ruleset);
    std::string line, out;
    bool inside = false;
    while (std::getline(lines, line)) {
        if (!inside && line == "table inet moat {") {
            inside = true;
        } else if (inside) {
            inside = line != "}";
        } else {
            out += line + "\n";
        }
    }
    return out;
}

capture::capture(lab& l, const std::string& ifname) : _l(l), _ifname(ifname) {
    static int n = 0;
    auto base = l.dir() + "/cap-" + ifname + "-" + std::to_string(n++);
    _file = base + ".pcap";
    _log = base + ".log";
    auto r = l.in("tcpdump --immediate-mode -i " + ifname + " -n -U -Z root -w " + _file + " </dev/null >/dev/null 2>" + _log +
                  " & echo $!");
    _pid = std::atoi(r.out.c_str());
    bool listening = eventually(
        [&] { return sh("grep -q 'listening on' " + _log).code == 0; }, std::chrono::seconds(5));
    if (_pid <= 0 || !listening) {
        stop();
        throw std::runtime_error("tcpdump on " + ifname + " did not start: " + r.err + sh("cat " + _log).out);
    }
}

capture::~capture() { stop(); }

void capture::stop() {
    if (_pid <= 0) return;
    ::kill(_pid, SIGINT);
    auto stat = "/proc/" + std::to_string(_pid) + "/stat";
    bool ended = eventually(
        [&] { return sh("test -e " + stat + " && awk '{print $3}' " + stat + " | grep -qv Z").code != 0; },
        std::chrono::seconds(5));
    if (!ended) {
        ::kill(_pid, SIGKILL);  // still ours: it ignored SIGINT
    }
    _pid = 0;
}

std::string capture::packets(const std::string& filter) {
    stop();
    return sh("tcpdump -n -r " + _file + " " + shq(filter) + " 2>/dev/null").out;
}

int capture::count(const std::string& filter) {
    auto p = packets(filter);
    return static_cast<int>(std::count(p.begin(), p.end(), '\n'));
}

}  // namespace moat::test
