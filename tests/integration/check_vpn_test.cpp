// `moat check` in the VPN lab (vpn_lab.hpp): a healthy confined container
// passes with the VPN server as its exit and its DNS answered through the
// tunnel, for both tunnel types; then each fault issue 6 names is injected
// into the kernel of the lab's host and must be found, with its reason.
#include "check_util.hpp"
#include "vpn_moat.hpp"

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

std::string config(env& e, const std::string& type) {
    return "[check]\nprobe = \"http://" + probe_name + "/\"\n\n" + tunnel_toml(e, type) + R"(
[networks.conf]
subnet = "10.172.23.0/24"
subnet6 = "fd00:172:23::/64"
egress = "vpn:vpn0"

[containers.c]
privateNetwork = true
hostBridge = "conf"
)" + dns_line(type) + R"(
[containers.c.services.s]
exec = ["/bin/sleep", "infinity"]

[containers.n]
privateNetwork = true
hostAddress = "10.171.23.1"
localAddress = "10.171.23.2"
egress = "nat"
dns = [")" + dns4 + R"("]
[containers.n.services.s]
exec = ["/bin/sleep", "infinity"]
)";
}

bool healthy(lab& l, nlohmann::json& j, std::chrono::seconds limit = std::chrono::seconds(30)) {
    return eventually([&] { return (j = check_json(l))["exit"] == 0; }, limit);
}

class CheckVpn : public testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(CheckVpn, HealthyConfinedAndNatContainersPass) {
    const std::string type = GetParam();
    env e;
    up_ok(e.l, e.l.write("moat.toml", config(e, type)));
    nlohmann::json j;
    ASSERT_TRUE(healthy(e.l, j)) << failures(j) << j.dump(2) << kernel_evidence(e.l);
    EXPECT_NE(evidence(j, "c", "egress").find("seen as " + vpn4), npos) << j.dump(2);
    // The tunnels of the lab carry no IPv6: the confined container's is blocked.
    EXPECT_NE(evidence(j, "c", "egress6").find("blocked as meant"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "c", "dns").find(resolver(type) + " answered"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "c", "dns").find(probe_name + " A: NOERROR " + web4), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "c", "leak").find(e.w.uplink() + ": 0"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "n", "egress").find("seen as " + uplink4), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "n", "dns").find(dns4 + " answered"), npos) << j.dump(2);
    EXPECT_EQ(evidence(j, "n", "resolv.conf"), "nameserver " + dns4) << j.dump(2);
    // The check's own questions went through the tunnel: the wan's resolver
    // saw the vpn server ask for the confined container, never the host.
    for (const auto& a : e.v.dns_clients()) {
        EXPECT_TRUE(a == vpn4 || a == "10.171.23.2" || a == uplink4) << a;
    }
}

INSTANTIATE_TEST_SUITE_P(Tunnel, CheckVpn, testing::Values("wireguard", "openvpn"), type_name);

TEST(CheckVpnFaults, EachFaultIsFoundWithItsReason) {
    const std::string type = "wireguard";
    env e;
    auto& l = e.l;
    auto file = l.write("moat.toml", config(e, type));
    up_ok(l, file);
    nlohmann::json j;
    ASSERT_TRUE(healthy(l, j)) << failures(j) << j.dump(2);
    const std::string c4 = address_of(l, "c"), c6 = address_of(l, "c", "local6");
    const int pid = container_status(l, "c")["pid"];

    // A policy rule deleted: named; the firewall still holds, so no leak.
    ASSERT_EQ(l.in("ip rule del from " + c4 + " lookup " + table).code, 0);
    j = check_json(l);
    EXPECT_EQ(j["exit"], 1);
    EXPECT_NE(failures(j).find("c/policy rule"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "c", "policy rule").find("from " + c4 + " lookup " + table + " missing"), npos) << j.dump(2);
    EXPECT_EQ(failures(j).find("c/leak"), npos) << j.dump(2);
    up_ok(l, file);
    ASSERT_TRUE(healthy(l, j)) << failures(j);

    // The tunnel daemon killed, with its runner (moat's supervisor) stopped
    // so that it stays dead: the tunnel, the exit and DNS fail; the kill
    // switch holds; the NAT container is not affected.
    auto runner = l.in("pgrep --ns $$ --nslist net -f '[m]oat __tunnel'").out;
    ASSERT_FALSE(runner.empty());
    runner = trim(runner);
    ASSERT_EQ(l.in("kill -STOP " + runner).code, 0);
    scope_exit cont{[&] { l.in("kill -CONT " + runner); }};
    for (int p : daemon_pids(l, type)) stop_process(p, daemon_comm(type), SIGKILL);
    ASSERT_TRUE(eventually([&] { return !device_exists(l); }, std::chrono::seconds(10)));
    j = check_json(l);
    EXPECT_EQ(j["exit"], 1);
    auto f = failures(j);
    for (const char* want : {"c/tunnel", "c/egress", "c/dns"}) EXPECT_NE(f.find(want), npos) << want << "\n" << j.dump(2);
    EXPECT_EQ(f.find("c/leak"), npos) << j.dump(2);
    EXPECT_EQ(f.find("n/"), npos) << "the NAT container is not affected: " << f;
    l.in("kill -CONT " + runner);
    ASSERT_TRUE(healthy(l, j, std::chrono::seconds(30))) << failures(j);

    // DNS pointed at a resolver on the host (the bridge's address): the
    // file is named, and the question gets no answer (the host's input
    // chain drops confined DNS).
    ASSERT_EQ(l.in("nsenter -t " + std::to_string(pid) + " -U -m sh -c 'echo nameserver 10.172.23.1 > /tmp/r && mount --bind /tmp/r /etc/resolv.conf'").code, 0);
    j = check_json(l);
    EXPECT_EQ(j["exit"], 1);
    EXPECT_NE(failures(j).find("c/resolv.conf"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "c", "resolv.conf").find("nameserver 10.172.23.1, moat wrote " + resolver(type)), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "c", "dns").find("10.172.23.1 did not answer"), npos) << j.dump(2);
    auto restored = l.in("nsenter -t " + std::to_string(pid) + " -U -m mount --bind /run/moat/resolv.conf /etc/resolv.conf 2>&1");
    ASSERT_EQ(restored.code, 0) << restored.out;
    ASSERT_TRUE(healthy(l, j)) << failures(j);

    // Both kill-switch layers removed and a masquerade of someone else's on
    // the uplink: the exit is the uplink, and the marked probes are counted
    // although the masquerade rewrote their source.
    ASSERT_EQ(l.in("ip rule del from " + c4 + " lookup " + table + " && ip -6 rule del from " + c6 + " lookup " + table +
                   " && nft delete table inet moat && nft add table ip leak && nft add chain ip leak post "
                   "'{ type nat hook postrouting priority 100; }' && nft add rule ip leak post oifname " + e.w.uplink() +
                   " masquerade").code, 0);
    j = check_json(l);
    EXPECT_EQ(j["exit"], 1);
    f = failures(j);
    EXPECT_NE(f.find("c/egress"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "c", "egress").find("seen as " + uplink4), npos) << j.dump(2);
    EXPECT_NE(f.find("c/leak"), npos) << j.dump(2);
    for (const std::string& kind : {"tcp to " + web4, "icmp to " + web4, "udp to " + web4}) {
        EXPECT_NE(evidence(j, "c", "leak").find(kind), npos) << kind << "\n" << j.dump(2);
    }
}
