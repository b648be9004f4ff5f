// route_localnet follows the forwards: 1 only on a point-to-point veth or a
// bridge that carries a forward reachable from the host's 127.0.0.1, 0 on
// every other link of moat's (whatever the host's conf/default says), kept
// in step by every `up` as forwards and members come and go.
#include "check_util.hpp"
#include "network_lab.hpp"

#include <gtest/gtest.h>

using namespace moat::test;

namespace {

const std::string v1 = R"(
[networks.rl]
subnet = "10.172.61.0/24"
[networks.quiet]
subnet = "10.172.62.0/24"

[containers.fa]
privateNetwork = true
hostBridge = "rl"
forwardPorts = [ { protocol = "tcp", hostPort = 8090, containerPort = 80, hostAddress = "127.0.0.1" } ]
[containers.fa.services.web]
script = 'while true; do echo fa | nc -l -p 80; done'
restart = "always"

[containers.fb]
privateNetwork = true
hostBridge = "rl"

[containers.fq]
privateNetwork = true
hostBridge = "quiet"

[containers.fu]
privateNetwork = true
hostAddress = "10.171.62.1"
localAddress = "10.171.62.2"
forwardPorts = [ { protocol = "tcp", hostPort = 8092, containerPort = 80, hostAddress = "203.0.113.10" } ]

)";

const std::string fp_forward = R"(
[containers.fp]
privateNetwork = true
hostAddress = "10.171.61.1"
localAddress = "10.171.61.2"
forwardPorts = [ { protocol = "tcp", hostPort = 8091, containerPort = 80 } ]
[containers.fp.services.web]
script = 'while true; do echo fp | nc -l -p 80; done'
restart = "always"
)";

const std::string fp_plain = R"(
[containers.fp]
privateNetwork = true
hostAddress = "10.171.61.1"
localAddress = "10.171.61.2"
[containers.fp.services.web]
script = 'while true; do echo fp | nc -l -p 80; done'
restart = "always"
)";

std::string localnet(lab& l, const std::string& link) {
    return sysctl(l, "net.ipv4.conf." + link + ".route_localnet");
}

std::string line_from(lab& l, const std::string& addr, int port, const std::string& want) {
    std::string line;
    eventually([&] { return (line = l.read_line(addr, port, "", 2)) == want; });
    return line;
}

}  // namespace

TEST(NetworkLocalnet, OnlyLinksWithAForwardFromLocalhostAndInStepWithUp) {
    lab l;
    wan w(l);
    // A host whose new links would inherit route_localnet = 1.
    ASSERT_EQ(l.in("sysctl -qw net.ipv4.conf.default.route_localnet=1").code, 0);
    auto file = l.write("moat.toml", v1 + fp_forward);
    auto r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_EQ(localnet(l, "mb-rl"), "1");     // fa: hostAddress 127.0.0.1
    EXPECT_EQ(localnet(l, "ve-fp"), "1");     // fp: no hostAddress, so 127.0.0.1 too
    EXPECT_EQ(localnet(l, "mb-quiet"), "0");  // no forward at all
    EXPECT_EQ(localnet(l, "ve-fu"), "0");     // a forward on the uplink's address only
    for (const char* port : {"ve-fa", "ve-fb", "ve-fq"}) {
        EXPECT_EQ(localnet(l, port), "0") << port;  // bridge ports: no IP of their own
    }
    // The forwards from 127.0.0.1 work.
    EXPECT_EQ(line_from(l, "127.0.0.1", 8090, "fa\n"), "fa\n");
    EXPECT_EQ(line_from(l, "127.0.0.1", 8091, "fp\n"), "fp\n");
    // moat check knows the values and finds them right.
    auto j = check_json(l);
    EXPECT_EQ(failures(j), "") << j.dump(2);

    // fp loses its forward, fa (the bridge's only member with one) leaves.
    l.write("moat.toml", v1.substr(0, v1.find("[containers.fa]")) + v1.substr(v1.find("[containers.fb]")) + fp_plain);
    r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_TRUE(reported(r.out, "fb", "unchanged")) << r.out;
    EXPECT_EQ(localnet(l, "ve-fp"), "0");
    EXPECT_EQ(localnet(l, "mb-rl"), "0");
    EXPECT_EQ(l.read_line("127.0.0.1", 8090, "", 1), "");

    // fa is back: the bridge follows again; a hand-made change is found by
    // check and undone by the next `up`.
    l.write("moat.toml", v1 + fp_plain);
    r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_EQ(localnet(l, "mb-rl"), "1");
    EXPECT_EQ(line_from(l, "127.0.0.1", 8090, "fa\n"), "fa\n");
    ASSERT_EQ(l.in("sysctl -qw net.ipv4.conf.ve-fp.route_localnet=1").code, 0);
    j = check_json(l);
    EXPECT_NE(failures(j).find("fp/sysctl"), std::string::npos) << j.dump(2);
    EXPECT_NE(evidence(j, "fp", "sysctl").find("route_localnet = 1 (moat sets 0)"), std::string::npos) << j.dump(2);
    r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_EQ(localnet(l, "ve-fp"), "0");
    // `down` of the bridge's forwarding member alone turns it off again.
    r = l.moat("down fa");
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_EQ(localnet(l, "mb-rl"), "0");
}
