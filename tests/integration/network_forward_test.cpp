// forwardPorts, convergence of networks, and `plan`/`down` for networks,
// through the real moat binary in the lab (network_lab.hpp draws it).
#include "network_lab.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;

void up_ok(lab& l, const std::string& file) {
    auto r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
}

// Polls until addr:port (from namespace ns, "" = host) serves `want`.
std::string line_from(lab& l, const std::string& ns, const std::string& addr, int port, const std::string& want) {
    std::string line;
    eventually([&] { return (line = l.read_line(addr, port, ns, 2)) == want; });
    return line;
}

// The same, from inside container `c`.
std::string line_in(lab& l, const std::string& c, const std::string& addr, int port, const std::string& want) {
    std::string line;
    eventually([&] { return (line = tcp_line(l, c, addr, port, 2)) == want; });
    return line;
}

// What `down` must take away and `plan` must not add, as one string.
std::string kernel_state(lab& l) {
    return l.in("ip -o link show | awk '{print $2}'; ip -o addr show | awk '{print $2, $4}'; "
                "ip route show table all; ip -6 route show table all; ip rule; ip -6 rule; nft list ruleset")
        .out;
}

const char* forward_config = R"(
[networks.fw]
subnet = "10.172.3.0/24"

[containers.srv]
privateNetwork = true
hostBridge = "fw"
forwardPorts = [
  { protocol = "tcp", hostPort = 8080, containerPort = 12345 },
  { protocol = "tcp", hostPort = 8081, containerPort = 12345, hostAddress = "203.0.113.10" },
  { protocol = "udp", hostPort = 5353, containerPort = 5353 },
]
[containers.srv.services.hello]
script = 'while true; do echo hello | nc -l -p 12345; done'
restart = "always"
[containers.srv.services.hidden]
script = 'while true; do echo hidden | nc -l -p 12346; done'
restart = "always"
[containers.srv.services.udp]
exec = ["/usr/bin/python3", "-c", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('', 5353))\nwhile True:\n    d, a = s.recvfrom(100)\n    s.sendto(b'udp-' + d, a)\n"]
restart = "always"

[containers.peer]
privateNetwork = true
hostBridge = "fw"

[containers.other]
privateNetwork = true
hostAddress = "10.171.47.1"
localAddress = "10.171.47.2"
)";

}  // namespace

TEST(ForwardPorts, ReachableFromWanHostAndContainersButNothingElse) {
    lab l;
    wan w(l);
    auto file = l.write("moat.toml", forward_config);
    up_ok(l, file);
    const std::string srv = address_of(l, "srv");
    ASSERT_TRUE(in_subnet(srv, "10.172.3.0/24")) << "'" << srv << "' " << status(l).dump();
    // From outside, arriving on the uplink.
    EXPECT_EQ(line_from(l, w.ns(), uplink4, 8080, "hello\n"), "hello\n");
    // From the host itself, loopback included.
    EXPECT_EQ(line_from(l, "", "127.0.0.1", 8080, "hello\n"), "hello\n");
    EXPECT_EQ(line_from(l, "", uplink4, 8080, "hello\n"), "hello\n");
    // Hairpin: another member of srv's network, and a container of no network.
    EXPECT_EQ(line_in(l, "peer", uplink4, 8080, "hello\n"), "hello\n");
    EXPECT_EQ(line_in(l, "other", uplink4, 8080, "hello\n"), "hello\n");
    // UDP.
    std::string udp;
    eventually([&] { return (udp = ns_udp(l, w.ns(), uplink4, 5353, "ping")) == "udp-ping\n"; });
    EXPECT_EQ(udp, "udp-ping\n");
    // hostAddress: only connections to that address are forwarded.
    EXPECT_EQ(line_from(l, w.ns(), uplink4, 8081, "hello\n"), "hello\n");
    EXPECT_EQ(line_from(l, "", uplink4, 8081, "hello\n"), "hello\n");
    EXPECT_EQ(l.read_line("127.0.0.1", 8081, "", 2), "");
    // 12346 is neither allowed nor forwarded. It listens (a member of the
    // same network gets the answer), yet neither the host nor the wan do.
    EXPECT_EQ(line_in(l, "peer", srv, 12346, "hidden\n"), "hidden\n");
    EXPECT_EQ(l.read_line(srv, 12346, "", 2), "");
    EXPECT_EQ(l.read_line(uplink4, 12346, w.ns(), 2), "");
    // Even a wan that routes straight to the subnet through the host gets nothing.
    ASSERT_EQ(l.in("ip route add 10.172.3.0/24 via 203.0.113.10", w.ns()).code, 0);
    EXPECT_EQ(l.read_line(srv, 12346, w.ns(), 2), "");
    // Positive control: without moat's table the same routes do answer.
    ASSERT_EQ(l.in("nft delete table inet moat").code, 0);
    EXPECT_EQ(line_from(l, "", srv, 12346, "hidden\n"), "hidden\n");
    EXPECT_EQ(line_from(l, w.ns(), srv, 12346, "hidden\n"), "hidden\n");
}

