// render(): the exact text for a representative spec (golden), determinism,
// chain naming, the egress modes, port forwards and validation.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "firewall/firewall.hpp"
#include "firewall_text.hpp"
#include "sys/error.hpp"

namespace moat::firewall {
namespace {

using test::chain;
using test::contains;

sys::ip_address ip(const char* s) { return *sys::ip_address::parse(s); }

endpoint webapp() {
    endpoint e;
    e.name = "webapp";
    e.host_if = "ve-webapp";
    e.addresses = {ip("fc00::2"), ip("10.231.0.2")};
    e.tcp_ports = {12345, 80};
    return e;
}


TEST(firewall_render, golden_single_container) {
    const std::string expected =
        "table inet moat {\n"
        "\tset ifaces {\n\t\ttype ifname\n\t\telements = { \"ve-webapp\" }\n\t}\n\n"
        "\tmap from4 {\n\t\ttype ifname . ipv4_addr : verdict\n"
        "\t\telements = { \"ve-webapp\" . 10.231.0.2 : goto out_webapp }\n\t}\n\n"
        "\tmap from6 {\n\t\ttype ifname . ipv6_addr : verdict\n"
        "\t\telements = { \"ve-webapp\" . fc00::2 : goto out_webapp }\n\t}\n\n"
        "\tmap to4 {\n\t\ttype ifname . ipv4_addr : verdict\n"
        "\t\telements = { \"ve-webapp\" . 10.231.0.2 : goto in_webapp }\n\t}\n\n"
        "\tmap to6 {\n\t\ttype ifname . ipv6_addr : verdict\n"
        "\t\telements = { \"ve-webapp\" . fc00::2 : goto in_webapp }\n\t}\n\n"
        "\tset host4 {\n\t\ttype ifname . ipv4_addr . inet_proto . inet_service\n\t}\n\n"
        "\tset host6 {\n\t\ttype ifname . ipv6_addr . inet_proto . inet_service\n\t}\n\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter; policy accept;\n"
        "\t\tiifname @ifaces jump from_moat\n"
        "\t\toifname @ifaces jump to_moat\n\t}\n\n"
        "\tchain output {\n"
        "\t\ttype filter hook output priority filter; policy accept;\n"
        "\t\toifname @ifaces jump to_moat\n\t}\n\n"
        "\tchain from_moat {\n"
        "\t\tiifname . ip saddr vmap @from4\n"
        "\t\tiifname . ip6 saddr vmap @from6\n"
        "\t\tdrop\n\t}\n\n"
        "\tchain to_moat {\n"
        "\t\toifname . ip daddr vmap @to4\n"
        "\t\toifname . ip6 daddr vmap @to6\n"
        "\t\tmeta l4proto 58 accept\n"
        "\t\tdrop\n\t}\n\n"
        "\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        "\t\tiifname @ifaces jump to_host\n\t}\n\n"
        "\tchain to_host {\n"
        "\t\tct state established,related accept\n"
        "\t\tip daddr 127.0.0.0/8 ct status & dnat == 0 drop\n"
        "\t\tct state invalid drop\n"
        "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n"
        "\t\ticmp type echo-request fib daddr . iif type local accept\n"
        "\t\ticmpv6 type echo-request fib daddr . iif type local accept\n"
        "\t\tiifname . ip saddr . meta l4proto . th dport @host4 accept\n"
        "\t\tiifname . ip6 saddr . meta l4proto . th dport @host6 accept\n"
        "\t\tdrop\n\t}\n\n"
        "\tchain guard_webapp {\n"
        "\t\ttype filter hook ingress device \"ve-webapp\" priority -500; policy accept;\n"
        "\t\tip saddr != { 10.231.0.2 } drop\n"
        "\t\tip6 saddr :: accept\n"
        "\t\tip6 saddr fe80::/10 accept\n"
        "\t\tip6 saddr != { fc00::2 } drop\n\t}\n\n"
        "\tchain in_webapp {\n"
        "\t\tct state established,related accept\n"
        "\t\tct state invalid drop\n"
        "\t\tmeta l4proto 1 accept\n"
        "\t\tmeta l4proto 58 accept\n"
        "\t\ttcp dport { 80, 12345 } accept\n"
        "\t\tdrop\n\t}\n\n"
        "\tchain out_webapp {\n"
        "\t\tct state established,related return\n"
        "\t\tct state invalid drop\n"
        "\t\tct status dnat oifname @ifaces return\n"
        "\t\toifname @ifaces drop\n"
        "\t\tdrop\n\t}\n"
        "}\n";
    EXPECT_EQ(render(spec{{webapp()}}), expected);
}

TEST(firewall_render, empty_spec_has_base_chains_and_empty_maps) {
    auto text = render(spec{});
    EXPECT_TRUE(text.starts_with("table inet moat {\n"));
    EXPECT_TRUE(text.ends_with("}\n"));
    EXPECT_TRUE(contains(text, "type filter hook forward priority filter; policy accept;"));
    EXPECT_TRUE(contains(text, "type filter hook output priority filter; policy accept;"));
    EXPECT_TRUE(contains(text, "type filter hook input priority filter; policy accept;"));
    EXPECT_TRUE(contains(text, "map to4 {\n\t\ttype ifname . ipv4_addr : verdict\n\t}"));
    EXPECT_FALSE(contains(text, "elements"));
    EXPECT_FALSE(contains(text, "chain in_"));
    EXPECT_FALSE(contains(text, "type nat"));
    EXPECT_FALSE(contains(text, "\n\n}"));
}

TEST(firewall_render, deterministic_regardless_of_input_order) {
    endpoint a = webapp();
    endpoint b;
    b.name = "db";
    b.host_if = "ve-db";
    b.addresses = {ip("10.231.0.6")};
    b.udp_ports = {53, 5353, 53};
    spec s1{{a, b}};
    EXPECT_EQ(render(s1), render(s1));

    std::reverse(a.tcp_ports.begin(), a.tcp_ports.end());
    std::reverse(a.addresses.begin(), a.addresses.end());
    spec s2{{b, a}};
    EXPECT_EQ(render(s1), render(s2));
    auto text = render(s1);
    EXPECT_LT(text.find("chain in_db"), text.find("chain in_webapp"));
    EXPECT_TRUE(contains(text, "udp dport { 53, 5353 } accept"));
    EXPECT_TRUE(contains(text, "elements = { \"ve-db\" . 10.231.0.6 : goto in_db, \"ve-webapp\" . 10.231.0.2 : goto in_webapp }"));
}

TEST(firewall_render, names_with_dash_underscore_and_64_chars) {
    endpoint e = webapp();
    e.name = "Web_app-2";
    auto text = render(spec{{e}});
    EXPECT_NE(chain(text, "in_Web_app-2"), "");
    EXPECT_NE(chain(text, "out_Web_app-2"), "");
    EXPECT_NE(chain(text, "guard_Web_app-2"), "");
    EXPECT_TRUE(contains(text, "\"ve-webapp\" . 10.231.0.2 : goto in_Web_app-2"));

    e.name = std::string(64, 'x');
    EXPECT_NE(chain(render(spec{{e}}), "in_" + e.name), "");
}

TEST(firewall_render, rejects_names_nft_could_misread) {
    for (std::string bad : std::vector<std::string>{"", "a b", "a\"b", "a.b", "a;b", "a}", std::string(65, 'x')}) {
        endpoint e = webapp();
        e.name = bad;
        EXPECT_THROW(render(spec{{e}}), moat::error) << "name: " << bad;
    }
    for (std::string bad : std::vector<std::string>{"", "ve-\"x", "ve x", "ve-*", "ve-0123456789abc"}) {
        endpoint e = webapp();
        e.host_if = bad;
        EXPECT_THROW(render(spec{{e}}), moat::error) << "ifname: " << bad;
    }
}

TEST(firewall_render, rejects_inconsistent_specs) {
    endpoint a = webapp(), b = webapp();
    EXPECT_THROW(render(spec{{a, b}}), moat::error);  // same name
    b.name = "other";
    EXPECT_THROW(render(spec{{a, b}}), moat::error);  // same interface
    endpoint c = webapp();
    c.egress = "vpn:tun0";
    EXPECT_THROW(render(spec{{c}}), moat::error);
    c = webapp();
    c.tcp_ports.push_back(0);
    EXPECT_THROW(render(spec{{c}}), moat::error);
    try {
        c = webapp();
        c.egress = "everything";
        render(spec{{c}});
        FAIL() << "no exception";
    } catch (const moat::error& e) {
        EXPECT_STREQ(e.what(), "firewall: container webapp: unknown egress \"everything\"");
    }
}

TEST(firewall_render, egress_none_drops_new_forwarded_traffic_only) {
    auto out = chain(render(spec{{webapp()}}), "out_webapp");
    EXPECT_EQ(out,
              "\tchain out_webapp {\n\t\tct state established,related return\n"
              "\t\tct state invalid drop\n\t\tct status dnat oifname @ifaces return\n"
              "\t\toifname @ifaces drop\n\t\tdrop\n\t}\n");
    EXPECT_FALSE(contains(render(spec{{webapp()}}), "masquerade"));
}

TEST(firewall_render, sources_are_checked_at_the_veth_and_by_the_maps) {
    endpoint e = webapp();
    e.addresses = {ip("10.231.0.2")};  // v4 only: any IPv6 source but DAD/ND is spoofed
    auto text = render(spec{{e}});
    EXPECT_TRUE(contains(chain(text, "guard_webapp"),
                         "\t\tip6 saddr :: accept\n\t\tip6 saddr fe80::/10 accept\n\t\tmeta protocol ip6 drop\n"));
    EXPECT_TRUE(chain(text, "from_moat").ends_with("\t\tdrop\n\t}\n"));
    e.addresses = {ip("fc00::2")};
    EXPECT_TRUE(contains(chain(render(spec{{e}}), "guard_webapp"), "meta protocol ip drop"));
}

// The kernel binds each anonymous set of a batch by walking the whole
// transaction, so a set in every container's chains made one commit of N
// containers cost N^2 (docs/BENCHMARKS.md). A container with one address per
// family and one port needs none. nft turns a one-element set ("{ x }")
// into a plain match, so only a set of two or more counts.
TEST(firewall_render, a_plain_containers_chains_hold_no_anonymous_set) {
    auto anonymous_sets = [](const std::string& text) {
        int n = 0;
        for (auto open = text.find("{ "); open != std::string::npos; open = text.find("{ ", open + 1)) {
            n += text.substr(open, text.find(" }", open) - open).find(',') != std::string::npos;
        }
        return n;
    };
    endpoint e = webapp();
    e.tcp_ports = {80};
    e.egress = "nat";
    e.uplink = "up0";
    auto text = render(spec{{e}});
    for (const char* c : {"guard_webapp", "in_webapp", "out_webapp"}) {
        EXPECT_EQ(anonymous_sets(chain(text, c)), 0) << chain(text, c);
    }
    // Control: two ports are a set, and it is counted.
    e.tcp_ports = {80, 443};
    EXPECT_EQ(anonymous_sets(chain(render(spec{{e}}), "in_webapp")), 1);
}

TEST(firewall_render, egress_nat_leaves_only_by_the_uplink_and_masquerades) {
    endpoint e = webapp();
    e.egress = "nat";
    e.uplink = "eth0";
    auto text = render(spec{{e}});
    auto out = chain(text, "out_webapp");
    EXPECT_TRUE(out.ends_with("\t\toifname @ifaces drop\n\t\toifname \"eth0\" return\n\t\tdrop\n\t}\n")) << out;
    auto post = chain(text, "postrouting");
    EXPECT_TRUE(contains(post, "type nat hook postrouting priority srcnat; policy accept;"));
    EXPECT_TRUE(contains(post, "oifname . ip saddr @masq4 masquerade"));
    EXPECT_TRUE(contains(post, "oifname . ip6 saddr @masq6 masquerade"));
    EXPECT_TRUE(contains(chain(text, "set masq4"), "elements = { \"eth0\" . 10.231.0.2 }")) << text;
    EXPECT_TRUE(contains(chain(text, "set masq6"), "elements = { \"eth0\" . fc00::2 }")) << text;

    e.uplink = "";  // no default route: nothing leaves, nothing to masquerade
    text = render(spec{{e}});
    EXPECT_TRUE(chain(text, "out_webapp").ends_with("\t\toifname @ifaces drop\n\t\tdrop\n\t}\n"));
    EXPECT_FALSE(contains(text, "masquerade"));
}

TEST(firewall_render, egress_vpn_only_into_the_tunnel_and_fails_closed) {
    endpoint e = webapp();
    e.egress = "vpn";
    auto closed = render(spec{{e}});
    EXPECT_TRUE(chain(closed, "out_webapp").ends_with("\t\toifname @ifaces drop\n\t\tdrop\n\t}\n"));
    EXPECT_FALSE(contains(closed, "masquerade"));

    e.tunnel_if = "tun0";
    auto text = render(spec{{e}});
    EXPECT_TRUE(contains(chain(text, "out_webapp"), "\t\toifname \"tun0\" return\n\t\tdrop\n\t}"));
    EXPECT_TRUE(contains(chain(text, "postrouting"), "oifname . ip saddr @masq4 masquerade"));
    EXPECT_TRUE(contains(chain(text, "set masq4"), "elements = { \"tun0\" . 10.231.0.2 }")) << text;
}

TEST(firewall_render, bridge_members_share_the_bridge_and_reach_each_other) {
    endpoint a = webapp(), b;
    a.bridge_if = "mb-lab";
    b.name = "db";
    b.host_if = "ve-db";
    b.bridge_if = "mb-lab";
    b.addresses = {ip("10.231.0.6")};
    auto text = render(spec{{a, b}});
    EXPECT_TRUE(contains(text, "set ifaces {\n\t\ttype ifname\n\t\telements = { \"mb-lab\" }\n\t}"));
    EXPECT_TRUE(contains(text, "\"mb-lab\" . 10.231.0.6 : goto out_db, \"mb-lab\" . 10.231.0.2 : goto out_webapp"));
    EXPECT_TRUE(contains(chain(text, "to_moat"), "iifname \"mb-lab\" oifname \"mb-lab\" accept"));
    EXPECT_TRUE(contains(chain(text, "out_db"), "\t\toifname \"mb-lab\" return\n\t\toifname @ifaces drop\n"));
    // The guard sits on the member's own port, where spoofing would enter.
    EXPECT_TRUE(contains(chain(text, "guard_db"), "ingress device \"ve-db\""));
}

TEST(firewall_render, port_forwards_dnat_from_outside_and_from_the_host) {
    endpoint e = webapp();
    e.forwards = {
        {"tcp", 8080, 12345, std::nullopt, ip("10.231.0.2")},
        {"udp", 5353, 53, ip("127.0.0.1"), ip("10.231.0.2")},
        {"tcp", 8443, 443, ip("fd00::1"), ip("fc00::2")},
    };
    auto text = render(spec{{e}});
    for (auto name : {"prerouting", "nat_output"}) {
        auto c = chain(text, name);
        EXPECT_TRUE(contains(c, "meta nfproto ipv4 fib daddr type local tcp dport 8080 dnat ip to 10.231.0.2:12345"));
        EXPECT_TRUE(contains(c, "ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.231.0.2:53"));
        EXPECT_TRUE(contains(c, "ip6 daddr fd00::1 tcp dport 8443 dnat ip6 to [fc00::2]:443"));
    }
    EXPECT_TRUE(contains(chain(text, "prerouting"), "priority dstnat;"));
    EXPECT_TRUE(contains(chain(text, "nat_output"), "type nat hook output priority -100;"));
    auto in = chain(text, "in_webapp");
    EXPECT_TRUE(contains(in, "ct status dnat tcp dport { 443, 12345 } accept"));
    EXPECT_TRUE(contains(in, "ct status dnat udp dport { 53 } accept"));
    auto post = chain(text, "postrouting");
    EXPECT_TRUE(contains(post, "ip saddr 127.0.0.0/8 oifname @ifaces ct status dnat masquerade"));
    // Hairpin from another container through the host's address.
    EXPECT_TRUE(contains(post, "iifname @ifaces oifname @ifaces ct status dnat masquerade"));
}

TEST(firewall_render, rejects_bad_forwards) {
    auto with = [](port_forward f) {
        endpoint e = webapp();
        e.forwards = {f};
        return spec{{e}};
    };
    EXPECT_THROW(render(with({"sctp", 80, 80, std::nullopt, ip("10.231.0.2")})), moat::error);
    EXPECT_THROW(render(with({"tcp", 0, 80, std::nullopt, ip("10.231.0.2")})), moat::error);
    EXPECT_THROW(render(with({"tcp", 80, 80, std::nullopt, ip("10.231.0.9")})), moat::error);
    EXPECT_THROW(render(with({"tcp", 80, 80, ip("fd00::1"), ip("10.231.0.2")})), moat::error);

    endpoint a = webapp(), b = webapp();
    b.name = "b";
    b.host_if = "ve-b";
    b.addresses = {ip("10.231.0.6")};
    a.forwards = {{"tcp", 8080, 80, ip("192.0.2.1"), ip("10.231.0.2")}};
    b.forwards = {{"tcp", 8080, 80, std::nullopt, ip("10.231.0.6")}};
    EXPECT_THROW(render(spec{{a, b}}), moat::error);
    b.forwards = {{"tcp", 8080, 80, ip("192.0.2.2"), ip("10.231.0.6")}};
    EXPECT_NO_THROW(render(spec{{a, b}}));
}

}  // namespace
}  // namespace moat::firewall

