// egress = "nat" | "none" through the real moat binary, judged by what the
// wan's web server and packet captures on the lab host's links see
// (network_lab.hpp draws the lab).
#include "network_lab.hpp"

#include <gtest/gtest.h>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;

void up_ok(lab& l, const std::string& file) {
    auto r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
}

std::string eth0(lab& l, const std::string& name, const std::string& family) {
    return l.moat("exec " + name + " -- ip -o " + family + " addr show dev eth0").out;
}

// Everything a container may try in order to get out, IPv4 and IPv6 in
// parallel: TCP (HTTP), UDP, ICMP, DNS (its resolv.conf names the web host).
const std::string escape_attempts =
    "curl --noproxy '*' -s -m 2 http://" + web4 + "/ & curl --noproxy '*' -sg -m 2 http://[" + web6 + "]/ & " +
    "echo x | nc -4 -u -w1 " + web4 + " 9999 & echo x | nc -6 -u -w1 " + web6 + " 9999 & " +
    "ping -c 2 -W 1 " + web4 + " & ping -6 -c 2 -W 1 " + web6 + " & " +
    "timeout 3 getent ahosts leak.example & echo x | nc -6 -u -w1 " + web6 + " 53 & wait";

}  // namespace

TEST(Network, NatEgressLeavesWithTheUplinkAddress) {
    lab l;
    wan w(l);
    auto file = l.write("moat.toml", R"(
[networks.out]
subnet = "10.172.1.0/24"
egress = "nat"

[containers.n]
privateNetwork = true
hostBridge = "out"

[containers.p]
privateNetwork = true
hostAddress = "10.171.46.1"
localAddress = "10.171.46.2"
egress = "nat"
)");
    up_ok(l, file);
    EXPECT_EQ(container_status(l, "n").value("egress", ""), "nat") << status(l).dump();
    for (const char* c : {"n", "p"}) {
        std::string seen;
        eventually([&] { return (seen = http_get(l, c, "http://" + web4 + "/")) == uplink4 + "\n"; });
        EXPECT_EQ(seen, uplink4 + "\n") << c;
    }
    EXPECT_EQ(sysctl(l, "net.ipv4.conf." + w.uplink() + ".forwarding"), "1");
}

TEST(Network, NatEgressIpv6LeavesWithTheUplinkAddress) {
    lab l;
    wan w(l);
    auto file = l.write("moat.toml", R"(
[networks.out6]
subnet = "10.172.11.0/24"
subnet6 = "fd00:172:11::/64"
egress = "nat"

[containers.n6]
privateNetwork = true
hostBridge = "out6"
)");
    up_ok(l, file);
    EXPECT_NE(l.in("ip -o -6 addr show dev mb-out6").out.find("inet6 fd00:172:11::1/64"), npos);
    std::string local6 = address_of(l, "n6", "local6");
    EXPECT_TRUE(in_subnet(local6, "fd00:172:11::/64")) << "'" << local6 << "' " << status(l).dump();
    EXPECT_NE(eth0(l, "n6", "-6").find("inet6 " + local6 + "/64"), npos) << eth0(l, "n6", "-6");
    auto route6 = l.moat("exec n6 -- ip -6 route show default").out;
    EXPECT_NE(route6.find("default via fd00:172:11::1 dev eth0"), npos) << route6;
    std::string seen6, seen4;
    eventually([&] { return (seen6 = http_get(l, "n6", "http://[" + web6 + "]/")) == uplink6 + "\n"; });
    EXPECT_EQ(seen6, uplink6 + "\n");
    eventually([&] { return (seen4 = http_get(l, "n6", "http://" + web4 + "/")) == uplink4 + "\n"; });
    EXPECT_EQ(seen4, uplink4 + "\n");
    EXPECT_EQ(sysctl(l, "net.ipv6.conf.all.forwarding"), "1");
}

