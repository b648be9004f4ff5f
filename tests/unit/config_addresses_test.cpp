// Addresses no host could give a container, and networks too wide to be one
// (config/addresses.hpp): refused by validate() at the key, whatever the host.
#include "config/addresses.hpp"
#include "config_test_util.hpp"

#include <gmock/gmock.h>

using testing::ElementsAre;
using testing::IsEmpty;

namespace moat::config::test {
namespace {

// Empty when validate() accepts the file: the positive controls.
std::vector<std::string> problems(const std::string& toml) {
    model m = load_string(toml, "t.toml", format::toml);
    try {
        validate(m);
    } catch (const config_error& e) {
        return briefs(e.diagnostics);
    }
    return {};
}

std::string pair(const std::string& host, const std::string& local, const std::string& six = "") {
    return "[containers.c]\nprivateNetwork = true\nhostAddress" + six + " = \"" + host + "\"\nlocalAddress" + six + " = \"" +
           local + "\"\n";
}

TEST(config_addresses, special_addresses_are_refused_for_either_end) {
    const std::string hint = " (hint: a container's link needs a unicast address, e.g. from 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or fd00::/8)";
    struct bad {
        const char* address;
        const char* why;
    };
    for (const auto& b : std::vector<bad>{{"0.0.0.0", "is the unspecified address"},
                                          {"255.255.255.255", "is the limited broadcast address"},
                                          {"0.1.2.3", "is in 0.0.0.0/8 (\"this network\"), which is never routed"},
                                          {"127.0.0.2", "is a loopback address (127.0.0.0/8)"},
                                          {"169.254.1.1", "is a link-local address (169.254.0.0/16), which is never forwarded"},
                                          {"224.0.0.1", "is a multicast address (224.0.0.0/4)"},
                                          {"239.1.2.3", "is a multicast address (224.0.0.0/4)"}}) {
        EXPECT_THAT(problems(pair("10.9.0.1", b.address)),
                    ElementsAre("4:1: localAddress " + std::string(b.address) + " of container 'c' " + b.why + hint))
            << b.address;
        EXPECT_THAT(problems(pair(b.address, "10.9.0.2")),
                    ElementsAre("3:1: hostAddress " + std::string(b.address) + " of container 'c' " + b.why + hint))
            << b.address;
    }
    for (const auto& b : std::vector<bad>{{"::", "is the unspecified address"},
                                          {"::1", "is the loopback address"},
                                          {"fe80::1", "is a link-local address (fe80::/10), which is never forwarded"},
                                          {"ff02::1", "is a multicast address (ff00::/8)"},
                                          {"::ffff:10.0.0.1", "is an IPv4-mapped address (::ffff:0:0/96)"}}) {
        EXPECT_THAT(problems(pair("fd00::1", b.address, "6")),
                    ElementsAre("4:1: localAddress6 " + sys::ip_address::parse(b.address)->str() + " of container 'c' " + b.why + hint))
            << b.address;
    }
    // A bridge member's localAddress: the same rule, before the subnet's.
    EXPECT_THAT(problems("[networks.n]\nsubnet = \"10.5.0.0/24\"\n[containers.m]\nprivateNetwork = true\nhostBridge = \"n\"\n"
                         "localAddress = \"127.0.0.1\"\n"),
                ElementsAre("6:1: localAddress 127.0.0.1 of container 'm' is a loopback address (127.0.0.0/8)" + hint,
                            "6:1: localAddress 127.0.0.1 is outside subnet 10.5.0.0/24 of network 'n'"));
    // Positive control: ordinary private and documentation addresses pass.
    EXPECT_THAT(problems(pair("10.9.0.1", "10.9.0.2") + "hostAddress6 = \"fd00::1\"\nlocalAddress6 = \"2001:db8::2\"\n"), IsEmpty());
}

TEST(config_addresses, networks_must_be_narrow_enough_and_ordinary) {
    EXPECT_THAT(problems("[networks.n]\nsubnet = \"0.0.0.0/0\"\n"),
                ElementsAre("2:1: subnet 0.0.0.0/0 of network 'n' is wider than /8, the widest network moat accepts "
                            "(hint: use a private range such as 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or fd00::/8)"));
    EXPECT_THAT(problems("[networks.n]\nsubnet = \"10.0.0.0/7\"\n"), ElementsAre(testing::HasSubstr("wider than /8")));
    EXPECT_THAT(problems("[networks.n]\nsubnet = \"127.0.0.0/16\"\n"),
                ElementsAre(testing::HasSubstr("subnet 127.0.0.0/16 of network 'n' overlaps the loopback range 127.0.0.0/8")));
    EXPECT_THAT(problems("[networks.n]\nsubnet = \"224.1.0.0/16\"\n"), ElementsAre(testing::HasSubstr("multicast")));
    EXPECT_THAT(problems("[networks.n]\nsubnet = \"255.255.255.0/24\"\n"),
                ElementsAre(testing::HasSubstr("contains the limited broadcast address 255.255.255.255")));
    EXPECT_THAT(problems("[networks.n]\nsubnet = \"10.0.0.0/24\"\nsubnet6 = \"fd00::/8\"\n"),
                ElementsAre(testing::HasSubstr("3:1: subnet6 fd00::/8 of network 'n' is wider than /16")));
    EXPECT_THAT(problems("[networks.n]\nsubnet = \"10.0.0.0/24\"\nsubnet6 = \"fe80::/64\"\n"),
                ElementsAre(testing::HasSubstr("overlaps the link-local range fe80::/10")));
    // A pair written with a prefix length routes that prefix: the same rule.
    EXPECT_THAT(problems(pair("10.0.0.1/4", "10.0.0.2")),
                ElementsAre("3:1: hostAddress 10.0.0.1/4 of container 'c': its network 0.0.0.0/4 is wider than /8, the widest network moat accepts"));
    // Positive control: the widest accepted.
    EXPECT_THAT(problems("[networks.n]\nsubnet = \"10.0.0.0/8\"\nsubnet6 = \"fd00::/16\"\n"), IsEmpty());
}

TEST(config_addresses, a_pair_with_a_prefix_shares_one_subnet) {
    EXPECT_THAT(problems(pair("10.0.0.1/24", "10.0.1.2")),
                ElementsAre("4:1: localAddress 10.0.1.2 and hostAddress 10.0.0.1 are not in one /24 subnet "
                            "(hint: with a prefix length both ends share one subnet; without one they are a /32 pair)"));
    EXPECT_THAT(problems(pair("10.0.0.1/24", "10.0.0.255")),
                ElementsAre("4:1: localAddress 10.0.0.255 is the broadcast address of 10.0.0.0/24"));
    EXPECT_THAT(problems(pair("10.0.0.0", "10.0.0.2/24")),
                ElementsAre("3:1: hostAddress 10.0.0.0 is the network address of 10.0.0.0/24"));
    // /31 has neither (RFC 3021); a /32 + peer pair is not a subnet at all.
    EXPECT_THAT(problems(pair("10.0.0.0/31", "10.0.0.1")), IsEmpty());
    EXPECT_THAT(problems(pair("10.0.0.1", "10.0.1.2")), IsEmpty());
}

TEST(config_addresses, a_forwards_host_address_must_be_one_a_host_can_have) {
    auto forward = [](const std::string& address) {
        return pair("10.9.0.1", "10.9.0.2") + "forwardPorts = [{ hostPort = 80, hostAddress = \"" + address + "\" }]\n";
    };
    EXPECT_THAT(problems(forward("0.0.0.0")),
                ElementsAre("5:34: hostAddress 0.0.0.0 is the unspecified address, not one of the host's addresses "
                            "(hint: leave hostAddress out to forward the port on every address of the host)"));
    EXPECT_THAT(problems(forward("224.0.0.1")), ElementsAre(testing::HasSubstr("is a multicast address")));
    EXPECT_THAT(problems(forward("255.255.255.255")), ElementsAre(testing::HasSubstr("limited broadcast")));
    // The host's loopback and link-local addresses are its own: fine.
    EXPECT_THAT(problems(forward("127.0.0.1")), IsEmpty());
    EXPECT_THAT(problems(forward("203.0.113.10")), IsEmpty());
}

TEST(config_addresses, the_rules_as_functions) {
    EXPECT_EQ(special_address(*sys::ip_address::parse("10.0.0.1")), std::nullopt);
    EXPECT_EQ(special_address(*sys::ip_address::parse("127.0.0.1"), true), std::nullopt);
    EXPECT_NE(special_address(*sys::ip_address::parse("0.0.0.0"), true), std::nullopt);
    EXPECT_EQ(network_problem(*sys::ip_prefix::parse("192.168.0.0/16")), std::nullopt);
    EXPECT_NE(network_problem(*sys::ip_prefix::parse("169.254.172.0/22")), std::nullopt);
}

}  // namespace
}  // namespace moat::config::test
