// `moat down` leaves no connection tracking entry of the container it
// removes (netlink/conntrack.hpp): its NAT'ed egress (IPv4 and IPv6, UDP and
// TCP) and the flows DNAT'ed to it by forwardPorts are deleted from the
// host's table, while the flows of a container that stays and the host's own
// are still there. Read with conntrack(8) in the lab's host (LAB.md).
#include "conntrack_lab.hpp"

#include <gtest/gtest.h>

#include <sstream>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;

// `gone` talks to the wan all the time (UDP over both families, and a TCP
// connection it keeps open) and serves two forwards; `stays` talks too.
const char* config = R"(
[networks.ct]
subnet = "10.172.21.0/24"
subnet6 = "fd00:172:21::/64"
egress = "nat"

[containers.gone]
privateNetwork = true
hostBridge = "ct"
forwardPorts = [
  { protocol = "udp", hostPort = 5353, containerPort = 5353 },
  { protocol = "tcp", hostPort = 8080, containerPort = 12345 },
]
[containers.gone.services.echo]
exec = ["/usr/bin/python3", "-c", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('', 5353))\nwhile True:\n    d, a = s.recvfrom(100)\n    s.sendto(b'udp-' + d, a)\n"]
restart = "always"
[containers.gone.services.hello]
script = 'while true; do echo hello | nc -l -p 12345; done'
restart = "always"
[containers.gone.services.chatter]
script = 'while true; do echo a | nc -4 -u -w1 198.51.100.10 5300; echo b | nc -6 -u -w1 2001:db8:51::10 5300; sleep 1; done'
restart = "always"
[containers.gone.services.hold]
script = 'while true; do sleep 600 | nc 198.51.100.10 80; sleep 1; done'
restart = "always"

[containers.stays]
privateNetwork = true
hostBridge = "ct"
[containers.stays.services.chatter]
script = 'while true; do echo c | nc -4 -u -w1 198.51.100.10 5300; sleep 1; done'
restart = "always"
)";


}  // namespace

TEST(Conntrack, DownForgetsTheContainersFlowsAndNothingElse) {
    lab l;
    wan w(l);
    serve_udp_echo(l, w.ns());
    auto file = l.write("moat.toml", config);
    auto up = l.moat("up -f " + file);
    ASSERT_EQ(up.code, 0) << up.out << up.err;
    const std::string gone4 = address_of(l, "gone"), gone6 = address_of(l, "gone", "local6");
    const std::string stays4 = address_of(l, "stays");
    ASSERT_TRUE(in_subnet(gone4, "10.172.21.0/24") && in_subnet(gone6, "fd00:172:21::/64")) << status(l).dump();
    // Forwards from the wan: a UDP exchange, and a TCP connection held open.
    std::string udp;
    ASSERT_TRUE(eventually([&] { return (udp = ns_udp(l, w.ns(), uplink4, 5353, "ping")) == "udp-ping\n"; })) << udp;
    l.in("(setsid timeout 120 sh -c 'sleep 120 | nc 203.0.113.10 8080' </dev/null >/dev/null 2>&1 &)", w.ns());
    // The host's own flow: it must survive.
    ASSERT_EQ(ns_udp(l, "", web4, echo_port, "host"), "udp-host\n");

    // Positive control: the table names gone in each role, and stays.
    EXPECT_TRUE(ct_has(l, "-p udp --orig-src " + gone4, "dport=5300"));    // masqueraded egress
    EXPECT_TRUE(ct_has(l, "-p udp --orig-src " + gone6, "dport=5300"));    // the same over IPv6
    EXPECT_TRUE(ct_has(l, "-p tcp --orig-src " + gone4, "ESTABLISHED"));   // a TCP flow it keeps
    EXPECT_TRUE(ct_has(l, "-p udp --reply-src " + gone4, "dport=5353"));   // DNAT'ed to it
    EXPECT_TRUE(ct_has(l, "-p tcp --reply-src " + gone4, "ESTABLISHED"));  // the same, TCP
    EXPECT_TRUE(ct_has(l, "-p udp --orig-src " + stays4, "dport=5300"));
    EXPECT_TRUE(ct_has(l, "-p udp --orig-src " + uplink4, "dport=5300"));

    auto down = l.moat("down gone");
    ASSERT_EQ(down.code, 0) << down.out << down.err;
    EXPECT_EQ(down.err.find("warning"), npos) << down.err;
    EXPECT_EQ(ct_naming(l, gone4), "");
    EXPECT_EQ(ct_naming(l, gone6), "");
    // No collateral: the other container's flows and the host's own remain.
    EXPECT_NE(ct_entries(l, "-p udp --orig-src " + stays4), "");
    EXPECT_NE(ct_entries(l, "-p udp --orig-src " + uplink4 + " --dport 5300"), "");
    auto rest = l.moat("down");
    EXPECT_EQ(rest.code, 0) << rest.out << rest.err;
    EXPECT_EQ(ct_naming(l, stays4), "");
}

// `up` recreating a container (its configuration changed) forgets the old
// instance's flows too: the wan's UDP flow through the forward, answered by
// the old instance, is gone, though the new one has the same address.
TEST(Conntrack, RecreateForgetsTheOldInstancesFlows) {
    lab l;
    wan w(l);
    serve_udp_echo(l, w.ns());
    auto file = l.write("moat.toml", config);
    auto up = l.moat("up -f " + file);
    ASSERT_EQ(up.code, 0) << up.out << up.err;
    const std::string gone4 = address_of(l, "gone");
    const int old_pid = container_status(l, "gone").value("pid", 0);
    std::string udp;
    ASSERT_TRUE(eventually([&] { return (udp = ns_udp(l, w.ns(), uplink4, 5353, "ping")) == "udp-ping\n"; })) << udp;
    // The answered flow's source port on the wan (UNREPLIED ones are tries
    // made before the echo service listened).
    std::string port;
    {
        std::istringstream in(ct_entries(l, "-p udp --reply-src " + gone4 + " --dport 5353"));
        for (std::string line; port.empty() && std::getline(in, line);) {
            auto at = line.find("sport=");
            if (line.find("UNREPLIED") == npos && at != npos) port = line.substr(at + 6, line.find(' ', at) - at - 6);
        }
    }
    ASSERT_FALSE(port.empty()) << ct_entries(l, "-p udp");
    const std::string old_flow = "-p udp --orig-src 203.0.113.1 --sport " + port + " --dport 5353";
    ASSERT_NE(ct_entries(l, old_flow), "");  // control

    std::string v2 = config;
    v2.replace(v2.find("sleep 1; done'\nrestart"), 7, "sleep 2");  // gone's chatter: a new plan
    file = l.write("moat.toml", v2);
    up = l.moat("up -f " + file);
    ASSERT_EQ(up.code, 0) << up.out << up.err;
    ASSERT_NE(container_status(l, "gone").value("pid", 0), old_pid) << up.out;  // recreated
    EXPECT_EQ(address_of(l, "gone"), gone4);
    EXPECT_EQ(ct_entries(l, old_flow), "");
    l.moat("down");
}
