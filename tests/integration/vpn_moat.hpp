// Shared by vpn_test.cpp and vpn_leak_test.cpp: the VPN lab (vpn_lab.hpp)
// with moat managing the lab's host, one [tunnels.vpn0] of either type, and
// the helpers the tests judge by — the tunnel daemon moat runs, its table,
// a traffic generator that tries every way out of a container, and a
// "hold down" that keeps killing the daemon so the tunnel stays down.
#pragma once

#include "vpn_lab.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <cstdint>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace moat::test::vpn {

constexpr auto npos = std::string::npos;

// The lab with both VPN servers; moat runs in its host.
struct env {
    lab l;
    wan w{l};
    vpn_lab v{l, w};
};

inline std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// plan::tunnel_table: 0x6d740000 + the low 16 bits of FNV-1a 64 of the name.
inline std::uint32_t tunnel_table(const std::string& name) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
    return 0x6d740000u + static_cast<std::uint32_t>(h & 0xffff);
}

inline const std::string device = "tn-vpn0";
inline const std::string table = std::to_string(tunnel_table("vpn0"));

// The tunnel's resolver (the vpn server's dnsmasq on the tunnel's far end).
inline std::string resolver(const std::string& type) { return type == "wireguard" ? wg_server4 : ovpn_server4; }

// [tunnels.vpn0] of that type with the lab's client file.
inline std::string tunnel_toml(env& e, const std::string& type) {
    auto file = type == "wireguard" ? e.v.wireguard_client_config() : e.v.openvpn_client_config();
    return "[tunnels.vpn0]\ntype = \"" + type + "\"\nconfig = \"" + file + "\"\n";
}

// The `dns` line a confined container needs: OpenVPN's pushed DNS is
// filtered, so it is required there; WireGuard's comes from the file's DNS.
inline std::string dns_line(const std::string& type) {
    return type == "openvpn" ? "dns = [\"" + ovpn_server4 + "\"]\n" : "";
}

inline void up_ok(lab& l, const std::string& file) {
    auto r = l.moat("up -f " + file, std::chrono::seconds(60));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
}

// What the kernel of the lab's host says about the tunnel, for failure messages.
inline std::string kernel_evidence(lab& l) {
    return l.in("echo '## ip rule'; ip rule; ip -6 rule; echo '## routes';"
                " ip route show table all | grep -v '^local\\|^broadcast';"
                " ip -6 route show table all | grep -v '^local\\|^multicast\\|^fe80'; echo '## links'; ip -br link;"
                " echo '## nft'; nft list ruleset")
               .out +
           "## moat logs _tunnels\n" + l.moat("logs _tunnels").out + l.moat("logs _tunnels").err;
}

// PIDs (in the machine's PID namespace) of the tunnel daemon moat runs in
// the lab's host network namespace; the vpn servers live in another one.
inline std::vector<int> daemon_pids(lab& l, const std::string& type) {
    // "[w]" keeps the shell running pgrep from matching itself.
    std::string pattern = type == "wireguard" ? "[w]ireguard-go -f " + device : "[o]penvpn --config";
    auto r = l.in("pgrep --ns $$ --nslist net -f " + shq(pattern));
    std::vector<int> pids;
    std::istringstream in(r.out);
    for (int p; in >> p;) pids.push_back(p);
    return pids;
}

inline std::string daemon_comm(const std::string& type) { return type == "wireguard" ? "wireguard-go" : "openvpn"; }

// The tunnel is up as far as routing goes: table T routes into the device.
inline bool tunnel_routed(lab& l) {
    return l.in("ip route show table " + table + " | grep -q '^default dev " + device + "'").code == 0;
}
inline bool device_exists(lab& l) { return l.in("ip link show dev " + device + " >/dev/null 2>&1").code == 0; }

// Waits until container c reaches the web server through the tunnel.
inline bool through_tunnel(lab& l, const std::string& c, std::chrono::seconds limit) {
    return eventually([&] { return http_get(l, c, "http://" + web4 + "/", 2) == vpn4 + "\n"; }, limit);
}

// The tunnel entry of `moat status --json` (null if none).
inline nlohmann::json tunnel_status(lab& l, const std::string& name = "vpn0") {
    auto st = status(l);
    if (st.contains("tunnels")) {
        for (const auto& t : st["tunnels"]) {
            if (t.value("name", "") == name) return t;
        }
    }
    return nullptr;
}

// Tries every way out from inside a container, for `seconds`, 20 rounds a
// second: TCP (connect to web :80), UDP (:9999), ICMP echo, DNS to the
// tunnel's resolver and straight to the wan's resolver, each over IPv4 and
// (where it has an address) IPv6. Names asked are "<tag><n>.probe.lab".
// Prints how many of each it sent. Raw sockets: containers keep CAP_NET_RAW.
inline const char* leak_generator = R"(import signal, socket, struct, sys, time
web4, web6, dns4, resolver, seconds, tag = sys.argv[1:7]
F4, F6 = socket.AF_INET, socket.AF_INET6
def dnsq(name, qtype):
    q = struct.pack(">HHHHHH", 0x4d54, 0x100, 1, 0, 0, 0)
    return q + b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", qtype, 1)
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def echo(t, seq):
    h = struct.pack("!BBHHH", t, 0, 0, 0x6d74, seq & 0xffff) + b"moat-leak-probe!"
    return h[:2] + struct.pack("!H", csum(h)) + h[4:] if t == 8 else h  # the kernel sums ICMPv6
