// validate() and reject_unsupported(): relations between objects, each
// problem at the key that caused it.
#include "config_test_util.hpp"

#include <gmock/gmock.h>

using testing::ElementsAre;
using testing::IsEmpty;

namespace moat::config::test {
namespace {

std::vector<std::string> problems(const std::string& toml) { return briefs(validate_errors(toml)); }

TEST(config_validate, full_example_is_valid) {
    validate(load_file(data_path("full.toml")));
    validate(load_file(data_path("full.json")));
}

TEST(config_validate, loopback_only_private_network_is_fine) {
    validate(load_string("[containers.c]\nprivateNetwork = true\n", "t.toml", format::toml));
}

TEST(config_validate, duplicate_addresses_across_containers) {
    EXPECT_THAT(problems(R"([containers.a]
privateNetwork = true
hostAddress = "10.0.0.1"
localAddress = "10.0.0.2"
hostAddress6 = "fc00::1"
localAddress6 = "fc00::2"
[containers.b]
privateNetwork = true
hostAddress = "10.0.0.5"
localAddress = "10.0.0.2/30"
hostAddress6 = "fc00:0::1"
localAddress6 = "fc00::6"
)"),
                ElementsAre("10:1: localAddress 10.0.0.2 and hostAddress 10.0.0.5 are not in one /30 subnet (hint: with a prefix length both ends share one subnet; without one they are a /32 pair)",
                            "10:1: address 10.0.0.2 (localAddress of container 'b') is already used by localAddress of container 'a' at line 4",
                            "11:1: address fc00::1 (hostAddress6 of container 'b') is already used by hostAddress6 of container 'a' at line 5"));
}

TEST(config_validate, pairs_of_addresses) {
    EXPECT_THAT(problems(R"([containers.a]
privateNetwork = true
hostAddress = "10.0.0.1"
localAddress6 = "fc00::2"
[containers.b]
privateNetwork = true
hostAddress = "10.0.1.1"
localAddress = "10.0.1.1/24"
)"),
                ElementsAre("3:1: hostAddress is set but localAddress is not (container 'a') (hint: a veth pair needs both ends)",
                            "4:1: localAddress6 is set but hostAddress6 is not (container 'a') (hint: a veth pair needs both ends; or set hostBridge to join a network)",
                            "8:1: localAddress 10.0.1.1 is the same as hostAddress",
                            "8:1: address 10.0.1.1 (localAddress of container 'b') is already used by hostAddress of container 'b' at line 7"));
}

TEST(config_validate, host_network_cannot_have_addresses_forwards_or_egress) {
    EXPECT_THAT(problems(R"([containers.h]
hostAddress = "10.0.0.1"
localAddress = "10.0.0.2"
egress = "nat"
forwardPorts = [{ hostPort = 80 }]
)"),
                ElementsAre("2:1: hostAddress needs privateNetwork = true (container 'h' shares the host's network)",
                            "3:1: localAddress needs privateNetwork = true (container 'h' shares the host's network)",
                            "4:1: egress = \"nat\" needs privateNetwork = true (container 'h' shares the host's network, so its traffic cannot be confined)",
                            "5:1: forwardPorts needs privateNetwork = true (container 'h' shares the host's network)"));
    // egress = "none" on the host network asks for nothing impossible.
    validate(load_string("[containers.h]\negress = \"none\"\n", "t.toml", format::toml));
}

TEST(config_validate, loopback_only_container_cannot_egress_or_forward) {
    EXPECT_THAT(problems("[containers.c]\nprivateNetwork = true\negress = \"nat\"\nforwardPorts = [{ hostPort = 80 }]\n"),
                ElementsAre("3:1: egress = \"nat\" needs a network: container 'c' has only loopback (hint: set hostAddress and localAddress, or hostBridge)",
                            "4:1: forwardPorts needs an address: container 'c' has only loopback (hint: set hostAddress and localAddress, or hostBridge)"));
}

TEST(config_validate, bridges) {
    EXPECT_THAT(problems(R"([networks.lab]
subnet = "10.172.0.0/24"
[containers.a]
privateNetwork = true
hostBridge = "lba"
[containers.b]
privateNetwork = true
hostBridge = "lab"
hostAddress = "10.172.0.9"
localAddress = "10.172.1.5"
localAddress6 = "fd00::5"
[containers.c]
privateNetwork = true
hostBridge = "other"
)"),
                ElementsAre("5:1: hostBridge 'lba' names no network; did you mean 'lab'?",
                            "9:1: hostAddress cannot be combined with hostBridge (hint: a bridge member only sets localAddress; the bridge has the host's address)",
                            "10:1: localAddress 10.172.1.5 is outside subnet 10.172.0.0/24 of network 'lab'",
                            "11:1: localAddress6 is set but network 'lab' has no subnet6",
                            "14:1: hostBridge 'other' names no network (hint: declare it as [networks.other])"));
}

TEST(config_validate, reserved_addresses_in_a_subnet) {
    EXPECT_THAT(problems(R"([networks.lab]
subnet = "10.172.0.0/24"
subnet6 = "fd00::/64"
[containers.a]
privateNetwork = true
hostBridge = "lab"
localAddress = "10.172.0.1"
localAddress6 = "fd00::1"
[containers.b]
privateNetwork = true
hostBridge = "lab"
localAddress = "10.172.0.255"
[containers.c]
privateNetwork = true
hostBridge = "lab"
localAddress = "10.172.0.0"
)"),
                ElementsAre("7:1: address 10.172.0.1 (localAddress of container 'a') is already used by bridge of network 'lab' at line 1",
                            "8:1: address fd00::1 (localAddress6 of container 'a') is already used by bridge of network 'lab' at line 1",
                            "12:1: localAddress 10.172.0.255 is the broadcast address of subnet 10.172.0.0/24",
                            "16:1: localAddress 10.172.0.0 is the network address of subnet 10.172.0.0/24"));
}

TEST(config_validate, point_to_point_address_inside_a_network) {
    EXPECT_THAT(problems(R"([networks.lab]
subnet = "10.172.0.0/24"
[containers.p]
privateNetwork = true
hostAddress = "10.9.0.1"
localAddress = "10.172.0.7"
)"),
                ElementsAre("6:1: localAddress 10.172.0.7 of container 'p' is inside subnet 10.172.0.0/24 of network 'lab' (hint: to join that network, set hostBridge = \"lab\" instead of hostAddress)"));
}

TEST(config_validate, overlapping_and_tiny_subnets) {
    EXPECT_THAT(problems(R"([networks.a]
subnet = "10.0.0.0/16"
subnet6 = "fd00::/48"
[networks.b]
subnet = "10.0.5.0/24"
subnet6 = "fd00:0:0:1::/64"
[networks.c]
subnet = "10.1.0.0/31"
)"),
                ElementsAre("5:1: subnet 10.0.5.0/24 of network 'b' overlaps 10.0.0.0/16 of network 'a'",
                            "6:1: subnet6 fd00:0:0:1::/64 of network 'b' overlaps fd00::/48 of network 'a'",
                            "8:1: subnet 10.1.0.0/31 of network 'c' leaves no room for containers (hint: use a /30 or a shorter prefix)"));
}

TEST(config_validate, egress_names_a_tunnel) {
    EXPECT_THAT(problems(R"([tunnels.vpn0]
type = "wireguard"
config = "/etc/wg.conf"
[networks.n]
subnet = "10.5.0.0/24"
egress = "vpn:nope"
[containers.c]
privateNetwork = true
hostBridge = "n"
egress = "vpn:vpn1"
)"),
                ElementsAre("6:1: egress \"vpn:nope\": there is no tunnel 'nope' (hint: declare it as [tunnels.nope])",
                            "10:1: egress \"vpn:vpn1\": there is no tunnel 'vpn1'; did you mean 'vpn0'?"));
}

TEST(config_validate, tunnel_credentials) {
    // Either way is fine on OpenVPN.
    validate(load_string(R"([tunnels.a]
type = "openvpn"
config = "/etc/a.ovpn"
username = "p1234567"
passwordFile = "/etc/moat/a.pass"
[tunnels.b]
type = "openvpn"
config = "/etc/b.ovpn"
credentialsFile = "/etc/moat/b.creds"
)", "t.toml", format::toml));
    EXPECT_THAT(problems(R"([tunnels.wg]
type = "wireguard"
config = "/etc/wg.conf"
username = "u"
passwordFile = "/etc/p"
[tunnels.half]
type = "openvpn"
config = "/etc/a.ovpn"
username = "u"
[tunnels.both]
type = "openvpn"
config = "/etc/a.ovpn"
passwordFile = "/etc/p"
username = "u"
credentialsFile = "/etc/c"
[tunnels.lines]
type = "openvpn"
config = "/etc/a.ovpn"
username = "two\nlines"
passwordFile = "/etc/p"
[tunnels.empty]
type = "openvpn"
config = "/etc/a.ovpn"
username = ""
passwordFile = "/etc/p"
)"),
                ElementsAre("4:1: username is for type = \"openvpn\" only (tunnel 'wg' is WireGuard, which "
                            "authenticates by its keys)",
                            "5:1: passwordFile is for type = \"openvpn\" only (tunnel 'wg' is WireGuard, which "
                            "authenticates by its keys)",
                            "9:1: username needs passwordFile (tunnel 'half') (hint: or put both lines in one file "
                            "and set credentialsFile)",
                            "15:1: credentialsFile cannot be combined with username and passwordFile (hint: "
                            "credentialsFile holds both (the username's line, then the password's); use it or the two "
                            "keys)",
                            "19:1: username must be one line (openvpn reads it as the first line of a file)",
                            "24:1: username must not be empty"));
}

TEST(config_validate, ports_forwarded_twice) {
    EXPECT_THAT(problems(R"([containers.a]
privateNetwork = true
hostAddress = "10.0.0.1"
localAddress = "10.0.0.2"
forwardPorts = [{ hostPort = 8080 }, { protocol = "udp", hostPort = 8080 }, { hostPort = 53, hostAddress = "127.0.0.1" }]
[containers.b]
privateNetwork = true
hostAddress = "10.0.1.1"
localAddress = "10.0.1.2"
forwardPorts = [
  { hostPort = 9000, containerPort = 8080 },
  { hostPort = 8080, containerPort = 80 },
  { hostPort = 53, hostAddress = "127.0.0.2" },
  { hostPort = 53, hostAddress = "127.0.0.1" },
]
)"),
                ElementsAre("12:5: hostPort 8080/tcp is forwarded twice: container 'a' already forwards it at line 5",
                            "14:5: hostPort 53/tcp is forwarded twice: container 'a' already forwards it at line 5"));
}

TEST(config_validate, pipes) {
    EXPECT_THAT(problems(R"([containers.webapp]
[pipes.a]
mode = "encrypt"
source = "0.0.0.0:8999"
target = "webapp:80"
keyFile = "/k"
container = "webap"
[pipes.b]
mode = "decrypt"
source = "0.0.0.0:8999"
target = "webapp:80"
keyFile = "/k"
container = "webap"
[pipes.c]
mode = "decrypt"
source = "0.0.0.0:8999"
target = "webapp:80"
keyFile = "/k"
)"),
                ElementsAre("7:1: container 'webap' of pipe 'a' does not exist; did you mean 'webapp'?",
                            "10:1: source 0.0.0.0:8999 of pipe 'b' is already used by pipe 'a'",
                            "13:1: container 'webap' of pipe 'b' does not exist; did you mean 'webapp'?"));
}

TEST(config_validate, service_ordering) {
    EXPECT_THAT(problems(R"([containers.c.services.a]
script = "x"
after = ["b"]
[containers.c.services.b]
script = "x"
after = ["c", "a"]
[containers.c.services.c]
script = "x"
after = ["c", "setpu"]
[containers.c.services.setup]
script = "x"
)"),
                ElementsAre("6:1: after: services of container 'c' wait for each other in a cycle: a -> b -> a",
                            "9:1: after: service 'setpu' does not exist in container 'c'; did you mean 'setup'?",
                            "9:1: after: services of container 'c' wait for each other in a cycle: c -> c"));
}

TEST(config_validate, dns_in_a_programmatic_model) {
    model m;
    m.source_file = "built";
    container c;
    c.name = "c";
    c.dns = {"1.1.1.1", "one.one"};
    m.containers.push_back(c);
    auto d = diagnostics_of([&] { validate(m); });
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].message, "dns: expected an IP address, got \"one.one\"");
}

TEST(config_validate, net_admin_over_the_host_network_needs_a_user_namespace) {
    EXPECT_THAT(problems(R"([containers.a]
privateUsers = "no"
enableTun = true
[containers.b]
privateUsers = "no"
additionalCapabilities = ["CAP_NET_ADMIN"]
[containers.ok1]
enableTun = true
[containers.ok2]
privateUsers = "no"
privateNetwork = true
enableTun = true
)"),
                ElementsAre("3:1: enableTun gives CAP_NET_ADMIN, and container 'a' shares the host's network with privateUsers = \"no\": "
                            "it could rewrite the host's firewall and routes (hint: set privateNetwork = true, or leave privateUsers at its default \"pick\")",
                            "6:1: additionalCapabilities gives CAP_NET_ADMIN, and container 'b' shares the host's network with privateUsers = \"no\": "
                            "it could rewrite the host's firewall and routes (hint: set privateNetwork = true, or leave privateUsers at its default \"pick\")"));
}

TEST(config_validate, reports_every_problem_at_once_in_json_too) {
    auto d = validate_errors(R"({"containers": {
  "a": {"privateNetwork": true, "hostAddress": "10.0.0.1"},
  "b": {"egress": "nat"}
}})",
                             format::json);
    EXPECT_THAT(briefs(d), ElementsAre("2:33: hostAddress is set but localAddress is not (container 'a') (hint: a veth pair needs both ends)",
                                       "3:9: egress = \"nat\" needs privateNetwork = true (container 'b' shares the host's network, so its traffic cannot be confined)"));
}

