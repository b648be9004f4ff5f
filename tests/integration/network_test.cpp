// [networks.*]: bridges, isolation between networks and no collateral on the
// host, through the real moat binary, judged by what the kernel and the lab's
// peers see (network_lab.hpp draws the lab).
#include "network_lab.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

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

}  // namespace

TEST(NetworkLab, WanSeesTheHostsUplinkAddress) {
    lab l;
    wan w(l);  // throws unless the web server answers the host with 203.0.113.10 / 2001:db8:113::10
    EXPECT_EQ(ns_http_get(l, w.ns(), "http://" + web4 + "/"), web4 + "\n");
    // Nothing routes back to a container subnet.
    EXPECT_NE(l.in("ip route get 10.172.0.5", w.ns()).code, 0);
    // The leak tests' instrument counts what it should.
    capture c(l, w.uplink());
    EXPECT_EQ(l.in("ping -c 2 -W 1 203.0.113.1").code, 0);
    EXPECT_EQ(c.count("icmp and src host " + uplink4), 2) << c.packets("");
    EXPECT_EQ(c.count("udp"), 0) << c.packets("");
}

TEST(Network, BridgeMembersReachEachOtherAndKeepTheirAddress) {
    lab l;
    auto file = l.write("moat.toml", R"(
[networks.lab]
subnet = "10.172.0.0/24"

[containers.a]
privateNetwork = true
hostBridge = "lab"
localAddress = "10.172.0.5"

[containers.b]
privateNetwork = true
hostBridge = "lab"
[containers.b.services.listen]
script = 'while true; do echo from-b | nc -l -p 7000; done'
restart = "always"
)");
    up_ok(l, file);
    // The kernel: one bridge with the subnet's first address, both veths in it.
    EXPECT_NE(l.in("ip -o -4 addr show dev mb-lab").out.find("inet 10.172.0.1/24"), npos);
    for (const char* c : {"ve-a", "ve-b"}) {
        auto link = l.in(std::string("ip -o link show dev ") + c);
        EXPECT_NE(link.out.find("master mb-lab"), npos) << c << ": " << link.out << link.err;
    }
    EXPECT_NE(eth0(l, "a", "-4").find("inet 10.172.0.5/24"), npos) << eth0(l, "a", "-4");
    EXPECT_NE(l.moat("exec a -- ip route show default").out.find("default via 10.172.0.1 dev eth0"), npos);
    EXPECT_EQ(address_of(l, "a"), "10.172.0.5");
    // b's address was allocated: in the subnet, not the bridge's, not a's.
    std::string b = address_of(l, "b");
    ASSERT_TRUE(in_subnet(b, "10.172.0.0/24")) << "'" << b << "' " << status(l).dump();
    EXPECT_NE(b, "10.172.0.0");
    EXPECT_NE(b, "10.172.0.1");
    EXPECT_NE(b, "10.172.0.5");
    EXPECT_NE(b, "10.172.0.255");
    EXPECT_NE(eth0(l, "b", "-4").find("inet " + b + "/24"), npos) << eth0(l, "b", "-4");
    // Members talk on any port, both ways.
    std::string line;
    eventually([&] { return (line = tcp_line(l, "a", b, 7000)) == "from-b\n"; });
    EXPECT_EQ(line, "from-b\n");
    auto ping = l.moat("exec b -- ping -c 1 -W 2 10.172.0.5");
    EXPECT_EQ(ping.code, 0) << ping.out << ping.err;
    // Stable across down/up.
    auto down = l.moat("down");
    ASSERT_EQ(down.code, 0) << down.err;
    up_ok(l, file);
    EXPECT_EQ(address_of(l, "b"), b);
    EXPECT_NE(eth0(l, "b", "-4").find("inet " + b + "/24"), npos) << eth0(l, "b", "-4");
}

