// Issue 14, "heal": a tunnel whose data path fails for healAfter seconds
// gets a new daemon from its runner (tunnel/heal.hpp), its device down
// first, and the kill switch never opens. The fault: the lab's VPN server
// made silent — its UDP dropped both ways with nft inside the VPN server's
// own namespace — while the confined container keeps trying every way
// out. Evidence: a new daemon PID and the runner's log line, 0 packets of
// the container on the lab host's uplink during the whole test, a second
// heal after twice the time (back-off; for openvpn: never CONNECTED), and
// traffic through the tunnel again once the drop is lifted. Positive
// control, first, over the same fault: with healAfter = 0 the daemon keeps
// its PID (what the daemon does on its own is all that happens: openvpn's
// ping-restart reconnects inside its process, wireguard-go keeps
// retrying its handshake).
#include "vpn_moat.hpp"

#include <future>

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

const std::string subnet4 = "10.172.41.0/24";

std::string config(env& e, const std::string& type, int heal_after) {
    return tunnel_toml(e, type) + "healAfter = " + std::to_string(heal_after) +
           "\n\n[networks.conf]\nsubnet = \"" + subnet4 +
           "\"\negress = \"vpn:vpn0\"\n\n[containers.c]\nprivateNetwork = true\nhostBridge = \"conf\"\n" +
           dns_line(type) + "[containers.c.services.s]\nexec = [\"/bin/sleep\", \"infinity\"]\n";
}

// The VPN server neither hears nor answers its clients (its own namespace).
void silence_server(env& e) {
    auto r = e.l.in("nft -f - <<'EOF'\n"
                    "table inet moat_heal_test {\n"
                    "  chain in { type filter hook input priority 0; udp dport { 1194, 51820 } drop; }\n"
                    "  chain out { type filter hook output priority 0; udp sport { 1194, 51820 } drop; }\n"
                    "}\nEOF",
                    e.v.ns());
    ASSERT_EQ(r.code, 0) << r.out << r.err;
}

void unsilence_server(env& e) {
    auto r = e.l.in("nft delete table inet moat_heal_test", e.v.ns());
    ASSERT_EQ(r.code, 0) << r.out << r.err;
}

int the_daemon(lab& l, const std::string& type) {
    std::vector<int> pids;
    EXPECT_TRUE(eventually([&] { return (pids = daemon_pids(l, type)).size() == 1; }, std::chrono::seconds(10)))
        << kernel_evidence(l);
    return pids.empty() ? 0 : pids[0];
}

std::string tunnels_log(lab& l) { return l.moat("logs _tunnels").out; }

int count_of(const std::string& text, const std::string& what) {
    int n = 0;
    for (auto p = text.find(what); p != npos; p = text.find(what, p + 1)) ++n;
    return n;
}

