// Real packets through the rendered table. The lab: a "host" namespace that
// the table is applied in, a "container" namespace on a veth pair (as moat
// wires it) and a fake internet "wan" namespace on a second veth, with
// documentation addresses only (LAB.md):
//
//   container eth0 10.231.0.2/30, fc00::2  <->  host ve<id> 10.231.0.1/30, fc00::1
//   host up<id> 198.51.100.1/24            <->  wan eth0 198.51.100.2/24
//
// Every check is paired with a baseline without the table, so a test fails if
// the traffic never worked in the first place rather than passing vacuously.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <optional>

#include "firewall/firewall.hpp"
#include "firewall_lab.hpp"

namespace moat::firewall {
namespace {

sys::ip_address ip(const std::string& s) { return *sys::ip_address::parse(s); }

class firewall_traffic : public ::testing::Test {
protected:
    void SetUp() override {
        auto id = test::short_id();
        _veth = "ve" + id;
        _uplink = "up" + id;
        auto h = _host.name(), c = _container.name(), w = _wan.name();
        test::must("ip -n " + h + " link add " + _veth + " type veth peer name eth0 netns " + c);
        test::must("ip -n " + h + " link add up" + id + " type veth peer name eth0 netns " + w);
        test::must("ip -n " + h + " addr add 10.231.0.1/30 dev " + _veth);
        test::must("ip -n " + h + " addr add fc00::1/64 dev " + _veth + " nodad");
        test::must("ip -n " + h + " addr add 198.51.100.1/24 dev up" + id);
        test::must("ip -n " + h + " link set " + _veth + " up");
        test::must("ip -n " + h + " link set up" + id + " up");
        test::must("ip -n " + c + " addr add 10.231.0.2/30 dev eth0");
        test::must("ip -n " + c + " addr add fc00::2/64 dev eth0 nodad");
        test::must("ip -n " + c + " link set eth0 up");
        test::must("ip -n " + c + " route add default via 10.231.0.1");
        test::must("ip -n " + w + " addr add 198.51.100.2/24 dev eth0");
        test::must("ip -n " + w + " link set eth0 up");
        test::must("ip -n " + w + " route add 10.231.0.0/16 via 198.51.100.1");
        _host.must_exec("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1");
        _host.in([&] { _ctx.emplace(); });
    }

    endpoint webapp() const {
        endpoint e;
        e.name = "webapp";
        e.host_if = _veth;
        e.addresses = {ip("10.231.0.2"), ip("fc00::2")};
        e.tcp_ports = {12345};
        return e;
    }