TEST(Network, EgressNoneSendsNotOnePacketOut) {
    lab l;
    wan w(l);
    auto file = l.write("moat.toml", R"(
[networks.iso]
subnet = "10.172.2.0/24"
subnet6 = "fd00:172:2::/64"

[networks.out]
subnet = "10.172.12.0/24"
subnet6 = "fd00:172:12::/64"
egress = "nat"

[containers.q]
privateNetwork = true
hostBridge = "iso"
dns = ["198.51.100.10", "2001:db8:51::10"]
firewall.allowedHostTCPPorts = [7100]

[containers.p]
privateNetwork = true
hostAddress = "10.171.42.1"
localAddress = "10.171.42.2"
hostAddress6 = "fc00:42::1"
localAddress6 = "fc00:42::2"
egress = "none"
dns = ["198.51.100.10", "2001:db8:51::10"]

[containers.n]
privateNetwork = true
hostBridge = "out"
)");
    up_ok(l, file);
    // NAT is live on this host (for n) while q and p must stay in.
    std::string seen;
    ASSERT_TRUE(eventually([&] { return (seen = http_get(l, "n", "http://" + web4 + "/")) == uplink4 + "\n"; }))
        << seen;
    EXPECT_EQ(container_status(l, "q").value("egress", ""), "none");
    EXPECT_EQ(container_status(l, "p").value("egress", ""), "none");
    for (const char* c : {"q", "p"}) {  // their IPv6 addresses are usable (not tentative)
        EXPECT_TRUE(eventually([&] {
            auto a = eth0(l, c, "-6");
            return a.find("inet6") != npos && a.find("tentative") == npos;
        })) << eth0(l, c, "-6");
    }
    {
        capture out(l, w.uplink()), vq(l, "ve-q"), vp(l, "ve-p");
        for (const char* c : {"q", "p"}) {
            l.moat(std::string("exec ") + c + " -- sh -c " + shq(escape_attempts), std::chrono::seconds(20));
        }
        const std::string leak = "host " + web4 + " or host " + web6 +
                                 " or net 10.172.2.0/24 or net fd00:172:2::/64 or host 10.171.42.2 or host fc00:42::2";
        EXPECT_EQ(out.count(leak), 0) << out.packets(leak);
        // The attempts were real: every kind left the containers.
        for (capture* v : {&vq, &vp}) {
            for (const std::string& f :
                 {"ip dst " + web4 + " and tcp dst port 80", "ip6 dst " + web6 + " and tcp dst port 80",
                  "ip dst " + web4 + " and udp dst port 9999", "ip6 dst " + web6 + " and udp dst port 9999",
                  "ip dst " + web4 + " and icmp", "ip6 dst " + web6 + " and icmp6",
                  "ip dst " + web4 + " and udp dst port 53", "ip6 dst " + web6 + " and udp dst port 53"}) {
                EXPECT_GT(v->count(f), 0) << (v == &vq ? "ve-q: " : "ve-p: ") << f << "\n" << v->packets("");
            }
        }
    }
    // "none" talks to the host itself where its configuration says so
    // (q: allowedHostTCPPorts), on any of the host's addresses; p, which
    // does not say so, gets nothing, though the host itself is answered.
    ASSERT_EQ(l.in("setsid sh -c 'while true; do echo host | nc -l -p 7100; done' </dev/null >/dev/null 2>&1 &").code,
              0);
    std::string line;
    for (const std::string& host : {std::string("10.172.2.1"), uplink4}) {
        eventually([&] { return (line = tcp_line(l, "q", host, 7100, 2)) == "host\n"; });
        EXPECT_EQ(line, "host\n") << "q to " << host;
    }
    eventually([&] { return (line = l.read_line("10.171.42.1", 7100, "", 2)) == "host\n"; });
    EXPECT_EQ(line, "host\n") << "the host to p's host address";
    for (const std::string& host : {std::string("10.171.42.1"), uplink4}) {
        EXPECT_EQ(tcp_line(l, "p", host, 7100, 2), "") << "p to " << host;
    }
    // Positive control: the uplink capture does see NAT'ed traffic.
    capture control(l, w.uplink());
    EXPECT_EQ(http_get(l, "n", "http://" + web4 + "/"), uplink4 + "\n");
    EXPECT_GT(control.count("src host " + uplink4 + " and dst host " + web4 + " and tcp dst port 80"), 0);
}