TEST(Network, UpConvergesAndRepairsDrift) {
    lab l;
    wan w(l);
    std::string v1 = R"(
[networks.cv]
subnet = "10.172.6.0/24"
egress = "nat"

[containers.keep]
privateNetwork = true
hostBridge = "cv"
[containers.keep.services.idle]
exec = ["/bin/sleep", "100000"]

[containers.web]
privateNetwork = true
hostBridge = "cv"
[containers.web.services.hello]
script = 'while true; do echo web | nc -l -p 12345; done'
restart = "always"
)";
    auto file = l.write("moat.toml", v1);
    up_ok(l, file);
    auto keep = container_status(l, "keep");
    ASSERT_TRUE(keep.is_object()) << status(l).dump();
    const int keep_pid = keep.value("pid", 0);
    ASSERT_TRUE(eventually([&] { return container_status(l, "keep")["services"]["idle"].value("pid", 0) > 0; }));
    const int idle_pid = container_status(l, "keep")["services"]["idle"].value("pid", 0);
    const int keep_if = ifindex(l, "ve-keep");
    ASSERT_GT(keep_pid, 0);
    ASSERT_GT(keep_if, 0);
    EXPECT_EQ(l.read_line(uplink4, 8080, w.ns(), 2), "");  // not forwarded yet
    // v2: web gets a forward, a new member joins.
    std::string v2 = v1;
    v2.insert(v2.find("[containers.web.services.hello]"),
              "forwardPorts = [ { protocol = \"tcp\", hostPort = 8080, containerPort = 12345 } ]\n");
    v2 += "\n[containers.fresh]\nprivateNetwork = true\nhostBridge = \"cv\"\n";
    const std::string tmp = "\n[networks.tmp]\nsubnet = \"10.172.9.0/24\"\n"
                            "[containers.gone]\nprivateNetwork = true\nhostBridge = \"tmp\"\n";
    l.write("moat.toml", v2 + tmp);
    auto r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(reported(r.out, "keep", "unchanged")) << r.out;
    EXPECT_TRUE(reported(r.out, "fresh", "created")) << r.out;
    EXPECT_EQ(r.out.find("no changes"), npos) << r.out;
    EXPECT_EQ(container_status(l, "keep").value("pid", 0), keep_pid);
    EXPECT_EQ(container_status(l, "keep")["services"]["idle"].value("pid", 0), idle_pid);
    EXPECT_EQ(ifindex(l, "ve-keep"), keep_if);
    EXPECT_TRUE(in_subnet(address_of(l, "fresh"), "10.172.6.0/24")) << status(l).dump();
    EXPECT_EQ(line_from(l, w.ns(), uplink4, 8080, "web\n"), "web\n");
    // Again: nothing to do, and it says so.
    auto table = l.in("nft list table inet moat").out;
    r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("no changes"), npos) << r.out;
    EXPECT_EQ(l.in("nft list table inet moat").out, table);
    // v3: a network and its only member leave the file; their links go.
    ASSERT_EQ(l.in("ip link show dev mb-tmp && ip link show dev ve-gone").code, 0);
    l.write("moat.toml", v2);
    r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(reported(r.out, "gone", "removed")) << r.out;
    EXPECT_TRUE(reported(r.out, "keep", "unchanged")) << r.out;
    EXPECT_EQ(l.in("ip -o link show | grep -E ' (mb-tmp|ve-gone)' || true").out, "");
    // Drift: the table and web's veth disappear; `up` repairs both.
    ASSERT_EQ(l.in("nft delete table inet moat").code, 0);
    ASSERT_EQ(l.in("ip link del ve-web").code, 0);
    r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(reported(r.out, "web", "repaired")) << r.out;
    EXPECT_EQ(r.out.find("no changes"), npos) << r.out;
    EXPECT_EQ(l.in("nft list table inet moat").code, 0);
    EXPECT_NE(l.in("ip -o link show dev ve-web").out.find("master mb-cv"), npos);
    EXPECT_EQ(line_from(l, w.ns(), uplink4, 8080, "web\n"), "web\n")
        << "host's neighbour entry for web: " << l.in("ip neigh show " + address_of(l, "web")).out
        << "web's eth0: " << l.moat("exec web -- ip -o link show dev eth0").out;
    std::string seen;
    eventually([&] { return (seen = http_get(l, "web", "http://" + web4 + "/")) == uplink4 + "\n"; });
    EXPECT_EQ(seen, uplink4 + "\n");
    EXPECT_EQ(container_status(l, "keep").value("pid", 0), keep_pid);
    EXPECT_EQ(ifindex(l, "ve-keep"), keep_if);
}

