// Issue 14: the keys that only mean something for a container confined to a
// tunnel — forwardPorts.side and accessibleFrom — read, and refused (at
// their file:line:col) where there is no tunnel.
#include "config_test_util.hpp"

#include <gmock/gmock.h>

using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;

namespace moat::config::test {
namespace {

const std::string tunnel = "[tunnels.vpn0]\ntype = \"wireguard\"\nconfig = \"/etc/wg0.conf\"\n";

TEST(config_confined, side_and_accessible_from_are_read) {
    auto m = load_string(tunnel + R"([containers.c]
privateNetwork = true
hostAddress = "10.0.0.1"
localAddress = "10.0.0.2"
egress = "vpn:vpn0"
accessibleFrom = ["192.168.1.7/24", "fd00:1::/64", "10.1.2.3"]
forwardPorts = [{ hostPort = 80 }, { hostPort = 81, side = "uplink" }, { hostPort = 82, side = "tunnel" },
                { hostPort = 83, side = "both" }]
)", "t.toml", format::toml);
    validate(m);
    const auto& c = m.containers.at(0);
    ASSERT_EQ(c.forward_ports.size(), 4u);
    EXPECT_FALSE(c.forward_ports[0].side.has_value());  // the planner's default: "tunnel" when confined
    EXPECT_EQ(c.forward_ports[1].side, forward_side::uplink);
    EXPECT_EQ(c.forward_ports[2].side, forward_side::tunnel);
    EXPECT_EQ(c.forward_ports[3].side, forward_side::both);
    ASSERT_EQ(c.accessible_from.size(), 3u);
    EXPECT_EQ(c.accessible_from[0].str(), "192.168.1.0/24");  // host bits cleared
    EXPECT_EQ(c.accessible_from[1].str(), "fd00:1::/64");
    EXPECT_EQ(c.accessible_from[2].str(), "10.1.2.3/32");
}

TEST(config_confined, a_network_member_is_confined_by_its_network) {
    validate(load_string(tunnel + R"([networks.n]
subnet = "10.5.0.0/24"
egress = "vpn:vpn0"
[containers.c]
privateNetwork = true
hostBridge = "n"
accessibleFrom = ["192.168.1.0/24"]
forwardPorts = [{ hostPort = 82, side = "tunnel" }]
)", "t.toml", format::toml));
}

TEST(config_confined, bad_values_are_refused_where_written) {
    auto errors = briefs(load_errors(R"([containers.c]
privateNetwork = true
accessibleFrom = ["192.168.1.0/24", "lan", 7]
forwardPorts = [{ hostPort = 80, side = "wan" }]
)"));
    ASSERT_EQ(errors.size(), 3u) << testing::PrintToString(errors);
    EXPECT_THAT(errors[0], HasSubstr("3:37: accessibleFrom: expected an IPv4 or IPv6 prefix like 192.168.1.0/24"));
    EXPECT_THAT(errors[0], HasSubstr("got \"lan\""));
    EXPECT_THAT(errors[1], HasSubstr("3:44: "));
    EXPECT_THAT(errors[2], HasSubstr("4:41: side: expected \"uplink\", \"tunnel\" or \"both\", got \"wan\""));
    EXPECT_THAT(errors[2], HasSubstr("uplink"));
    EXPECT_THAT(errors[2], HasSubstr("tunnel"));
}

TEST(config_confined, keys_without_a_tunnel_are_refused_at_the_key) {
    EXPECT_THAT(briefs(validate_errors(tunnel + R"([containers.c]
privateNetwork = true
hostAddress = "10.0.0.1"
localAddress = "10.0.0.2"
egress = "nat"
accessibleFrom = ["192.168.1.0/24"]
forwardPorts = [{ hostPort = 80, side = "tunnel" }, { hostPort = 81, side = "both" }, { hostPort = 82, side = "uplink" }]
[containers.d]
privateNetwork = true
hostAddress = "10.0.1.1"
localAddress = "10.0.1.2"
forwardPorts = [{ hostPort = 90, side = "tunnel" }]
)")),
                ElementsAre("9:1: accessibleFrom: container 'c' is not confined to a tunnel (egress = \"nat\") (hint: it lets "
                            "sources outside a tunnel reach a confined container; other containers are reached through forwardPorts)",
                            "10:34: side = \"tunnel\": container 'c' is not confined to a tunnel (egress = \"nat\") (hint: only a "
                            "container with egress = \"vpn:<tunnel>\" has a tunnel to forward from)",
                            "10:70: side = \"both\": container 'c' is not confined to a tunnel (egress = \"nat\") (hint: only a "
                            "container with egress = \"vpn:<tunnel>\" has a tunnel to forward from)",
                            "15:34: side = \"tunnel\": container 'd' is not confined to a tunnel (egress = \"none\") (hint: only a "
                            "container with egress = \"vpn:<tunnel>\" has a tunnel to forward from)"));
}

TEST(config_confined, the_same_in_json) {
    auto errors = briefs(validate_errors(R"({"containers": {"c": {"privateNetwork": true, "hostAddress": "10.0.0.1",
  "localAddress": "10.0.0.2", "accessibleFrom": ["192.168.1.0/24"]}}})", format::json));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_THAT(errors[0], HasSubstr("accessibleFrom: container 'c' is not confined to a tunnel (egress = \"none\")"));
}

}  // namespace
}  // namespace moat::config::test