TEST(config_unsupported, everything_staged_is_rejected_with_its_key) {
    model m = load_file(data_path("full.toml"));
    auto d = diagnostics_of([&] { reject_unsupported(m, feature_set{}); });
    EXPECT_THAT(briefs(d), ElementsAre("9:1: containers.webapp.egress = \"nat\": not supported yet in this version of moat",
                                       "11:1: containers.webapp.forwardPorts: not supported yet in this version of moat",
                                       "35:20: containers.webapp.check.probe: not supported yet in this version of moat",
                                       "40:1: containers.member.hostBridge: not supported yet in this version of moat",
                                       "51:1: containers.confined.hostBridge: not supported yet in this version of moat",
                                       "52:1: containers.confined.egress = \"vpn:vpn0\": not supported yet in this version of moat",
                                       "58:11: networks.lab: not supported yet in this version of moat",
                                       "65:10: tunnels.vpn0: not supported yet in this version of moat",
                                       "70:10: tunnels.wg0: not supported yet in this version of moat",
                                       "76:8: pipes.greeting: not supported yet in this version of moat",
                                       "82:8: pipes.back: not supported yet in this version of moat",
                                       "89:2: check: not supported yet in this version of moat"));
}

TEST(config_unsupported, each_feature_flag_lifts_its_own_errors) {
    model m = load_file(data_path("full.toml"));
    feature_set all{true, true, true, true, true, true, true, true};
    reject_unsupported(m, all);
    feature_set no_on_failure = all;
    no_on_failure.check_on_failure = false;
    EXPECT_THAT(briefs(diagnostics_of([&] { reject_unsupported(m, no_on_failure); })),
                ElementsAre("89:2: check.onFailure: not supported yet in this version of moat"));
    feature_set no_vpn = all;
    no_vpn.vpn = false;
    EXPECT_THAT(briefs(diagnostics_of([&] { reject_unsupported(m, no_vpn); })),
                ElementsAre("52:1: containers.confined.egress = \"vpn:vpn0\": not supported yet in this version of moat"));
    feature_set no_nat = all;
    no_nat.nat = false;
    EXPECT_THAT(briefs(diagnostics_of([&] { reject_unsupported(m, no_nat); })),
                ElementsAre("9:1: containers.webapp.egress = \"nat\": not supported yet in this version of moat",
                            "61:1: networks.lab.egress = \"nat\": not supported yet in this version of moat"));
    feature_set no_check = all;
    no_check.check = false;
    EXPECT_EQ(diagnostics_of([&] { reject_unsupported(m, no_check); }).size(), 3u);  // container, network, [check]
    feature_set no_fwd = all;
    no_fwd.forward_ports = false;
    EXPECT_EQ(diagnostics_of([&] { reject_unsupported(m, no_fwd); }).size(), 1u);
}

}  // namespace
}  // namespace moat::config::test