    test::netns _host, _container, _wan;
    std::string _veth, _uplink;
    std::optional<context> _ctx;
};

TEST_F(firewall_traffic, only_allowed_ports_reach_the_container) {
    auto allowed = test::tcp_listen(_container, AF_INET, 12345);
    auto other = test::tcp_listen(_container, AF_INET, 12346);
    ASSERT_TRUE(test::tcp_connects(_host, "10.231.0.2", 12346));  // baseline
    ASSERT_TRUE(test::tcp_connects(_wan, "10.231.0.2", 12346));

    _ctx->apply(render(spec{{webapp()}}));
    EXPECT_TRUE(test::tcp_connects(_host, "10.231.0.2", 12345));   // output hook
    EXPECT_FALSE(test::tcp_connects(_host, "10.231.0.2", 12346));
    EXPECT_TRUE(test::tcp_connects(_wan, "10.231.0.2", 12345));    // forward hook
    EXPECT_FALSE(test::tcp_connects(_wan, "10.231.0.2", 12346));

    _ctx->remove();
    EXPECT_TRUE(test::tcp_connects(_wan, "10.231.0.2", 12346));
}

// The first packets on the link are neighbour solicitations, sent after the
// table is in place: if ICMPv6 were not let through nothing would connect.
TEST_F(firewall_traffic, ipv6_neighbour_discovery_and_allowed_port) {
    auto allowed = test::tcp_listen(_container, AF_INET6, 12345);
    auto other = test::tcp_listen(_container, AF_INET6, 12346);
    _ctx->apply(render(spec{{webapp()}}));
    EXPECT_TRUE(test::tcp_connects(_host, "fc00::2", 12345));
    EXPECT_FALSE(test::tcp_connects(_host, "fc00::2", 12346));
    auto neigh = _host.must_exec("ip -6 neigh show fc00::2");
    EXPECT_NE(neigh.find("lladdr"), std::string::npos) << neigh;  // resolved by NS/NA
}

TEST_F(firewall_traffic, egress_none_drops_forwarded_traffic) {
    auto web = test::tcp_listen(_wan, AF_INET, 80);
    ASSERT_TRUE(test::tcp_connects(_container, "198.51.100.2", 80));  // baseline: routed
    ASSERT_EQ(test::accept_peer(web.get()), "10.231.0.2");

    _ctx->apply(render(spec{{webapp()}}));
    EXPECT_FALSE(test::tcp_connects(_container, "198.51.100.2", 80));
    EXPECT_EQ(test::accept_peer(web.get(), 200), "");

    auto nat = webapp();
    nat.egress = "nat";
    nat.uplink = _uplink;
    _ctx->apply(render(spec{{nat}}));
    EXPECT_TRUE(test::tcp_connects(_container, "198.51.100.2", 80));
    EXPECT_EQ(test::accept_peer(web.get()), "198.51.100.1");  // masqueraded
}

// Traffic to the host itself is input, not forward: to_host opens only the
// ports listed for the container, on every address of the host alike.
TEST_F(firewall_traffic, the_host_is_reached_only_on_its_allowed_ports) {
    auto open4 = test::tcp_listen(_host, AF_INET, 8000), open6 = test::tcp_listen(_host, AF_INET6, 8000);
    auto closed4 = test::tcp_listen(_host, AF_INET, 8001), closed6 = test::tcp_listen(_host, AF_INET6, 8001);
    for (const char* to : {"10.231.0.1", "198.51.100.1", "fc00::1"}) {  // baseline
        ASSERT_TRUE(test::tcp_connects(_container, to, 8001)) << to;
    }
    auto e = webapp();
    e.host_tcp_ports = {8000};
    _ctx->apply(render(spec{{e}}));
    for (const char* to : {"10.231.0.1", "198.51.100.1", "fc00::1"}) {
        EXPECT_TRUE(test::tcp_connects(_container, to, 8000)) << to;
        EXPECT_FALSE(test::tcp_connects(_container, to, 8001, "", 500)) << to;
    }
    // The host's own connections into the container still get their replies.
    auto svc = test::tcp_listen(_container, AF_INET, 12345);
    EXPECT_TRUE(test::tcp_connects(_host, "10.231.0.2", 12345));
    // Ping: the gateway (the host's address on the container's link) answers,
    // the host's other addresses do not.
    EXPECT_EQ(_container.exec("ping -c1 -W1 10.231.0.1").status, 0);
    EXPECT_EQ(_container.exec("ping -6 -c1 -W1 fc00::1").status, 0);
    EXPECT_NE(_container.exec("ping -c1 -W1 198.51.100.1").status, 0);
    _ctx->remove();
    EXPECT_EQ(_container.exec("ping -c1 -W1 198.51.100.1").status, 0);  // baseline
}

TEST_F(firewall_traffic, nat_egress_drops_spoofed_sources) {
    auto web = test::tcp_listen(_wan, AF_INET, 80);
    _container.must_exec("ip addr add 10.231.0.6/32 dev eth0");  // not the container's
    _host.must_exec("ip route add 10.231.0.6/32 dev " + _veth);   // so that replies find it
    ASSERT_TRUE(test::tcp_connects(_container, "198.51.100.2", 80, "10.231.0.6"));  // baseline
    ASSERT_EQ(test::accept_peer(web.get()), "10.231.0.6");

    auto nat = webapp();
    nat.egress = "nat";
    nat.uplink = _uplink;
    _ctx->apply(render(spec{{nat}}));
    EXPECT_TRUE(test::tcp_connects(_container, "198.51.100.2", 80));
    EXPECT_EQ(test::accept_peer(web.get()), "198.51.100.1");
    EXPECT_FALSE(test::tcp_connects(_container, "198.51.100.2", 80, "10.231.0.6"));
    EXPECT_EQ(test::accept_peer(web.get(), 200), "");
}

TEST_F(firewall_traffic, forwarded_port_from_outside_and_from_host_localhost) {
    auto svc = test::tcp_listen(_container, AF_INET, 12345);
    auto e = webapp();
    e.tcp_ports.clear();  // reachable only through the forward
    e.forwards = {{"tcp", 8080, 12345, std::nullopt, ip("10.231.0.2")}};
    _ctx->apply(render(spec{{e}}));

    EXPECT_FALSE(test::tcp_connects(_wan, "10.231.0.2", 12345));
    EXPECT_TRUE(test::tcp_connects(_wan, "198.51.100.1", 8080));
    EXPECT_EQ(test::accept_peer(svc.get()), "198.51.100.2");  // DNAT only, source kept

    // 127.0.0.1 may leave lo only with route_localnet (the caller's job).
    _host.must_exec("sysctl -qw net.ipv4.conf.all.route_localnet=1");
    EXPECT_TRUE(test::tcp_connects(_host, "127.0.0.1", 8080));
    EXPECT_EQ(test::accept_peer(svc.get()), "10.231.0.1");  // masqueraded onto the veth
}

}  // namespace
}  // namespace moat::firewall
