// [tunnels.<name>.portForwarding]: read with its defaults, and refused at
// the key when its container is missing or not confined to the tunnel, a
// required key is missing or a value is out of range.
#include "config_test_util.hpp"

#include <gmock/gmock.h>

using testing::ElementsAre;

namespace moat::config::test {
namespace {

const std::string confined = R"([containers.torrent]
privateNetwork = true
hostAddress = "10.0.0.1"
localAddress = "10.0.0.2"
egress = "vpn:proton"
dns = ["10.2.0.1"]
[containers.free]
privateNetwork = true
hostAddress = "10.0.1.1"
localAddress = "10.0.1.2"
egress = "nat"
[tunnels.other]
type = "wireguard"
config = "/etc/other.conf"
[tunnels.proton]
type = "wireguard"
config = "/etc/wg.conf"
)";

std::vector<std::string> problems(const std::string& forwarding) {
    return briefs(validate_errors(confined + "[tunnels.proton.portForwarding]\n" + forwarding));
}

TEST(config_port_forwarding, defaults) {
    auto m = load_string(confined + "[tunnels.proton.portForwarding]\ncontainer = \"torrent\"\ngateway = \"10.2.0.1\"\n",
                         "t.toml", format::toml);
    validate(m);
    const auto& f = m.find_tunnel("proton")->forwarding;
    ASSERT_TRUE(f);
    EXPECT_EQ(f->container, "torrent");
    EXPECT_EQ(f->gateway->str(), "10.2.0.1");
    EXPECT_TRUE(f->tcp && f->udp);
    EXPECT_EQ(f->lifetime, 60u);
    EXPECT_FALSE(f->request_port);
    EXPECT_FALSE(f->on_change);
    EXPECT_FALSE(m.find_tunnel("other")->forwarding);
}

TEST(config_port_forwarding, all_keys) {
    auto m = load_string(confined + R"([tunnels.proton.portForwarding]
container = "torrent"
gateway = "10.2.0.1"
protocols = "udp"
lifetime = 120
requestPort = 51413
onChange = "echo $MOAT_FORWARDED_PORT > /tmp/port"
)", "t.toml", format::toml);
    validate(m);
    const auto& f = *m.find_tunnel("proton")->forwarding;
    EXPECT_TRUE(f.udp);
    EXPECT_FALSE(f.tcp);
    EXPECT_EQ(f.lifetime, 120u);
    EXPECT_EQ(*f.request_port, 51413);
    EXPECT_EQ(*f.on_change, "echo $MOAT_FORWARDED_PORT > /tmp/port");
}

TEST(config_port_forwarding, container_must_be_confined_to_this_tunnel) {
    EXPECT_THAT(problems("container = \"nope\"\ngateway = \"10.2.0.1\"\n"),
                ElementsAre("19:1: portForwarding of tunnel 'proton': there is no container 'nope'"));
    EXPECT_THAT(problems("container = \"free\"\ngateway = \"10.2.0.1\"\n"),
                ElementsAre("19:1: portForwarding of tunnel 'proton': container 'free' is not confined to a tunnel, "
                            "so the forwarded port could not reach it (hint: set egress = \"vpn:proton\" on container 'free')"));
    auto other = briefs(validate_errors(confined + "[tunnels.other.portForwarding]\ncontainer = \"torrent\"\ngateway = \"10.2.0.1\"\n"));
    EXPECT_THAT(other, ElementsAre("19:1: portForwarding of tunnel 'other': container 'torrent' is confined to tunnel 'proton', "
                                   "so the forwarded port could not reach it (hint: set egress = \"vpn:other\" on container 'torrent')"));
}

TEST(config_port_forwarding, required_keys_and_ranges) {
    EXPECT_THAT(briefs(load_errors(confined + "[tunnels.proton.portForwarding]\nlifetime = 5\nprotocols = [\"tcp\", \"icmp\"]\n"
                                              "gateway = \"fc00::1\"\nrequestPort = 0\n")),
                ElementsAre("18:17: missing required key 'container' in portForwarding of tunnel 'proton'",
                            "19:12: lifetime: expected a number of seconds 10-86400, got 5",
                            "20:13: protocols: expected \"tcp\" or \"udp\", got \"icmp\"",
                            "22:15: requestPort: expected a port number 1-65535, got 0"));
    EXPECT_THAT(problems("container = \"torrent\"\ngateway = \"fc00::1\"\n"),
                ElementsAre("20:1: portForwarding of tunnel 'proton': gateway fc00::1: NAT-PMP is IPv4 only (RFC 6886) "
                            "(hint: ProtonVPN's gateway is 10.2.0.1)"));
}

}  // namespace
}  // namespace moat::config::test