TEST(Network, LongNetworkNameGetsAShortBridgeName) {
    lab l;
    up_ok(l, l.write("moat.toml", R"(
[networks.averyveryverylongnetwork]
subnet = "10.172.16.0/24"

[containers.member]
privateNetwork = true
hostBridge = "averyveryverylongnetwork"
)"));
    auto bridges = l.in("ip -o link show type bridge | awk -F': ' '{print $2}'").out;
    ASSERT_EQ(std::count(bridges.begin(), bridges.end(), '\n'), 1) << bridges;
    std::string bridge = bridges.substr(0, bridges.size() - 1);
    EXPECT_EQ(bridge.rfind("mb-", 0), 0u) << bridge;
    EXPECT_LE(bridge.size(), 15u) << bridge;
    EXPECT_NE(l.in("ip -o link show dev ve-member").out.find("master " + bridge), npos);
    EXPECT_NE(l.in("ip -o -4 addr show dev " + bridge).out.find("inet 10.172.16.1/24"), npos);
}

TEST(Network, DifferentNetworksCannotReachEachOther) {
    lab l;
    auto file = l.write("moat.toml", R"(
[networks.n1]
subnet = "10.172.4.0/24"
egress = "nat"
[networks.n2]
subnet = "10.172.5.0/24"

[containers.x]
privateNetwork = true
hostBridge = "n1"
firewall.allowedTCPPorts = [7000]
[containers.x.services.listen]
script = 'while true; do echo from-x | nc -l -p 7000; done'
restart = "always"

[containers.y]
privateNetwork = true
hostBridge = "n2"
firewall.allowedTCPPorts = [7000]
[containers.y.services.listen]
script = 'while true; do echo from-y | nc -l -p 7000; done'
restart = "always"

[containers.z]
privateNetwork = true
hostAddress = "10.171.43.1"
localAddress = "10.171.43.2"
firewall.allowedTCPPorts = [7000]
[containers.z.services.listen]
script = 'while true; do echo from-z | nc -l -p 7000; done'
restart = "always"

[containers.z2]
privateNetwork = true
hostAddress = "10.171.44.1"
localAddress = "10.171.44.2"
egress = "nat"
)");
    up_ok(l, file);
    std::map<std::string, std::string> addr = {{"x", address_of(l, "x")}, {"y", address_of(l, "y")},
                                               {"z", "10.171.43.2"}};
    // Every listener answers the host (allowed port): they are there.
    for (const auto& [name, a] : addr) {
        std::string line;
        eventually([&] { return (line = l.read_line(a, 7000)) == "from-" + name + "\n"; });
        EXPECT_EQ(line, "from-" + name + "\n") << name << " at '" << a << "'";
    }
    auto blocked = [&](const char* from, const char* to) {
        EXPECT_EQ(tcp_line(l, from, addr[to], 7000, 2), "") << from << " reached " << to;
    };
    blocked("x", "y");
    blocked("y", "x");
    blocked("x", "z");
    blocked("z", "x");
    blocked("z", "y");
    blocked("z2", "z");
    auto ping = l.moat("exec x -- ping -c 1 -W 1 " + addr["y"]);
    EXPECT_NE(ping.code, 0) << "x pinged y: " << ping.out;
    // Positive control: without moat's table the host routes between them,
    // so it was the firewall that kept them apart; `up` puts it back.
    ASSERT_EQ(l.in("nft delete table inet moat").code, 0);
    EXPECT_EQ(tcp_line(l, "x", addr["y"], 7000), "from-y\n");
    EXPECT_EQ(tcp_line(l, "z2", addr["z"], 7000), "from-z\n");
    up_ok(l, file);
    blocked("x", "y");
    blocked("z2", "z");
}

TEST(Network, HostTablesAndSysctlsAreLeftAsTheyWere) {
    lab l;
    wan w(l);
    const std::string up = w.uplink();
    auto host_tables = l.write("host.nft", R"(table inet hostfw {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport 9999 counter drop
    }
}
table ip mynat {
    chain post {
        type nat hook postrouting priority 100; policy accept;
    }
}
)");
    // Whatever the machine's defaults, start from "not forwarding" so that
    // moat has something to change and to restore.
    ASSERT_EQ(l.in("sysctl -qw net.ipv4.conf.all.forwarding=0 net.ipv6.conf.all.forwarding=0").code, 0);
    auto made = l.in("nft -f " + host_tables);
    ASSERT_EQ(made.code, 0) << made.err;
    const std::vector<std::string> keys = {
        "net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding", "net.ipv4.conf.default.forwarding",
        "net.ipv4.conf." + up + ".forwarding", "net.ipv4.conf.all.route_localnet",
        "net.ipv4.conf.lo.route_localnet", "net.ipv4.conf." + up + ".route_localnet",
        "net.ipv6.conf.all.forwarding", "net.ipv6.conf.default.forwarding", "net.ipv6.conf." + up + ".forwarding"};
    auto sysctls = [&] {
        std::string all;
        for (const auto& k : keys) all += k + " = " + sysctl(l, k) + "\n";
        return all;
    };
    const std::string ruleset = l.in("nft list ruleset").out;
    const std::string before = sysctls();
    ASSERT_EQ(without_moat_table(ruleset), ruleset);
    auto file = l.write("moat.toml", R"(
[networks.web]
subnet = "10.172.7.0/24"
subnet6 = "fd00:172:7::/64"
egress = "nat"

[containers.c]
privateNetwork = true
hostBridge = "web"
forwardPorts = [ { protocol = "tcp", hostPort = 8080, containerPort = 80 } ]

[containers.d]
privateNetwork = true
hostAddress = "10.171.45.1"
localAddress = "10.171.45.2"
egress = "nat"
)");
    up_ok(l, file);
    auto during = l.in("nft list ruleset").out;
    EXPECT_NE(during.find("table inet moat {"), npos) << during;
    EXPECT_EQ(without_moat_table(during), ruleset);
    // moat is really at work next to the host's tables.
    std::string seen;
    eventually([&] { return (seen = http_get(l, "c", "http://[" + web6 + "]/")) == uplink6 + "\n"; });
    EXPECT_EQ(seen, uplink6 + "\n");
    EXPECT_EQ(sysctl(l, "net.ipv4.conf." + up + ".forwarding"), "1");
    EXPECT_EQ(sysctl(l, "net.ipv6.conf.all.forwarding"), "1");
    auto down = l.moat("down");
    ASSERT_EQ(down.code, 0) << down.err;
    EXPECT_EQ(l.in("nft list ruleset").out, ruleset);
    EXPECT_EQ(sysctls(), before);
}