class VpnHeal : public testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(VpnHeal, SilentServerGetsANewDaemonWithTheKillSwitchClosed) {
    const std::string type = GetParam();
    const std::string what = daemon_comm(type);
    env e;
    auto& l = e.l;
    capture out(l, e.w.uplink());
    // Control: healAfter = 0, the same fault, the same daemon throughout.
    up_ok(l, l.write("moat.toml", config(e, type, 0)));
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(30))) << kernel_evidence(l);
    // The container tries every way out from here to the end (at most 240
    // s). Not earlier: `moat exec` reaches a container during the first
    // `up` before its confinement is committed (container::prepare runs
    // before sync_firewall/sync_routing), and packets sent then leave by
    // the main table — a separate bug of `up`, seen once in this test.
    auto generator = std::async(std::launch::async, [&] { return try_every_way_out(l, "c", type, 240, "h"); });
    scope_exit stop_generator{[&] { l.moat("exec c -- pkill -f moat-leak-probe"); }};
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    int control = the_daemon(l, type);
    silence_server(e);
    std::this_thread::sleep_for(std::chrono::seconds(14));
    EXPECT_FALSE(through_tunnel(l, "c", std::chrono::seconds(1)));  // the fault is real
    EXPECT_EQ(daemon_pids(l, type), std::vector<int>{control}) << tunnels_log(l);
    EXPECT_EQ(tunnels_log(l).find("restarting " + what), npos) << tunnels_log(l);
    unsilence_server(e);
    EXPECT_TRUE(through_tunnel(l, "c", std::chrono::seconds(60))) << "control, after the fault\n" << kernel_evidence(l);

    // Heal after 4 s: the runner restarts the daemon during the fault.
    up_ok(l, l.write("moat.toml", config(e, type, 4)));
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(30))) << kernel_evidence(l);
    int before = the_daemon(l, type);
    int heals0 = count_of(tunnels_log(l), "restarting " + what);
    auto t0 = std::chrono::steady_clock::now();
    silence_server(e);
    std::string log;
    EXPECT_TRUE(eventually([&] { return count_of(log = tunnels_log(l), "restarting " + what) > heals0; },
                           std::chrono::seconds(30)))
        << log << kernel_evidence(l);
    auto healed_in = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::cerr << "[heal] " << type << ": silence to heal: " << healed_in.count() << " ms\n";
    // Both daemons keep sending (the container's attempts, openvpn's pings
    // every 2 s): silence is seen before openvpn's own ping-restart (10 s).
    // At the latest: the first send after the drop (2 s), openvpn's next
    // byte count (1 s), the runner's next sample (0.5 s), then healAfter
    // (4 s) — 7.5 s. Sampling once a second instead (the loop's wake-ups
    // gated the 500 ms samples) took 9.06 s once in CI.
    EXPECT_NE(log.find("moat: tunnel vpn0: nothing received from the server for "), npos) << log;
    EXPECT_NE(log.find("while sending to it: tn-vpn0 down, restarting " + what), npos) << log;
    EXPECT_LT(healed_in, std::chrono::seconds(9)) << log;
    // The runner logs "restarting" before the old daemon is gone and the
    // new one started: under load a look right after can still find the old.
    int after = 0;
    EXPECT_TRUE(eventually([&] { return (after = the_daemon(l, type)) != 0 && after != before; },
                           std::chrono::seconds(5)))
        << "daemon before " << before << ", after " << after << "\n" << log;
    // Held a while longer: the next heal waits twice as long (8 s), each
    // with the kill switch closed. The new openvpn never gets CONNECTED:
    // that is the second reason. (wireguard-go's device is up, and routed,
    // from its start: its packets are sealed or dropped, never sent in the
    // clear; openvpn's goes up only when CONNECTED.)
    EXPECT_TRUE(eventually([&] { return count_of(log = tunnels_log(l), "restarting " + what) > heals0 + 1; },
                           std::chrono::seconds(20)))
        << log;
    if (type == "openvpn") {
        EXPECT_NE(log.find("moat: tunnel vpn0: openvpn not connected ("), npos) << log;
        EXPECT_FALSE(tunnel_routed(l)) << kernel_evidence(l);
    }
    EXPECT_NE(log.find("a next heal waits for 16 s"), npos) << log;
    unsilence_server(e);
    auto t1 = std::chrono::steady_clock::now();
    EXPECT_TRUE(through_tunnel(l, "c", std::chrono::seconds(90))) << "after the fault\n" << kernel_evidence(l);
    std::cerr << "[heal] " << type << ": drop lifted to traffic: "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t1).count()
              << " ms; heals: " << count_of(tunnels_log(l), "restarting " + what) - heals0 << "\n";

    std::istringstream lines(tunnels_log(l));
    for (std::string line; std::getline(lines, line);) {
        if (line.find("moat: tunnel vpn0: ") != npos) std::cerr << "[heal] " << line << "\n";
    }
    stop_generator.f();
    auto report = generator.get();
    std::cerr << "[heal] generator: " << report << "\n";
    EXPECT_NE(report.find("moat-leak-probe sent"), npos) << report;
    out.stop();
    const std::string leak = leak_filter(type, {subnet4});
    EXPECT_EQ(out.count(leak), 0) << out.packets(leak) << kernel_evidence(l);
    // The tunnel's own packets did cross the uplink (the capture works).
    EXPECT_GT(out.count("host " + vpn4 + " and udp"), 0);
}

INSTANTIATE_TEST_SUITE_P(Tunnel, VpnHeal, testing::Values("wireguard", "openvpn"), type_name);
