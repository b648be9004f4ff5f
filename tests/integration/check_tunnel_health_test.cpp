// Issue 14, "honest check": with no [check] probe, `moat check` must not
// call a tunnel up because its device is up. wireguard-go's device is up
// from the start and openvpn keeps CONNECTED until its ping-restart fires,
// so the evidence is the far end speaking (tunnel/health.hpp): a recent
// WireGuard handshake, a CONNECTED openvpn that hears from its server. A
// NAT'ed container counts only with its uplink there, up and routed.
// Each fault has its positive control: the same lab, healthy, passes.
#include "check_util.hpp"
#include "vpn_moat.hpp"

#include <thread>

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

// No probe anywhere: only the static checks judge.
std::string config(env& e, const std::string& type) {
    return tunnel_toml(e, type) + R"(
[containers.c]
privateNetwork = true
hostAddress = "10.172.24.1"
localAddress = "10.172.24.2"
egress = "vpn:vpn0"
)" + dns_line(type) + R"(
[containers.c.services.s]
exec = ["/bin/sleep", "infinity"]

[containers.n]
privateNetwork = true
hostAddress = "10.171.24.1"
localAddress = "10.171.24.2"
egress = "nat"
[containers.n.services.s]
exec = ["/bin/sleep", "infinity"]
)";
}

// `moat check --json` with the tunnels' silence limit lowered (docs/TESTING.md).
nlohmann::json check_with_limit(lab& l, int seconds) {
    auto r = l.in("MOAT_TUNNEL_MAX_SILENCE=" + std::to_string(seconds) + " " + moat_binary() + " --state-dir " +
                      l.state_dir() + " check --json",
                  "", std::chrono::seconds(30));
    auto j = nlohmann::json::parse(r.out.empty() ? "{}" : r.out, nullptr, false);
    if (j.is_discarded()) j = nlohmann::json::object();
    j["exit"] = r.code;
    return j;
}

bool healthy(lab& l, nlohmann::json& j) {
    return eventually([&] { return (j = check_json(l))["exit"] == 0; }, std::chrono::seconds(30));
}

class CheckTunnelHealth : public testing::TestWithParam<std::string> {};

}  // namespace

// Positive control for both types: a live server passes with the evidence named.
TEST_P(CheckTunnelHealth, LiveServerPassesWithItsEvidence) {
    const std::string type = GetParam();
    env e;
    up_ok(e.l, e.l.write("moat.toml", config(e, type)));
    nlohmann::json j;
    ASSERT_TRUE(healthy(e.l, j)) << failures(j) << j.dump(2) << kernel_evidence(e.l);
    auto ev = evidence(j, "c", "tunnel");
    EXPECT_NE(ev.find(type == "wireguard" ? "tunnel vpn0 up: last handshake " : "tunnel vpn0 up: openvpn CONNECTED"),
              npos) << j.dump(2);
    EXPECT_NE(evidence(j, "n", "uplink").find(e.w.uplink() + " up, IPv4 default route"), npos) << j.dump(2);
    auto t = tunnel_status(e.l);
    ASSERT_FALSE(t.is_null());
    EXPECT_EQ(t["health"]["state"], "up") << t.dump(2);
    if (type == "wireguard") {
        EXPECT_TRUE(t["health"].contains("last_handshake")) << t.dump(2);
    }
}

INSTANTIATE_TEST_SUITE_P(Tunnel, CheckTunnelHealth, testing::Values("wireguard", "openvpn"), type_name);

// The WireGuard server gone: the handshake made at `up` goes stale (the
// limit lowered so that the suite need not wait 180 s), and a daemon
// restarted since never handshakes at all (the default limit).
TEST(CheckTunnelHealthFaults, WireGuardServerGoneIsNamed) {
    env e;
    auto& l = e.l;
    up_ok(l, l.write("moat.toml", config(e, "wireguard")));
    nlohmann::json j;
    ASSERT_TRUE(healthy(l, j)) << failures(j) << j.dump(2);
    e.v.kill_wireguard();
    std::this_thread::sleep_for(std::chrono::seconds(4));
    ASSERT_TRUE(device_exists(l));  // the device alone would still say "up"
    j = check_with_limit(l, 3);
    EXPECT_EQ(j["exit"], 1) << j.dump(2);
    EXPECT_NE(failures(j).find("c/tunnel"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "c", "tunnel").find("tunnel vpn0 down: no handshake for "), npos) << j.dump(2);
    EXPECT_EQ(failures(j).find("n/"), npos) << j.dump(2);

    // The client daemon restarted (moat's init restarts its runner): the
    // server never answers it.
    for (int p : daemon_pids(l, "wireguard")) stop_process(p, "wireguard-go", SIGKILL);
    ASSERT_TRUE(eventually([&] {
        j = check_json(l);
        return evidence(j, "c", "tunnel").find("no handshake since wireguard-go started") != npos;
    }, std::chrono::seconds(30))) << j.dump(2) << kernel_evidence(l);
    EXPECT_EQ(j["exit"], 1) << j.dump(2);
    EXPECT_EQ(tunnel_status(l)["health"]["state"], "connecting") << tunnel_status(l).dump(2);

    // The server back: the tunnel handshakes again and passes.
    e.v.start_wireguard();
    ASSERT_TRUE(healthy(l, j)) << failures(j) << j.dump(2);
}

// The OpenVPN server killed without a word (no explicit-exit-notify):
// openvpn stays CONNECTED until ping-restart (10 s in the lab), but nothing
// arrives from the server any more; then it reconnects, and says so.
TEST(CheckTunnelHealthFaults, OpenVpnServerGoneIsNamed) {
    env e;
    auto& l = e.l;
    up_ok(l, l.write("moat.toml", config(e, "openvpn")));
    nlohmann::json j;
    ASSERT_TRUE(healthy(l, j)) << failures(j) << j.dump(2);
    // Positive control at the lowered limit: the server's pings (every 2 s) keep it fresh.
    j = check_with_limit(l, 4);
    EXPECT_EQ(j["exit"], 0) << failures(j) << j.dump(2);
    e.v.kill_openvpn(SIGKILL);
    std::this_thread::sleep_for(std::chrono::seconds(7));
    j = check_with_limit(l, 4);
    EXPECT_EQ(j["exit"], 1) << j.dump(2);
    EXPECT_NE(failures(j).find("c/tunnel"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "c", "tunnel").find("nothing received from the server for "), npos) << j.dump(2);
    ASSERT_TRUE(eventually([&] {
        j = check_json(l);
        return evidence(j, "c", "tunnel").find("openvpn state RECONNECTING") != npos;
    }, std::chrono::seconds(30))) << j.dump(2);
    EXPECT_EQ(j["exit"], 1);
    e.v.start_openvpn();
    ASSERT_TRUE(healthy(l, j)) << failures(j) << j.dump(2);
}

// The NAT'ed container's uplink deleted: named; its positive control is
// the healthy check before.
TEST(CheckTunnelHealthFaults, NatUplinkDeletedIsNamed) {
    env e;
    auto& l = e.l;
    up_ok(l, l.write("moat.toml", config(e, "wireguard")));
    nlohmann::json j;
    ASSERT_TRUE(healthy(l, j)) << failures(j) << j.dump(2);
    ASSERT_EQ(l.in("ip link del " + e.w.uplink()).code, 0);
    j = check_json(l);
    EXPECT_EQ(j["exit"], 1) << j.dump(2);
    EXPECT_NE(failures(j).find("n/uplink"), npos) << j.dump(2);
    EXPECT_EQ(evidence(j, "n", "uplink"), e.w.uplink() + " missing") << j.dump(2);
}
