// A container reaches nothing of the host unless its configuration says so:
// not a service on any of the host's addresses (its own link's, another
// link's, the uplink's), not the host's resolver as a relay to the wan, not
// the host's loopback by a hand-made frame — judged by the services'
// answers and by a capture on the wan link, each with a positive control.
// network_host_lab.hpp draws the lab.
#include "network_host_lab.hpp"

#include <gtest/gtest.h>

#include <tuple>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;

void up_ok(lab& l, const std::string& file) {
    auto r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
}

// p: point-to-point; m: member of network hn. Both egress "none".
const std::string host_config = R"(
[networks.hn]
subnet = "10.172.60.0/24"
subnet6 = "fd00:172:60::/64"

[containers.p]
privateNetwork = true
hostAddress = "10.171.60.1"
localAddress = "10.171.60.2"
hostAddress6 = "fd00:171:60::1"
localAddress6 = "fd00:171:60::2"

[containers.m]
privateNetwork = true
hostBridge = "hn"
)";

// Every address of the host a container could aim at: p's veth, the
// bridge's gateway, the uplink; IPv4 and IPv6.
const std::vector<std::string> host_addresses = {"10.171.60.1", "10.172.60.1",    uplink4,
                                                 "fd00:171:60::1", "fd00:172:60::1", uplink6};

std::string shown(const std::map<std::string, std::string>& r) {
    std::string s;
    for (const auto& [k, v] : r) s += k + " -> " + v + "\n";
    return s;
}

// The lines of the host resolver's log that forwarded a question to the wan.
int forwarded(const host_services& h) {
    return std::atoi(sh("grep -c 'forwarded leak.example' " + h.forwarded_log() + " || true").out.c_str());
}

}  // namespace

TEST(NetworkHostAccess, EgressNoneReachesNoHostServiceAndTheResolverRelaysNothing) {
    lab l;
    wan w(l);
    host_services services(l, w);
    auto file = l.write("moat.toml", host_config);
    up_ok(l, file);
    // The fixture's positive control, now with moat's table in place: the
    // host reaches its own services on every address, and its resolver
    // forwards to the wan, seen on the wan link.
    {
        capture wan_link(l, w.uplink());
        auto r = reach(l, "", 2222, host_addresses);
        for (const auto& a : host_addresses) {
            EXPECT_EQ(r["tcp " + a], a.find(':') == npos ? "host-any" : "host-any6") << a << "\n" << shown(r);
            EXPECT_EQ(r["dns " + a], leak_answer) << a << "\n" << shown(r);
        }
        EXPECT_GT(wan_link.count("udp dst port 53 and src host " + uplink4), 0) << wan_link.packets("");
    }
    // From inside, through every address: nothing answers, and not one
    // question leaves by the wan link while they ask.
    const int before = forwarded(services);
    capture wan_link(l, w.uplink());
    for (const char* c : {"p", "m"}) {
        auto r = reach(l, c, 2222, host_addresses);
        ASSERT_EQ(r.size(), 2 * host_addresses.size()) << c << ": the probe did not run\n" << shown(r);
        for (const auto& [what, answer] : r) EXPECT_EQ(answer, "-") << c << ": " << what;
    }
    EXPECT_EQ(wan_link.count("udp port 53"), 0) << wan_link.packets("udp port 53");
    EXPECT_EQ(forwarded(services), before);
    // Ping: the container's own gateway answers (as with Docker), the
    // host's other addresses do not.
    EXPECT_EQ(l.moat("exec p -- ping -c1 -W1 10.171.60.1").code, 0);
    EXPECT_EQ(l.moat("exec p -- ping -6 -c1 -W1 fd00:171:60::1").code, 0);
    EXPECT_EQ(l.moat("exec m -- ping -c1 -W1 10.172.60.1").code, 0);
    for (const std::string& other : {uplink4, std::string("10.172.60.1")}) {
        EXPECT_NE(l.moat("exec p -- ping -c1 -W1 " + other).code, 0) << other;
    }
    EXPECT_NE(l.moat("exec m -- ping -c1 -W1 10.171.60.1").code, 0);

    // Positive control: the configuration opens the ports, and the same
    // questions get through — and are forwarded to the wan.
    std::string open = host_config;
    for (const char* c : {"[containers.p]\n", "[containers.m]\n"}) {
        open.insert(open.find(c) + std::string(c).size(),
                    "firewall.allowedHostUDPPorts = [53]\nfirewall.allowedHostTCPPorts = [2222]\n");
    }
    l.write("moat.toml", open);
    up_ok(l, file);
    capture opened(l, w.uplink());
    for (const char* c : {"p", "m"}) {
        std::map<std::string, std::string> r;
        eventually([&] { return (r = reach(l, c, 2222, host_addresses))["dns " + uplink4] == leak_answer; });
        for (const auto& a : host_addresses) {
            EXPECT_EQ(r["tcp " + a], a.find(':') == npos ? "host-any" : "host-any6") << c << " " << a;
            EXPECT_EQ(r["dns " + a], leak_answer) << c << " " << a;
        }
    }
    EXPECT_GT(opened.count("udp dst port 53 and src host " + uplink4), 0) << opened.packets("");
    EXPECT_GT(forwarded(services), before);
}

