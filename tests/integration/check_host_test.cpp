// `moat check`'s host-access check against real services on the lab's
// host: healthy, it finds them closed (and the allowed one open) without a
// false alarm; with the table's input chain deleted by hand, it names each
// service a container reaches.
#include "check_util.hpp"
#include "network_host_lab.hpp"

#include <gtest/gtest.h>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;

const char* config = R"(
[networks.ck]
subnet = "10.172.63.0/24"
egress = "nat"

[containers.z]
privateNetwork = true
hostAddress = "10.171.63.1"
localAddress = "10.171.63.2"
hostAddress6 = "fd00:171:63::1"
localAddress6 = "fd00:171:63::2"
[containers.z.services.s]
exec = ["/bin/sleep", "infinity"]

[containers.n]
privateNetwork = true
hostBridge = "ck"
firewall.allowedHostTCPPorts = [2222]
[containers.n.services.s]
exec = ["/bin/sleep", "infinity"]
)";

}  // namespace

TEST(CheckHostAccess, FindsReachableHostServicesAndNoFalseAlarm) {
    lab l;
    wan w(l);
    host_services services(l, w);
    auto r = l.moat("up -f " + l.write("moat.toml", config));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    nlohmann::json j;
    ASSERT_TRUE(eventually([&] { return (j = check_json(l))["exit"] == 0; })) << failures(j) << j.dump(2);
    auto z = evidence(j, "z", "host access");
    for (const char* closed : {"tcp 10.171.63.1:2222", "udp 10.171.63.1:53", "tcp [fd00:171:63::1]:2222",
                               "udp [fd00:171:63::1]:53"}) {
        EXPECT_NE(z.find(closed), npos) << closed << "\n" << z;
    }
    EXPECT_NE(z.find("blocked as meant"), npos) << z;
    EXPECT_EQ(z.find("2223"), npos) << z;  // bound to 127.0.0.1: out of the container's routing's reach
    auto n = evidence(j, "n", "host access");
    EXPECT_NE(n.find("allowed: tcp 10.172.63.1:2222 answered"), npos) << n;
    EXPECT_NE(n.find("udp 10.172.63.1:53"), npos) << n;
    for (int i = 0; i < 5; ++i) {
        j = check_json(l);
        ASSERT_EQ(j["exit"], 0) << "run " << i << ": " << failures(j) << j.dump(2);
    }

    // The host filter gone: the services answer, and the check says which.
    ASSERT_EQ(l.in("nft delete chain inet moat input").code, 0);
    j = check_json(l);
    EXPECT_EQ(j["exit"], 1);
    auto f = failures(j);
    EXPECT_NE(f.find("z/host access"), npos) << j.dump(2);
    EXPECT_NE(f.find("n/host access"), npos) << j.dump(2);
    z = evidence(j, "z", "host access");
    for (const char* open : {"tcp 10.171.63.1:2222 (not in allowedHostTCPPorts)",
                             "udp 10.171.63.1:53 (not in allowedHostUDPPorts)",
                             "tcp [fd00:171:63::1]:2222 (not in allowedHostTCPPorts)"}) {
        EXPECT_NE(z.find(open), npos) << open << "\n" << z;
    }
    EXPECT_TRUE(z.starts_with("host service reachable: ")) << z;
    n = evidence(j, "n", "host access");
    EXPECT_NE(n.find("udp 10.172.63.1:53 (not in allowedHostUDPPorts)"), npos) << n;
    EXPECT_EQ(n.find("tcp 10.172.63.1:2222 (not in"), npos) << n;  // allowed: not a failure
    EXPECT_NE(n.find("allowed: tcp 10.172.63.1:2222 answered"), npos) << n;
    // The same in text.
    auto human = l.moat("check", std::chrono::seconds(30));
    EXPECT_EQ(human.code, 1);
    EXPECT_NE(human.out.find("host access   host service reachable: "), npos) << human.out;
    EXPECT_NE(human.out.find("tcp 10.171.63.1:2222 (not in allowedHostTCPPorts)"), npos) << human.out;
}
