// The busy-port rule of `moat up` (converge/ports.hpp) without a kernel:
// which listening sockets a forward or a host pipe would collide with, and
// the claims a file makes.
#include "config/loader.hpp"
#include "converge/ports.hpp"
#include "plan/pipes.hpp"
#include "plan/plan.hpp"

#include <netinet/in.h>

#include <gtest/gtest.h>

using namespace moat;

namespace {

sys::ip_address ip(const char* text) { return sys::ip_address::parse(text).value(); }

netlink::listening_socket sock(int protocol, const char* address, std::uint16_t port, bool v6_only = true) {
    netlink::listening_socket s;
    s.protocol = protocol;
    s.address = ip(address);
    s.port = port;
    s.v6_only = v6_only;
    return s;
}

converge::port_claim claim(int protocol, std::uint16_t port, std::vector<const char*> covers, const char* key = "hostPort") {
    converge::port_claim c;
    c.protocol = protocol;
    c.port = port;
    c.key = key;
    c.what = "x";
    for (const auto* a : covers) {
        c.covers.push_back(ip(a));
    }
    return c;
}

constexpr int tcp = IPPROTO_TCP, udp = IPPROTO_UDP;

}  // namespace

TEST(BusyPorts, WildcardMeetsEveryAddressOfItsFamilyOnly) {
    auto any4 = claim(tcp, 7070, {"0.0.0.0"});
    EXPECT_TRUE(converge::conflicts(any4, sock(tcp, "0.0.0.0", 7070)));
    EXPECT_TRUE(converge::conflicts(any4, sock(tcp, "127.0.0.1", 7070)));  // DNAT'ed from the host itself too
    EXPECT_TRUE(converge::conflicts(any4, sock(tcp, "192.0.2.7", 7070)));
    EXPECT_FALSE(converge::conflicts(any4, sock(tcp, "0.0.0.0", 7071)));  // another port
    EXPECT_FALSE(converge::conflicts(any4, sock(udp, "0.0.0.0", 7070)));  // another protocol
    EXPECT_FALSE(converge::conflicts(any4, sock(tcp, "::", 7070, true)));  // IPv6 only
    EXPECT_FALSE(converge::conflicts(any4, sock(tcp, "::1", 7070, false)));  // specific: no IPv4
    // An IPv6 wildcard without IPV6_V6ONLY takes IPv4 as well.
    EXPECT_TRUE(converge::conflicts(any4, sock(tcp, "::", 7070, false)));
}

TEST(BusyPorts, SpecificAddressMeetsItselfAndItsFamilysWildcard) {
    auto one = claim(tcp, 7000, {"127.0.0.1"}, "source");
    EXPECT_TRUE(converge::conflicts(one, sock(tcp, "127.0.0.1", 7000)));
    EXPECT_TRUE(converge::conflicts(one, sock(tcp, "0.0.0.0", 7000)));
    EXPECT_TRUE(converge::conflicts(one, sock(tcp, "::", 7000, false)));
    EXPECT_FALSE(converge::conflicts(one, sock(tcp, "::", 7000, true)));
    EXPECT_FALSE(converge::conflicts(one, sock(tcp, "192.0.2.7", 7000)));
    auto six = claim(udp, 5353, {"2001:db8::1"});
    EXPECT_TRUE(converge::conflicts(six, sock(udp, "::", 5353, true)));
    EXPECT_TRUE(converge::conflicts(six, sock(udp, "2001:db8::1", 5353)));
    EXPECT_FALSE(converge::conflicts(six, sock(udp, "2001:db8::2", 5353)));
    EXPECT_FALSE(converge::conflicts(six, sock(udp, "0.0.0.0", 5353)));
}

TEST(BusyPorts, DualStackForwardMeetsEitherFamily) {
    auto both = claim(udp, 53, {"0.0.0.0", "::"});
    EXPECT_TRUE(converge::conflicts(both, sock(udp, "10.0.0.1", 53)));
    EXPECT_TRUE(converge::conflicts(both, sock(udp, "::1", 53)));
}

TEST(BusyPorts, ClaimsOfAFileWithLocations) {
    auto m = config::load_string(R"(
[containers.web]
privateNetwork = true
hostAddress = "10.171.1.1"
localAddress = "10.171.1.2"
forwardPorts = [
  { hostPort = 7070, containerPort = 80 },
  { protocol = "udp", hostPort = 5353, hostAddress = "2001:db8::1" },
]

[pipes.front]
mode = "encrypt"
source = "127.0.0.1:7070"
target = "web:80"
keyFile = "/nonexistent"
)",
                                 "moat.toml", config::format::toml);
    std::vector<plan::container_plan> plans{plan::plan_container(*m.find_container("web"))};
    plan::container_plan pipes;
    pipes.name = plan::host_pipes_container;
    pipes.services.push_back({"pipe-front", {"moat", "pipe", "-e", "-s", "127.0.0.1:7070", "-t", "10.171.1.2:80"}, {}, "always", {}});
    plans.push_back(pipes);
    auto claims = converge::port_claims(m, plans);
    // The UDP forward is for IPv6 only, and the container has no IPv6: no DNAT, no claim.
    ASSERT_EQ(claims.size(), 2u);
    EXPECT_EQ(claims[0].where.str(), "moat.toml:7:5");
    EXPECT_EQ(claims[0].covers, std::vector<sys::ip_address>{ip("0.0.0.0")});
    EXPECT_EQ(claims[1].where.str(), "moat.toml:13:1");
    EXPECT_EQ(claims[1].covers, std::vector<sys::ip_address>{ip("127.0.0.1")});
    // The host pipe's port is the forward's: refused by the file alone.
    auto busy = converge::find_busy(claims, {});
    ASSERT_EQ(busy.size(), 1u);
    EXPECT_EQ(busy[0].claim, &claims[1]);
    EXPECT_EQ(busy[0].earlier, &claims[0]);
    // A host socket on the forward's port is named with its holder.
    auto s = sock(tcp, "0.0.0.0", 7070);
    std::vector<converge::port_claim> forward_only{claims[0]};
    busy = converge::find_busy(forward_only, {s, sock(tcp, "0.0.0.0", 7071)});
    ASSERT_EQ(busy.size(), 1u);
    ASSERT_EQ(busy[0].sockets.size(), 1u);
    auto d = converge::diagnostic_of(busy[0], {{{812, "python3"}}});
    EXPECT_EQ(d.where.str(), "moat.toml:7:5");
    EXPECT_NE(d.message.find("forwardPorts tcp 7070"), std::string::npos) << d.message;
    EXPECT_NE(d.message.find("tcp 0.0.0.0:7070 (pid 812 python3)"), std::string::npos) << d.message;
    // Where /proc shows no holder, the socket's owner uid still says whose it is.
    d = converge::diagnostic_of(busy[0], {{}});
    EXPECT_NE(d.message.find("tcp 0.0.0.0:7070 (uid 0, no process visible)"), std::string::npos) << d.message;
}