// CVE-2020-8558: a root in the container sends a hand-made frame to the
// host's end of its link addressed to 127.0.0.1. Two layers refuse it, each
// alone: route_localnet = 0 on the link (the kernel drops the "martian"),
// and the table's localnet guard (even where route_localnet is 1). Without
// both — the state before — the host's loopback service answers.
TEST(NetworkHostAccess, RawFramesToTheHostsLoopbackGetNoAnswer) {
    lab l;
    wan w(l);
    host_services services(l, w);
    // The loopback listener's port is even allowed: no rule but the guard
    // stands between the frame and the service once route_localnet is 1.
    std::string cfg = host_config;
    for (const char* c : {"[containers.p]\n", "[containers.m]\n"}) {
        cfg.insert(cfg.find(c) + std::string(c).size(),
                   "firewall.allowedHostTCPPorts = [2223]\nfirewall.allowedHostUDPPorts = [5300]\n");
    }
    up_ok(l, l.write("moat.toml", cfg));
    struct target {
        std::string name, link, mac, gateway, source;
    };
    std::vector<target> targets;
    for (const auto& [name, link, gateway] : {std::tuple{"p", "ve-p", "10.171.60.1"}, std::tuple{"m", "mb-hn", "10.172.60.1"}}) {
        targets.push_back({name, link, mac_of(l, link), gateway, address_of(l, name)});
        ASSERT_FALSE(targets.back().source.empty()) << status(l).dump();
        EXPECT_EQ(sysctl(l, "net.ipv4.conf." + std::string(link) + ".route_localnet"), "0") << link;
    }
    auto set_localnet = [&](const target& t, int on) {
        ASSERT_EQ(l.in("sysctl -qw net.ipv4.conf." + t.link + ".route_localnet=" + std::to_string(on)).code, 0);
    };
    for (const auto& t : targets) {
        SCOPED_TRACE(t.name);
        EXPECT_FALSE(localhost_answers(l, t.name, t.mac, t.gateway, t.source, 2223, "tcp"));
        set_localnet(t, 1);  // by hand: the guard alone
        EXPECT_FALSE(localhost_answers(l, t.name, t.mac, t.gateway, t.source, 2223, "tcp"));
        EXPECT_FALSE(localhost_answers(l, t.name, t.mac, t.gateway, t.source, 5300, "dns"));
    }
    // The guard removed: route_localnet = 0 alone still holds ...
    auto handle = l.in("nft -a list chain inet moat to_host | grep '127.0.0.0/8' | sed 's/.*# handle //'").out;
    ASSERT_FALSE(handle.empty()) << l.in("nft -a list table inet moat").out;
    ASSERT_EQ(l.in("nft delete rule inet moat to_host handle " + handle).code, 0);
    for (const auto& t : targets) {
        SCOPED_TRACE(t.name);
        set_localnet(t, 0);
        EXPECT_FALSE(localhost_answers(l, t.name, t.mac, t.gateway, t.source, 2223, "tcp"));
        // ... and with both gone, the old state, the attack works: the
        // script proves the attack, it is not broken.
        set_localnet(t, 1);
        EXPECT_TRUE(localhost_answers(l, t.name, t.mac, t.gateway, t.source, 2223, "tcp"));
        EXPECT_TRUE(localhost_answers(l, t.name, t.mac, t.gateway, t.source, 5300, "dns"));
    }
}
