// Issue 14: where a forward to a confined container opens (its side), and
// who outside the tunnel may reach a confined container (accessibleFrom).
#include <gtest/gtest.h>

#include "firewall/firewall.hpp"
#include "firewall_text.hpp"
#include "sys/error.hpp"

namespace moat::firewall {
namespace {

using test::chain;
using test::contains;

sys::ip_address ip(const char* s) { return *sys::ip_address::parse(s); }
sys::ip_prefix prefix(const char* s) { return *sys::ip_prefix::parse(s); }

endpoint confined() {
    endpoint e;
    e.name = "svc";
    e.host_if = "ve-svc";
    e.addresses = {ip("10.231.0.2"), ip("fc00::2")};
    e.tcp_ports = {8000};
    e.egress = "vpn";
    e.tunnel_if = "tn-vpn0";
    return e;
}

endpoint natted() {
    endpoint e;
    e.name = "web";
    e.host_if = "ve-web";
    e.addresses = {ip("10.231.0.6")};
    e.egress = "nat";
    e.uplink = "eth0";
    return e;
}

TEST(firewall_render_vpn, forward_sides_choose_the_input_interface) {
    endpoint c = confined(), w = natted();
    c.forwards = {{"tcp", 8081, 81, std::nullopt, ip("10.231.0.2"), "tunnel"},
                  {"tcp", 8082, 82, std::nullopt, ip("10.231.0.2"), "uplink"},
                  {"tcp", 8083, 83, std::nullopt, ip("10.231.0.2"), "both"}};
    w.forwards = {{"tcp", 8080, 80, std::nullopt, ip("10.231.0.6"), "uplink"}};
    auto text = render(spec{{c, w}});
    auto pre = chain(text, "prerouting"), out = chain(text, "nat_output");
    const std::string local = "meta nfproto ipv4 fib daddr type local ";
    // tunnel: only on the tunnel's device, never from the host itself.
    EXPECT_TRUE(contains(pre, "\t\tiifname \"tn-vpn0\" " + local + "tcp dport 8081 dnat ip to 10.231.0.2:81\n")) << pre;
    EXPECT_FALSE(contains(out, "8081")) << out;
    // uplink: anywhere but moat's tunnels (also another container's uplink forward).
    EXPECT_TRUE(contains(pre, "\t\tiifname != { \"tn-vpn0\" } " + local + "tcp dport 8082 dnat ip to 10.231.0.2:82\n")) << pre;
    EXPECT_TRUE(contains(pre, "\t\tiifname != { \"tn-vpn0\" } " + local + "tcp dport 8080 dnat ip to 10.231.0.6:80\n")) << pre;
    EXPECT_TRUE(contains(out, "\t\t" + local + "tcp dport 8082 dnat")) << out;
    // both: no interface match at all.
    EXPECT_TRUE(contains(pre, "\t\t" + local + "tcp dport 8083 dnat ip to 10.231.0.2:83\n")) << pre;
    EXPECT_TRUE(contains(out, "\t\t" + local + "tcp dport 8083 dnat")) << out;
    // A tunnel-only forward needs no route_localnet; the others do.
    endpoint only_tunnel = c;
    only_tunnel.forwards.resize(1);
    EXPECT_FALSE(forwards_from_localhost(only_tunnel));
    EXPECT_TRUE(forwards_from_localhost(c));
}

TEST(firewall_render_vpn, a_tunnel_forward_without_a_tunnel_opens_nowhere) {
    endpoint c = confined();
    c.tunnel_if.clear();
    c.forwards = {{"tcp", 8081, 81, std::nullopt, ip("10.231.0.2"), "tunnel"}};
    auto text = render(spec{{c}});
    EXPECT_FALSE(contains(text, "8081")) << text;
}

TEST(firewall_render_vpn, sides_other_than_uplink_need_a_tunnel) {
    endpoint w = natted();
    w.forwards = {{"tcp", 8080, 80, std::nullopt, ip("10.231.0.6"), "tunnel"}};
    EXPECT_THROW(render(spec{{w}}), moat::error);
    w.forwards[0].side = "both";
    EXPECT_THROW(render(spec{{w}}), moat::error);
    w.forwards[0].side = "sideways";
    EXPECT_THROW(render(spec{{w}}), moat::error);
    w.forwards[0].side = "uplink";
    EXPECT_NO_THROW(render(spec{{w}}));
    w.accessible_from = {prefix("192.168.1.0/24")};
    EXPECT_THROW(render(spec{{w}}), moat::error);
}

TEST(firewall_render_vpn, only_accessible_from_reaches_a_confined_container_past_its_tunnel) {
    endpoint c = confined();
    auto closed = chain(render(spec{{c, natted()}}), "reach_confined");
    // Without accessibleFrom: no new connection from outside the tunnel to
    // its own address, whatever its allowed ports (forwards are DNAT'ed).
    EXPECT_TRUE(contains(closed, "type filter hook prerouting priority -90; policy accept;")) << closed;
    EXPECT_TRUE(contains(closed, "\t\tct state new iifname != @ifaces iifname != { \"tn-vpn0\" } ct status & dnat == 0 "
                                 "ip daddr { 10.231.0.2 } drop\n")) << closed;
    EXPECT_TRUE(contains(closed, "ip6 daddr { fc00::2 } drop\n")) << closed;
    EXPECT_FALSE(contains(closed, "10.231.0.6")) << "a NAT'ed container is not guarded here";

    c.accessible_from = {prefix("192.168.1.7/24"), prefix("fd00:1::/64"), prefix("10.1.0.0/16")};
    c.forwards = {{"tcp", 8081, 81, std::nullopt, ip("10.231.0.2"), "tunnel"},
                  {"tcp", 8082, 82, std::nullopt, ip("fc00::2"), "tunnel"}};
    auto text = render(spec{{c}});
    auto reach = chain(text, "reach_confined");
    EXPECT_TRUE(contains(reach, "ip daddr { 10.231.0.2 } ip saddr != { 10.1.0.0/16, 192.168.1.0/24 } drop\n")) << reach;
    EXPECT_TRUE(contains(reach, "ip6 daddr { fc00::2 } ip6 saddr != { fd00:1::/64 } drop\n")) << reach;
    // Its tunnel-side forwards are open to those sources off the tunnel too.
    auto pre = chain(text, "prerouting");
    EXPECT_TRUE(contains(pre, "\t\tiifname != { \"tn-vpn0\" } ip saddr { 10.1.0.0/16, 192.168.1.0/24 } meta nfproto "
                              "ipv4 fib daddr type local tcp dport 8081 dnat ip to 10.231.0.2:81\n")) << pre;
    EXPECT_TRUE(contains(pre, "\t\tiifname != { \"tn-vpn0\" } ip6 saddr { fd00:1::/64 } meta nfproto ipv6 fib daddr "
                              "type local tcp dport 8082 dnat ip6 to [fc00::2]:82\n")) << pre;
    // Nothing opens a way out: the container's chain still leaves only by the tunnel.
    EXPECT_TRUE(contains(chain(text, "out_svc"), "\t\toifname \"tn-vpn0\" return\n\t\tdrop\n"));
    EXPECT_FALSE(contains(chain(text, "out_svc"), "192.168")) << chain(text, "out_svc");
}

}  // namespace
}  // namespace moat::firewall
