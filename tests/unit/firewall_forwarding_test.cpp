// The provider-forwarded port in the table (render_forwarding.cpp): only a
// container with provider_forwarding gets the map, the set, the DNAT from
// its tunnel's device and the accept in its in_ chain; the runner's update
// batch; and `check` ignoring the runner's elements in a listing.
#include <gtest/gtest.h>

#include "firewall/firewall.hpp"

namespace moat::firewall {
namespace {

sys::ip_address ip(const std::string& s) { return *sys::ip_address::parse(s); }

endpoint confined(const std::string& name, const std::string& addr, bool forwarding) {
    endpoint e;
    e.name = name;
    e.host_if = "ve-" + name;
    e.addresses = {ip(addr)};
    e.egress = "vpn";
    e.tunnel_if = "tn-proton";
    e.provider_forwarding = forwarding;
    return e;
}

bool contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

TEST(firewall_forwarding, only_the_receiving_container_is_opened) {
    auto text = render(spec{{confined("torrent", "10.0.0.2", true), confined("other", "10.0.1.2", false)}});
    EXPECT_TRUE(contains(text, "\tmap fwd_torrent {\n\t\ttype inet_proto . inet_service : inet_service\n\t}\n")) << text;
    EXPECT_TRUE(contains(text, "\tset fwdok_torrent {\n\t\ttype inet_proto . inet_service\n\t}\n")) << text;
    EXPECT_TRUE(contains(text, "\t\tiifname \"tn-proton\" meta nfproto ipv4 fib daddr type local meta l4proto { 6, 17 } "
                               "dnat ip to 10.0.0.2 : meta l4proto . th dport map @fwd_torrent\n"))
        << text;
    EXPECT_TRUE(contains(text, "\t\tiifname \"tn-proton\" ct status dnat meta l4proto . th dport @fwdok_torrent accept\n"));
    EXPECT_FALSE(contains(text, "fwd_other")) << text;
    EXPECT_FALSE(contains(text, "fwdok_other")) << text;
    // The DNAT is only in prerouting (from the tunnel), never nat_output.
    auto nat_output = text.substr(text.find("chain nat_output"));
    EXPECT_FALSE(contains(nat_output.substr(0, nat_output.find("\t}\n")), "fwd_torrent"));
    // Without the flag, nothing of it.
    auto plain = render(spec{{confined("torrent", "10.0.0.2", false)}});
    EXPECT_FALSE(contains(plain, "fwd")) << plain;
}

TEST(firewall_forwarding, update_replaces_the_elements_in_one_batch) {
    EXPECT_EQ(forwarding_update("torrent", {{"tcp", 40123, 40123}, {"udp", 40123, 40123}}),
              "flush map inet moat fwd_torrent\nflush set inet moat fwdok_torrent\n"
              "add element inet moat fwd_torrent { 6 . 40123 : 40123, 17 . 40123 : 40123 }\n"
              "add element inet moat fwdok_torrent { 6 . 40123, 17 . 40123 }\n");
    EXPECT_EQ(forwarding_update("torrent", {}), "flush map inet moat fwd_torrent\nflush set inet moat fwdok_torrent\n");
}

TEST(firewall_forwarding, listing_without_the_runners_elements) {
    const std::string live = "table inet moat {\n"
                             "\tmap fwd_torrent {\n\t\ttype inet_proto . inet_service : inet_service\n"
                             "\t\telements = { tcp . 45000 : 45000,\n\t\t\t     udp . 45000 : 45000 }\n\t}\n\n"
                             "\tset fwdok_torrent {\n\t\ttype inet_proto . inet_service\n"
                             "\t\telements = { tcp . 45000 }\n\t}\n\n"
                             "\tset ifaces {\n\t\ttype ifname\n\t\telements = { \"ve-torrent\" }\n\t}\n}\n";
    EXPECT_EQ(without_forwarded_elements(live),
              "table inet moat {\n"
              "\tmap fwd_torrent {\n\t\ttype inet_proto . inet_service : inet_service\n\t}\n\n"
              "\tset fwdok_torrent {\n\t\ttype inet_proto . inet_service\n\t}\n\n"
              "\tset ifaces {\n\t\ttype ifname\n\t\telements = { \"ve-torrent\" }\n\t}\n}\n");
}

}  // namespace
}  // namespace moat::firewall
