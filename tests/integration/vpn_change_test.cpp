// Issue 14, change detection: an edited tunnel file (.ovpn, wg-quick) is a
// change `up` must see. `up` restarts the tunnel's runner and daemon (a new
// daemon pid) and names the file; the confined container keeps running; a
// capture on the lab host's uplink counts 0 packets of the confined
// container while the daemon is replaced (LAB.md rule 6), and a second `up`
// with no edit changes nothing.
#include "vpn_moat.hpp"

#include <future>

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

class VpnChange : public testing::TestWithParam<std::string> {};

const std::string subnet4 = "10.172.32.0/24", subnet6 = "fd00:172:32::/64";

// A harmless edit of each kind of file: another keepalive, another verbosity.
void edit(lab& l, const std::string& type, const std::string& file) {
    auto r = type == "wireguard" ? l.in("sed -i 's/^PersistentKeepalive = 25$/PersistentKeepalive = 20/' " + file +
                                        " && grep -q 'PersistentKeepalive = 20' " + file)
                                 : l.in("echo 'verb 4' >> " + file);
    ASSERT_EQ(r.code, 0) << r.err;
}

}  // namespace

TEST_P(VpnChange, EditedTunnelFileRestartsItsDaemon) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    std::string config = type == "wireguard" ? e.v.wireguard_client_config() : e.v.openvpn_client_config();
    std::string file = l.write("moat.toml", tunnel_toml(e, type) + "\n[networks.conf]\nsubnet = \"" + subnet4 +
                                                "\"\nsubnet6 = \"" + subnet6 +
                                                "\"\negress = \"vpn:vpn0\"\n\n[containers.c]\nprivateNetwork = "
                                                "true\nhostBridge = \"conf\"\n" + dns_line(type));
    up_ok(l, file);
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(25))) << kernel_evidence(l);
    auto same = l.moat("up -f " + file);
    EXPECT_NE(same.out.find("no changes"), npos) << same.out << same.err;  // control: nothing edited yet
    auto before = daemon_pids(l, type);
    ASSERT_EQ(before.size(), 1u) << kernel_evidence(l);
    int init_c = container_status(l, "c").value("pid", 0);

    capture out(l, e.w.uplink());
    auto generator = std::async(std::launch::async, [&] { return try_every_way_out(l, "c", type, 60, "e"); });
    scope_exit stop_generator{[&] { l.moat("exec c -- pkill -f moat-leak-probe"); }};
    std::this_thread::sleep_for(std::chrono::milliseconds(500));

    edit(l, type, config);
    auto up = l.moat("up -f " + file, std::chrono::seconds(60));
    ASSERT_EQ(up.code, 0) << up.out << up.err;
    EXPECT_NE(up.out.find("recreated (tunnel vpn0: " + config + " changed)"), npos) << up.out;
    EXPECT_EQ(up.out.find("no changes"), npos) << up.out;
    // A new daemon, the tunnel back, the confined container untouched.
    EXPECT_TRUE(eventually([&] { auto p = daemon_pids(l, type); return p.size() == 1 && p != before; },
                           std::chrono::seconds(20)))
        << kernel_evidence(l);
    EXPECT_TRUE(through_tunnel(l, "c", std::chrono::seconds(30))) << kernel_evidence(l);
    EXPECT_EQ(container_status(l, "c").value("pid", 0), init_c) << "the confined container was restarted";

    stop_generator.f();
    std::cerr << "[vpn] generator: " << generator.get() << "\n";
    const std::string leak = leak_filter(type, {subnet4, subnet6});
    EXPECT_EQ(out.count(leak), 0) << out.packets(leak) << kernel_evidence(l);

    // Idempotent: no edit since, no restart.
    auto after = daemon_pids(l, type);
    auto again = l.moat("up -f " + file);
    EXPECT_EQ(again.code, 0) << again.err;
    EXPECT_NE(again.out.find("no changes"), npos) << again.out;
    EXPECT_EQ(daemon_pids(l, type), after);
}

INSTANTIATE_TEST_SUITE_P(Tunnel, VpnChange, testing::Values("wireguard", "openvpn"), type_name);