namespace moat::firewall {
namespace {

TEST(firewall_render, vpn_confinement_blocks_host_dns_and_marks_inbound_connections) {
    endpoint e = webapp();
    e.egress = "vpn";
    e.tunnel_if = "tn-vpn0";
    e.forwards = {{"tcp", 8080, 80, std::nullopt, ip("10.231.0.2")}};
    // Listed, yet the host's resolver stays closed to a confined container.
    e.host_tcp_ports = {53, 853, 8000};
    e.host_udp_ports = {53, 853};
    auto text = render(spec{{e}, 0x6d6f6174});
    EXPECT_TRUE(contains(text, "elements = { \"ve-webapp\" . 10.231.0.2 . 6 . 8000 }"));
    EXPECT_TRUE(contains(text, "elements = { \"ve-webapp\" . fc00::2 . 6 . 8000 }"));
    EXPECT_FALSE(contains(text, ". 53")) << text;
    EXPECT_FALSE(contains(text, ". 853")) << text;
    EXPECT_EQ(allowed_host_ports(e, "udp"), std::vector<std::uint16_t>{});
    e.egress = "nat";
    EXPECT_EQ(allowed_host_ports(e, "udp"), (std::vector<std::uint16_t>{53, 853}));
    e.egress = "vpn";
    auto mark = chain(text, "mark_replies");
    EXPECT_TRUE(contains(mark, "priority -90;"));  // after dstnat: the container's address is known
    EXPECT_TRUE(contains(mark, "ct state new iifname != { \"tn-vpn0\" } ip daddr { 10.231.0.2 } ct mark set 0x6d6f6174"));
    EXPECT_TRUE(contains(mark, "ct mark 0x6d6f6174 meta mark set 0x6d6f6174"));
    EXPECT_TRUE(contains(chain(text, "out_webapp"), "\t\toifname \"tn-vpn0\" return\n\t\tdrop\n"));
    EXPECT_EQ(chain(render(spec{{webapp()}}), "mark_replies"), "");  // nothing confined, nothing extra
}

}  // namespace
}  // namespace moat::firewall