sent = {}
def attempt(kind, f):
    try:
        f()
        sent[kind] = sent.get(kind, 0) + 1
    except OSError as e:
        sent[kind + "-" + str(e.errno)] = sent.get(kind + "-" + str(e.errno), 0) + 1
def sock(fam, typ, proto=0):
    s = socket.socket(fam, typ, proto)
    s.setblocking(False)
    return s
u4, u6 = sock(F4, socket.SOCK_DGRAM), sock(F6, socket.SOCK_DGRAM)
r4, r6 = sock(F4, socket.SOCK_RAW, socket.IPPROTO_ICMP), sock(F6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
tcp = []
end, i = time.time() + float(seconds), 0
def stop(*_):
    global end
    end = 0
signal.signal(signal.SIGTERM, stop)
while time.time() < end:
    i += 1
    for s in tcp:
        s.close()
    tcp = [sock(F4, socket.SOCK_STREAM), sock(F6, socket.SOCK_STREAM)]
    attempt("tcp4", lambda: tcp[0].connect_ex((web4, 80)))
    attempt("tcp6", lambda: tcp[1].connect_ex((web6, 80)))
    attempt("udp4", lambda: u4.sendto(b"leak", (web4, 9999)))
    attempt("udp6", lambda: u6.sendto(b"leak", (web6, 9999)))
    attempt("icmp4", lambda: r4.sendto(echo(8, i), (web4, 0)))
    attempt("icmp6", lambda: r6.sendto(echo(128, i), (web6, 0)))
    attempt("dns-tunnel", lambda: u4.sendto(dnsq("%s%dt.probe.lab" % (tag, i), 1), (resolver, 53)))
    attempt("dns-direct", lambda: u4.sendto(dnsq("%s%dd.probe.lab" % (tag, i), 1), (dns4, 53)))
    attempt("dns6", lambda: u6.sendto(dnsq("%s%d6.probe.lab" % (tag, i), 28), (web6, 53)))
    for s in (u4, u6, r4, r6):  # drain answers
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    time.sleep(0.05)
print("moat-leak-probe sent", sorted(sent.items()))
)";

// Runs the generator in container c for `seconds` (blocking); its report.
inline std::string try_every_way_out(lab& l, const std::string& c, const std::string& type, int seconds,
                                     const std::string& tag) {
    auto r = l.moat("exec " + c + " -- timeout " + std::to_string(seconds + 5) + " /usr/bin/python3 -c " +
                        shq(leak_generator) + " " + web4 + " " + web6 + " " + dns4 + " " + resolver(type) + " " +
                        std::to_string(seconds) + " " + tag,
                    std::chrono::seconds(seconds + 15));
    return r.out + r.err;
}

// Filters for tcpdump. On the uplink, anything of the container's flows —
// to the addresses the generator targets, or with the container's own
// subnets — is a leak; the tunnel's own encrypted packets go to vpn4 only.
inline std::string leak_filter(const std::string& type, const std::vector<std::string>& nets) {
    std::string f = "host " + web4 + " or host " + web6 + " or host " + dns4 + " or host " + resolver(type);
    for (const auto& n : nets) f += " or net " + n;
    return f;
}

// On the container's own link: each kind of attempt really left it.
inline void expect_every_kind_sent(capture& on_link, const std::string& type, const std::string& what) {
    for (const std::string& f :
         {"ip dst " + web4 + " and tcp dst port 80", "ip6 dst " + web6 + " and tcp dst port 80",
          "ip dst " + web4 + " and udp dst port 9999", "ip6 dst " + web6 + " and udp dst port 9999",
          "ip dst " + web4 + " and icmp", "ip6 dst " + web6 + " and icmp6 and ip6[40] == 128",
          "ip dst " + resolver(type) + " and udp dst port 53", "ip dst " + dns4 + " and udp dst port 53",
          "ip6 dst " + web6 + " and udp dst port 53"}) {
        EXPECT_GT(on_link.count(f), 0) << what << ": nothing matched '" << f << "' on the container's link";
    }
}

// While alive, SIGKILLs the tunnel daemon whenever moat (re)starts it, so
// the tunnel stays down (moat keeps restarting it with back-off).
class hold_down {
public:
    hold_down(lab& l, const std::string& type) : _l(l), _type(type) {
        _t = std::thread([this] {
            while (!_stop) {
                for (int p : daemon_pids(_l, _type)) {
                    stop_process(p, daemon_comm(_type), SIGKILL);
                    ++_kills;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        });
    }
    ~hold_down() { release(); }
    hold_down(const hold_down&) = delete;
    hold_down& operator=(const hold_down&) = delete;
    void release() {
        _stop = true;
        if (_t.joinable()) _t.join();
    }
    int kills() const { return _kills; }

private:
    lab& _l;
    std::string _type;
    std::atomic<bool> _stop{false};
    std::atomic<int> _kills{0};
    std::thread _t;
};

// Runs f when it goes out of scope (stops background work on a failed ASSERT).
struct scope_exit {
    std::function<void()> f;
    ~scope_exit() { f(); }
};

// Both tunnel types.
inline std::string type_name(const testing::TestParamInfo<std::string>& p) { return p.param; }

}  // namespace moat::test::vpn
