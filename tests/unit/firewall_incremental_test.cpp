// firewall::incremental_update() and canonical_listing(), and the shape of
// render() they rely on: a container's part of the table is chains of its
// own and elements of named sets; the shared chains do not change when a
// container of the same kind comes or goes.
#include <gtest/gtest.h>

#include "firewall/firewall.hpp"

namespace moat::firewall {
namespace {

sys::ip_address ip(const char* s) { return *sys::ip_address::parse(s); }

endpoint pod(const std::string& name, const char* addr, std::uint16_t port) {
    endpoint e;
    e.name = name;
    e.host_if = "ve-" + name;
    e.bridge_if = "mb-pods";
    e.addresses = {ip(addr)};
    e.egress = "nat";
    e.uplink = "eth0";
    e.forwards = {{"tcp", port, 80, std::nullopt, ip(addr)}};
    return e;
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

TEST(firewall_incremental, a_pod_added_is_its_own_chains_and_elements_only) {
    auto before = render(spec{{pod("a", "10.0.0.2", 20001), pod("c", "10.0.0.4", 20003)}});
    auto after = render(spec{{pod("a", "10.0.0.2", 20001), pod("b", "10.0.0.3", 20002), pod("c", "10.0.0.4", 20003)}});
    auto update = incremental_update(before, after);
    ASSERT_TRUE(update);
    for (const char* want : {"create chain inet moat guard_b { type filter hook ingress device \"ve-b\" priority -500; policy accept; }\n",
                             "create chain inet moat in_b\n", "create chain inet moat out_b\n", "create chain inet moat dnat_tcp_20002\n",
                             "create chain inet moat dnato_tcp_20002\n",
                             "create element inet moat to4 { \"mb-pods\" . 10.0.0.3 : goto in_b }\n",
                             "create element inet moat masq4 { \"eth0\" . 10.0.0.3 }\n",
                             "create element inet moat dnat_pre { 6 . 20002 : jump dnat_tcp_20002 }\n",
                             "add rule inet moat dnat_tcp_20002 meta nfproto ipv4 fib daddr type local tcp dport 20002 dnat ip to 10.0.0.3:80\n"}) {
        EXPECT_TRUE(contains(*update, want)) << want << "\n" << *update;
    }
    // Nothing of a or c, no shared chain, nothing deleted or flushed.
    for (const char* not_there : {"_a", "_c", "20001", "20003", "prerouting", "postrouting", "to_moat", "delete", "flush"}) {
        EXPECT_FALSE(contains(*update, not_there)) << not_there << "\n" << *update;
    }
    // The other way: deletions, elements before the chains they point to.
    auto back = incremental_update(after, before);
    ASSERT_TRUE(back);
    EXPECT_LT(back->find("delete element inet moat to4"), back->find("delete chain inet moat in_b\n")) << *back;
    EXPECT_FALSE(contains(*back, "add ")) << *back;
    EXPECT_FALSE(contains(*back, "create ")) << *back;
    EXPECT_EQ(incremental_update(after, after), "");
}

// The new pod's elements last on their lines (its host port above every
// other's, a name sorting last): the element that was last before is not
// taken for another one (the text before " }" is the element, not "x ").
TEST(firewall_incremental, a_pod_added_last_adds_its_elements_and_deletes_nothing) {
    auto before = render(spec{{pod("a", "10.0.0.2", 20001), pod("b", "10.0.0.3", 20002)}});
    auto after = render(spec{{pod("a", "10.0.0.2", 20001), pod("b", "10.0.0.3", 20002), pod("c", "10.0.0.4", 20003)}});
    auto update = incremental_update(before, after);
    ASSERT_TRUE(update);
    EXPECT_TRUE(contains(*update, "create element inet moat dnat_pre { 6 . 20003 : jump dnat_tcp_20003 }\n")) << *update;
    EXPECT_TRUE(contains(*update, "create element inet moat to4 { \"mb-pods\" . 10.0.0.4 : goto in_c }\n")) << *update;
    for (const char* not_there : {"delete", "20002", "_b", "  }"}) {
        EXPECT_FALSE(contains(*update, not_there)) << not_there << "\n" << *update;
    }
    auto back = incremental_update(after, before);
    ASSERT_TRUE(back);
    EXPECT_FALSE(contains(*back, "20002")) << *back;
    EXPECT_FALSE(contains(*back, "create ")) << *back;
}

TEST(firewall_incremental, a_shared_chain_that_changes_is_filled_again_in_order) {
    // Two pods on one host port (different host addresses): one chain, both rules, in order.
    auto a = pod("a", "10.0.0.2", 8080), b = pod("b", "10.0.0.3", 8080);
    a.forwards[0].host_address = ip("192.0.2.1");
    b.forwards[0].host_address = ip("192.0.2.2");
    auto before = render(spec{{a}});
    auto after = render(spec{{a, b}});
    auto update = incremental_update(before, after);
    ASSERT_TRUE(update);
    auto flush = update->find("flush chain inet moat dnat_tcp_8080\n");
    auto rule_a = update->find("add rule inet moat dnat_tcp_8080 ip daddr 192.0.2.1 ");
    auto rule_b = update->find("add rule inet moat dnat_tcp_8080 ip daddr 192.0.2.2 ");
    ASSERT_NE(flush, std::string::npos) << *update;
    EXPECT_LT(flush, rule_a);
    EXPECT_LT(rule_a, rule_b);
    EXPECT_NE(rule_b, std::string::npos) << *update;
}

TEST(firewall_incremental, what_cannot_change_in_place_is_refused) {
    auto a = pod("a", "10.0.0.2", 20001);
    auto plain = render(spec{{a}});
    // No NAT at all before: the sets masq4/dnat_pre do not exist yet.
    auto none = a;
    none.egress = "none";
    none.forwards.clear();
    EXPECT_FALSE(incremental_update(render(spec{{none}}), plain));
    // A guard chain on another device: its hook changed.
    auto moved = a;
    moved.host_if = "ve-other";
    EXPECT_FALSE(incremental_update(plain, render(spec{{moved}})));
    // Text not in render()'s shape (an older moat's, damaged).
    EXPECT_FALSE(incremental_update("table inet moat {\n\tchain x {\n", plain));
    EXPECT_FALSE(incremental_update("", plain));
}

TEST(firewall_incremental, canonical_listing_orders_chains_by_name_and_keeps_rules) {
    const std::string made_later = "table inet moat {\n\tcomment \"moat:x:/s\"\n\tset ifaces {\n\t\ttype ifname\n\t}\n\n"
                                   "\tchain b {\n\t\tdrop\n\t\taccept\n\t}\n\n\tchain a {\n\t\taccept\n\t}\n}\n";
    const std::string fresh = "table inet moat {\n\tcomment \"moat:x:/s\"\n\tset ifaces {\n\t\ttype ifname\n\t}\n\n"
                              "\tchain a {\n\t\taccept\n\t}\n\n\tchain b {\n\t\tdrop\n\t\taccept\n\t}\n}\n";
    EXPECT_EQ(canonical_listing(made_later), canonical_listing(fresh));
    // Rule order inside a chain is kept: a difference.
    const std::string swapped = "table inet moat {\n\tcomment \"moat:x:/s\"\n\tset ifaces {\n\t\ttype ifname\n\t}\n\n"
                                "\tchain a {\n\t\taccept\n\t}\n\n\tchain b {\n\t\taccept\n\t\tdrop\n\t}\n}\n";
    EXPECT_NE(canonical_listing(swapped), canonical_listing(fresh));
    EXPECT_TRUE(contains(canonical_listing(fresh), "comment \"moat:x:/s\""));
}

}  // namespace
}  // namespace moat::firewall