TEST(Network, NatLeavesOnlyThroughItsUplink) {
    lab l;
    wan w(l);
    // A second network on the host, "lan", with a web server at 192.0.2.1.
    const std::string lan = l.add_ns("lan"), lan_if = "l" + l.id(), peer_if = "k" + l.id();
    ASSERT_EQ(l.in("ip link add " + lan_if + " type veth peer name " + peer_if + " netns " + lan +
                   " && ip link set " + lan_if + " up && ip addr add 192.0.2.10/24 dev " + lan_if)
                  .code,
              0);
    ASSERT_EQ(l.in("ip link set " + peer_if + " up && ip addr add 192.0.2.1/24 dev " + peer_if, lan).code, 0);
    serve_web(l, lan, "http://192.0.2.1/");
    ASSERT_EQ(ns_http_get(l, "", "http://192.0.2.1/"), "192.0.2.10\n");  // the host itself reaches it
    auto file = l.write("moat.toml", R"(
[networks.dflt]
subnet = "10.172.13.0/24"
egress = "nat"

[networks.bylan]
subnet = "10.172.14.0/24"
egress = "nat"
uplink = ")" + lan_if + R"("

[containers.a]
privateNetwork = true
hostBridge = "dflt"

[containers.b]
privateNetwork = true
hostBridge = "bylan"
)");
    up_ok(l, file);
    // Each leaves by its own uplink, masqueraded to that link's address.
    std::string seen;
    eventually([&] { return (seen = http_get(l, "a", "http://" + web4 + "/")) == uplink4 + "\n"; });
    EXPECT_EQ(seen, uplink4 + "\n");
    eventually([&] { return (seen = http_get(l, "b", "http://192.0.2.1/")) == "192.0.2.10\n"; });
    EXPECT_EQ(seen, "192.0.2.10\n");
    // ... and by no other link, though the host has a route there.
    {
        capture on_lan(l, lan_if);
        EXPECT_EQ(http_get(l, "a", "http://192.0.2.1/", 2), "");
        EXPECT_EQ(on_lan.count("host 192.0.2.1 and tcp port 80"), 0) << on_lan.packets("");
    }
    {
        capture on_wan(l, w.uplink());
        EXPECT_EQ(http_get(l, "b", "http://" + web4 + "/", 2), "");
        EXPECT_EQ(on_wan.count("host " + web4), 0) << on_wan.packets("");
    }
}

namespace {

// Sends UDP datagrams with any source address through a raw socket
// (containers keep CAP_NET_RAW): arguments "src,dst,port".
const char* raw_udp = R"(import socket, struct, sys
def csum(b):
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
for arg in sys.argv[1:]:
    src, dst, port = arg.split(",")
    data = b"spoof"
    n = 8 + len(data)
    if ":" in dst:
        S, D = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
        c = csum(S + D + struct.pack("!I3xB", n, 17) + struct.pack("!HHHH", 40000, int(port), n, 0) + data) or 0xffff
        packet = struct.pack("!IHBB", 0x60000000, n, 17, 64) + S + D + struct.pack("!HHHH", 40000, int(port), n, c) + data
        socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW).sendto(packet, (dst, 0))
    else:
        udp = struct.pack("!HHHH", 40000, int(port), n, 0) + data
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + n, 0, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW).sendto(ip + udp, (dst, 0))
)";

}  // namespace

TEST(Network, SpoofedSourcesAreDropped) {
    lab l;
    wan w(l);
    auto file = l.write("moat.toml", R"(
[networks.sp]
subnet = "10.172.15.0/24"
subnet6 = "fd00:172:15::/64"
egress = "nat"

[containers.s]
privateNetwork = true
hostBridge = "sp"

[containers.m]
privateNetwork = true
hostBridge = "sp"
)");
    up_ok(l, file);
    const std::string s4 = address_of(l, "s"), s6 = address_of(l, "s", "local6");
    const std::string m4 = address_of(l, "m"), m6 = address_of(l, "m", "local6");
    ASSERT_FALSE(s4.empty() || s6.empty() || m4.empty() || m6.empty()) << status(l).dump();
    for (const char* c : {"s", "m"}) {
        EXPECT_TRUE(eventually([&] { return eth0(l, c, "-6").find("tentative") == npos; })) << eth0(l, c, "-6");
    }
    capture to_m(l, "ve-m"), out(l, w.uplink());
    // Genuine sources (the control), then another member's, the host's, strangers'.
    std::string sends = s4 + "," + m4 + ",9999 " + s6 + "," + m6 + ",9999 " +      // control
                        "192.0.2.99," + m4 + ",9999 fd00:172:15::99," + m6 + ",9999 " +  // strangers to m
                        m4 + "," + web4 + ",9999 " + m6 + "," + web6 + ",9999 " +        // m's address, out
                        uplink4 + "," + web4 + ",9999 " + uplink6 + "," + web6 + ",9999 " +  // the host's, out
                        "192.0.2.99," + web4 + ",9999 2001:db8::99," + web6 + ",9999";
    auto sent = l.moat("exec s -- /usr/bin/python3 -c " + shq(raw_udp) + " " + sends);
    ASSERT_EQ(sent.code, 0) << sent.out << sent.err;
    EXPECT_EQ(to_m.count("udp dst port 9999 and src host " + s4), 1) << to_m.packets("");
    EXPECT_EQ(to_m.count("udp dst port 9999 and src host " + s6), 1) << to_m.packets("");
    EXPECT_EQ(to_m.count("udp dst port 9999 and not src host " + s4 + " and not src host " + s6), 0)
        << to_m.packets("udp");
    EXPECT_EQ(out.count("udp port 9999"), 0) << out.packets("udp");
    // Positive control: without moat's table the same spoofed packets do reach m.
    ASSERT_EQ(l.in("nft delete table inet moat").code, 0);
    capture again(l, "ve-m");
    sent = l.moat("exec s -- /usr/bin/python3 -c " + shq(raw_udp) + " 192.0.2.99," + m4 + ",9999 fd00:172:15::99," +
                  m6 + ",9999");
    ASSERT_EQ(sent.code, 0) << sent.out << sent.err;
    EXPECT_EQ(again.count("udp dst port 9999 and (src host 192.0.2.99 or src host fd00:172:15::99)"), 2)
        << again.packets("");
}