TEST(Network, PlanChangesNothingAndDownLeavesNothing) {
    lab l;
    wan w(l);
    auto file = l.write("moat.toml", R"(
[networks.pl]
subnet = "10.172.8.0/24"
subnet6 = "fd00:172:8::/64"
egress = "nat"

[containers.c]
privateNetwork = true
hostBridge = "pl"
forwardPorts = [ { protocol = "tcp", hostPort = 8080, containerPort = 80 } ]

[containers.d]
privateNetwork = true
hostAddress = "10.171.48.1"
localAddress = "10.171.48.2"
hostAddress6 = "fc00:48::1"
localAddress6 = "fc00:48::2"
egress = "nat"
)");
    const std::string before = kernel_state(l);
    auto plan = l.moat("plan -f " + file);
    ASSERT_EQ(plan.code, 0) << plan.out << plan.err;
    for (const char* want : {"table inet moat", "mb-pl", "ve-c", "ve-d", "10.172.8.1", "masquerade", "dnat"}) {
        EXPECT_NE(plan.out.find(want), npos) << want << " missing from plan:\n" << plan.out;
    }
    EXPECT_EQ(kernel_state(l), before);
    EXPECT_NE(l.in("nft list table inet moat").code, 0);
    up_ok(l, file);
    EXPECT_EQ(l.in("ip -o link show | grep -cE ' (mb|ve)-'").out, "3\n");
    auto down = l.moat("down");
    ASSERT_EQ(down.code, 0) << down.out << down.err;
    EXPECT_EQ(l.in("ip -o link show | grep -E ' (mb|ve)-' || true").out, "");
    EXPECT_NE(l.in("nft list table inet moat").code, 0);
    EXPECT_NE(moat::test::sh("test -e " + l.state_dir()).code, 0) << moat::test::sh("find " + l.state_dir()).out;
    EXPECT_EQ(kernel_state(l), before);
}

TEST(Network, DownAfterKillNineAtEveryPointOfUpLeavesNothing) {
    for (const char* point : {"after-record", "after-bridge", "after-cgroup", "after-spawn", "after-network",
                              "before-firewall", "after-firewall", "after-release"}) {
        SCOPED_TRACE(point);
        lab l;
        wan w(l);
        ASSERT_EQ(l.in("sysctl -qw net.ipv4.conf.all.forwarding=0 net.ipv6.conf.all.forwarding=0").code, 0);
        const std::string before = kernel_state(l);
        const std::string forwarding = "net.ipv4.conf." + w.uplink() + ".forwarding";
        auto file = l.write("moat.toml", R"(
[networks.k]
subnet = "10.172.10.0/24"
subnet6 = "fd00:172:10::/64"
egress = "nat"

[containers.c]
privateNetwork = true
hostBridge = "k"
forwardPorts = [ { protocol = "tcp", hostPort = 8080, containerPort = 80 } ]
)");
        auto r = sh("MOAT_FAILPOINT=" + std::string(point) + " " + enter(l.host_ns()) + moat_binary() +
                    " --state-dir " + l.state_dir() + " up -q -f " + file);
        EXPECT_EQ(r.code, 128 + 9) << r.err;  // it really died there
        auto down = l.moat("down");
        EXPECT_EQ(down.code, 0) << down.out << down.err;
        EXPECT_EQ(kernel_state(l), before);
        EXPECT_EQ(sysctl(l, forwarding), "0");
        EXPECT_EQ(sysctl(l, "net.ipv6.conf.all.forwarding"), "0");
        EXPECT_NE(sh("test -e " + l.state_dir()).code, 0) << sh("find " + l.state_dir()).out;
    }
}

TEST(Network, ConflictsAreRefusedBeforeAnythingIsTouched) {
    lab l;
    wan w(l);
    const std::string before = kernel_state(l);
    const std::string net = "[networks.cf]\nsubnet = \"10.172.17.0/24\"\n";
    const std::string member = "privateNetwork = true\nhostBridge = \"cf\"\n";
    const std::map<std::string, std::string> bad = {
        {"outside the subnet", net + "[containers.a]\n" + member + "localAddress = \"10.172.18.5\"\n"},
        {"one address twice", net + "[containers.a]\n" + member + "localAddress = \"10.172.17.5\"\n" +
                                  "[containers.b]\n" + member + "localAddress = \"10.172.17.5\"\n"},
        {"the bridge's address", net + "[containers.a]\n" + member + "localAddress = \"10.172.17.1\"\n"},
        {"a port forwarded twice",
         net + "[containers.a]\n" + member + "forwardPorts = [{ protocol = \"tcp\", hostPort = 8080, containerPort = 1 }]\n" +
             "[containers.b]\n" + member + "forwardPorts = [{ protocol = \"tcp\", hostPort = 8080, containerPort = 2 }]\n"},
        {"no such network", net + "[containers.a]\nprivateNetwork = true\nhostBridge = \"nope\"\n"},
    };
    for (const auto& [what, cfg] : bad) {
        auto r = l.moat("up -f " + l.write("bad.toml", cfg));
        EXPECT_EQ(r.code, 2) << what << ": " << r.out << r.err;
        EXPECT_NE(r.err.find("bad.toml"), npos) << what << ": " << r.err;
        EXPECT_EQ(kernel_state(l), before) << what;
    }
}