namespace moat::firewall {
namespace {

TEST(firewall_render, host_access_only_as_configured_per_link_and_address) {
    endpoint a = webapp(), b;
    a.host_tcp_ports = {2222, 22, 22};
    a.host_udp_ports = {53};
    b.name = "db";
    b.host_if = "ve-db";
    b.bridge_if = "mb-lab";
    b.addresses = {ip("10.231.1.6")};
    b.host_udp_ports = {123};
    auto text = render(spec{{a, b}});
    // Keyed by the link the packet arrives on (the bridge for a member) and
    // the sender's own address, so that no container opens another's ports.
    EXPECT_TRUE(contains(text, "\tset host4 {\n\t\ttype ifname . ipv4_addr . inet_proto . inet_service\n"
                               "\t\telements = { \"mb-lab\" . 10.231.1.6 . 17 . 123, "
                               "\"ve-webapp\" . 10.231.0.2 . 6 . 22, \"ve-webapp\" . 10.231.0.2 . 6 . 2222, "
                               "\"ve-webapp\" . 10.231.0.2 . 17 . 53 }\n\t}\n")) << text;
    EXPECT_TRUE(contains(text, "\"ve-webapp\" . fc00::2 . 6 . 22, "));
    auto to_host = chain(text, "to_host");
    // Replies first, then the localnet guard before anything could accept.
    EXPECT_LT(to_host.find("ct state established,related accept"), to_host.find("ip daddr 127.0.0.0/8"));
    EXPECT_LT(to_host.find("ip daddr 127.0.0.0/8"), to_host.find("icmp"));
    EXPECT_TRUE(to_host.ends_with("\t\tdrop\n\t}\n"));
    EXPECT_TRUE(contains(chain(text, "input"), "iifname @ifaces jump to_host"));
    a.host_tcp_ports = {0};
    EXPECT_THROW(render(spec{{a}}), moat::error);
}

TEST(firewall_render, route_localnet_only_for_forwards_from_localhost) {
    endpoint e = webapp();
    EXPECT_FALSE(forwards_from_localhost(e));
    e.forwards = {{"tcp", 8081, 80, ip("203.0.113.10"), ip("10.231.0.2")},
                  {"tcp", 8443, 443, std::nullopt, ip("fc00::2")}};
    EXPECT_FALSE(forwards_from_localhost(e));  // another address; IPv6 never from ::1
    e.forwards.push_back({"tcp", 8080, 80, std::nullopt, ip("10.231.0.2")});
    EXPECT_TRUE(forwards_from_localhost(e));
    e.forwards = {{"udp", 5353, 53, ip("127.0.0.1"), ip("10.231.0.2")}};
    EXPECT_TRUE(forwards_from_localhost(e));
}

}  // namespace
}  // namespace moat::firewall
