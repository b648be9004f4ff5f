// Bridge networks in planning: the bridge's address, deterministic member
// allocation that survives edits, egress inheritance and the uplink.
#include "config/loader.hpp"
#include "plan/diff.hpp"
#include "plan/network.hpp"
#include "sys/error.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace moat;

namespace {

sys::ip_address ip(const char* s) { return *sys::ip_address::parse(s); }
sys::ip_prefix net(const char* s) { return *sys::ip_prefix::parse(s); }

config::model load(const std::string& toml) {
    auto m = config::load_string(toml, "test.toml", config::format::toml);
    config::validate(m);
    return m;
}

const char* two_members = R"(
[networks.lab]
subnet = "10.172.0.0/24"
subnet6 = "fd00:172::/64"
egress = "nat"
[containers.a]
privateNetwork = true
hostBridge = "lab"
localAddress = "10.172.0.5"
[containers.b]
privateNetwork = true
hostBridge = "lab"
egress = "none"
[containers.p2p]
privateNetwork = true
hostAddress = "10.171.1.1"
localAddress = "10.171.1.2"
egress = "nat"
)";

plan::host_context uplink(const char* dev) {
    plan::host_context ctx;
    ctx.default_uplink = dev;
    return ctx;
}

plan::host_plan plan_all(const config::model& m, const plan::host_context& ctx = uplink("eth0")) {
    return plan::plan_host(m, [](const config::container&) { return true; }, ctx);
}

}  // namespace

TEST(plan_network, bridge_takes_the_first_address) {
    auto hp = plan_all(load(two_members));
    ASSERT_EQ(hp.networks.size(), 1u);
    EXPECT_EQ(hp.networks[0].bridge_if, "mb-lab");
    EXPECT_EQ(hp.networks[0].gateway.str(), "10.172.0.1/24");
    EXPECT_EQ(hp.networks[0].gateway6->str(), "fd00:172::1/64");
    EXPECT_EQ(plan::bridge_name("a-network-name-too-long"), plan::link_name("mb-", "a-network-name-too-long"));
    EXPECT_LE(plan::bridge_name("a-network-name-too-long").size(), 15u);
}

TEST(plan_network, members_join_with_explicit_or_allocated_addresses) {
    auto hp = plan_all(load(two_members));
    const auto& a = hp.containers[0];
    const auto& b = hp.containers[1];
    EXPECT_EQ(a.host_if, "ve-a");
    EXPECT_EQ(a.bridge_if, "mb-lab");
    EXPECT_EQ(a.v4->local.str(), "10.172.0.5/24");
    EXPECT_EQ(a.v4->host.str(), "10.172.0.1/24");
    EXPECT_FALSE(a.v4->point_to_point);
    EXPECT_TRUE(net("10.172.0.0/24").contains(b.v4->local.address));
    EXPECT_NE(b.v4->local.address, ip("10.172.0.5"));
    EXPECT_NE(b.v4->local.address, ip("10.172.0.1"));
    EXPECT_TRUE(net("fd00:172::/64").contains(b.v6->local.address));
    // Same file, same addresses: stable across down and up.
    EXPECT_EQ(plan::to_json(plan_all(load(two_members)).containers[1]), plan::to_json(b));
}

TEST(plan_network, egress_defaults_to_the_network_and_nat_gets_the_uplink) {
    auto hp = plan_all(load(two_members));
    EXPECT_EQ(hp.containers[0].egress, "nat");
    EXPECT_EQ(hp.containers[0].uplink, "eth0");
    EXPECT_EQ(hp.containers[1].egress, "none");  // its own setting wins
    EXPECT_EQ(hp.containers[1].uplink, "");
    EXPECT_EQ(hp.containers[2].uplink, "eth0");  // point-to-point NAT too
    auto with_uplink = std::string(two_members);
    with_uplink.insert(with_uplink.find("egress = \"nat\""), "uplink = \"wan0\"\n");
    EXPECT_EQ(plan_all(load(with_uplink)).containers[0].uplink, "wan0");
}

TEST(plan_network, uplink_is_not_part_of_the_hash) {
    auto m = load(two_members);
    auto x = plan_all(m, uplink("eth0")).containers[0];
    auto y = plan_all(m, uplink("eth1")).containers[0];
    EXPECT_NE(x.uplink, y.uplink);
    EXPECT_EQ(plan::hash(x), plan::hash(y));
    EXPECT_EQ(plan::plan_from_json(plan::to_json(x)).uplink, "eth0");
}

TEST(plan_network, unselected_members_still_reserve_their_addresses) {
    auto m = load(two_members);
    auto only_b = plan::plan_host(m, [](const config::container& c) { return c.name == "b"; }, uplink("eth0"));
    ASSERT_EQ(only_b.containers.size(), 1u);
    EXPECT_EQ(plan::to_json(only_b.containers[0]), plan::to_json(plan_all(m).containers[1]));
}