// Between the wiring of a new container's network and the commit of the
// firewall, its veth routes through the host with nothing in the way: no
// NAT, no kill switch, no `none` drop. `up` is held right there (a failpoint
// stops it) while a user runs `moat exec` into the container: the exec is
// refused and not one packet reaches the uplink. Positive controls: the
// same exec works once `up` has finished, and the uplink capture sees what
// a NAT'ed container sends.
TEST(Network, ExecWaitsUntilTheContainerIsConfined) {
    lab l;
    wan w(l);
    auto file = l.write("moat.toml", R"(
[containers.p]
privateNetwork = true
hostAddress = "10.171.47.1"
localAddress = "10.171.47.2"
egress = "none"

[containers.n]
privateNetwork = true
hostAddress = "10.171.48.1"
localAddress = "10.171.48.2"
egress = "nat"
)");
    const std::string up = enter(l.host_ns()) + moat_binary() + " --state-dir " + l.state_dir() + " up -q -f " + file;
    auto started = sh("MOAT_FAILPOINT=stop:after-network setsid " + up + " >/dev/null 2>&1 </dev/null & echo $!");
    ASSERT_EQ(started.code, 0);
    const std::string pid = started.out.substr(0, started.out.find('\n'));
    // A failed assertion must not leave `up` stopped with the state lock.
    struct killer {
        std::string pid;
        // Only while that pid is still moat: an `up` that ended frees it.
        ~killer() { sh("[ \"$(cat /proc/" + pid + "/comm 2>/dev/null)\" = moat ] && kill -KILL " + pid + "; true"); }
    } guard{pid};
    auto stopped = [&] { return sh("grep -q '^State:.*T (stopped)' /proc/" + pid + "/status").code == 0; };
    ASSERT_TRUE(eventually(stopped, std::chrono::seconds(20))) << "up never reached the failpoint";
    ASSERT_GE(ifindex(l, "ve-p"), 0) << "the container's network is wired at the failpoint";
    {
        capture out(l, w.uplink());
        auto r = l.moat("exec p -- sh -c " + shq(escape_attempts), std::chrono::seconds(20));
        EXPECT_EQ(r.code, 1) << r.out << r.err;
        EXPECT_NE(r.err.find("it can be entered once `moat up` has finished starting it"), npos) << r.err;
        EXPECT_EQ(out.count("host " + web4 + " or host " + web6 + " or host 10.171.47.2"), 0)
            << out.packets("");
    }
    // The failpoint stops `up` again at the next container's network.
    EXPECT_TRUE(eventually([&] { return sh("kill -CONT " + pid + " 2>/dev/null").code != 0; }, std::chrono::seconds(30)));
    // Finished: the same exec runs (and p still gets nothing out).
    auto r = l.moat("exec p -- true");
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    capture control(l, w.uplink());
    EXPECT_EQ(http_get(l, "n", "http://" + web4 + "/"), uplink4 + "\n");
    EXPECT_GT(control.count("src host " + uplink4 + " and dst host " + web4 + " and tcp dst port 80"), 0);
}