TEST(plan_network, allocation_is_deterministic_and_avoids_taken_addresses) {
    auto subnet = net("10.0.0.0/29");  // members may use .2 .. .6
    std::vector<std::string> names = {"e", "d", "c", "b", "a"};
    auto first = plan::allocate(subnet, names, {ip("10.0.0.1")}, {});
    EXPECT_EQ(first, plan::allocate(subnet, {"a", "b", "c", "d", "e"}, {ip("10.0.0.1")}, {}));
    std::set<sys::ip_address> seen;
    for (const auto& [name, a] : first) {
        EXPECT_TRUE(seen.insert(a).second) << name;
        EXPECT_GE(a, ip("10.0.0.2"));
        EXPECT_LE(a, ip("10.0.0.6"));
    }
    EXPECT_THROW(plan::allocate(subnet, {"a", "b", "c", "d", "e", "f"}, {ip("10.0.0.1")}, {}), usage_error);
    EXPECT_THROW(plan::allocate(subnet, {"a"}, {ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.4"), ip("10.0.0.5"), ip("10.0.0.6")}, {}),
                 usage_error);
}

TEST(plan_network, running_members_keep_their_address_when_others_arrive) {
    auto subnet = net("10.0.0.0/24");
    auto before = plan::allocate(subnet, {"web"}, {ip("10.0.0.1")}, {});
    // A newcomer whose hash lands on web's address must not displace it.
    std::string rival;
    for (int i = 0; rival.empty() && i < 100000; ++i) {
        auto n = "n" + std::to_string(i);
        if (plan::allocate(subnet, {n}, {ip("10.0.0.1")}, {}).at(n) == before.at("web") && n < "web") {
            rival = n;
        }
    }
    ASSERT_FALSE(rival.empty());
    auto fresh = plan::allocate(subnet, {"web", rival}, {ip("10.0.0.1")}, {});
    EXPECT_EQ(fresh.at(rival), before.at("web"));  // name order decides without history
    auto kept = plan::allocate(subnet, {"web", rival}, {ip("10.0.0.1")}, before);
    EXPECT_EQ(kept.at("web"), before.at("web"));
    EXPECT_NE(kept.at(rival), before.at("web"));
    // A previous address outside the subnet, or now taken explicitly, is not kept.
    auto moved = plan::allocate(subnet, {"web"}, {ip("10.0.0.1"), before.at("web")}, before);
    EXPECT_NE(moved.at("web"), before.at("web"));
}

TEST(plan_network, forwards_are_planned_with_the_container_port_default) {
    auto m = load(R"(
[containers.w]
privateNetwork = true
hostAddress = "10.171.1.1"
localAddress = "10.171.1.2"
forwardPorts = [ { protocol = "udp", hostPort = 5353 }, { hostPort = 8080, containerPort = 80, hostAddress = "127.0.0.1" } ]
)");
    auto p = plan_all(m).containers[0];
    ASSERT_EQ(p.forwards.size(), 2u);
    EXPECT_EQ(p.forwards[0].protocol, "udp");
    EXPECT_EQ(p.forwards[0].container_port, 5353);
    EXPECT_EQ(p.forwards[1].protocol, "tcp");
    EXPECT_EQ(p.forwards[1].host_address, ip("127.0.0.1"));
    EXPECT_EQ(p.uplink, "eth0");  // forwarded ports arrive through the uplink
    EXPECT_EQ(plan::plan_from_json(plan::to_json(p)).forwards, p.forwards);
}

TEST(plan_diff, keeps_common_lines_and_marks_changes) {
    EXPECT_EQ(plan::diff_lines("a\nb\nc\n", "a\nb\nc\n"), (std::vector<std::string>{"  a", "  b", "  c"}));
    EXPECT_EQ(plan::diff_lines("a\nb\nc\nd\n", "a\nx\nc\nd\ne\n"),
              (std::vector<std::string>{"  a", "- b", "+ x", "  c", "  d", "+ e"}));
    EXPECT_EQ(plan::diff_lines("", "t\n"), (std::vector<std::string>{"+ t"}));
    EXPECT_EQ(plan::diff_lines("t\n", ""), (std::vector<std::string>{"- t"}));
    // A line moved: one removal, one addition, everything else kept.
    auto d = plan::diff_lines("1\n2\n3\n4\n5\n", "1\n3\n4\n2\n5\n");
    EXPECT_EQ(std::count_if(d.begin(), d.end(), [](const std::string& l) { return l[0] != ' '; }), 2);
}
