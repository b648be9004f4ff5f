// The VPN lab fixture itself (vpn_lab.hpp), without moat: real openvpn and
// wireguard-go clients in a namespace of the test's own reach the web server
// and the wan's resolver through the lab's servers, which see only the vpn
// server's address; and the fixture leaves nothing behind.
#include "vpn_lab.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;
const std::string client4 = "203.0.113.20";

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

long ms_since(std::chrono::steady_clock::time_point t) {
    return static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count());
}

// The real openvpn client in ns with the lab's .ovpn, ignoring pushed routes.
int start_openvpn_client(lab& l, vpn_lab& v, const std::string& ns, const std::string& log) {
    auto conf = v.openvpn_client_config();
    auto r = sh(enter(ns) + "openvpn --config " + conf + " --route-nopull --disable-dco --log-append " + log +
                " </dev/null >/dev/null 2>&1 & echo $!");
    int pid = std::atoi(r.out.c_str());
    bool up = eventually([&] { return slurp(log).find("Initialization Sequence Completed") != npos; });
    EXPECT_TRUE(up) << slurp(log);
    (void)l;
    return pid;
}

}  // namespace

TEST(VpnLab, OpenVpnClientReachesTheWanAsTheVpnServer) {
    lab l;
    wan w(l);
    auto t0 = std::chrono::steady_clock::now();
    vpn_lab v(l, w);
    std::cerr << "[vpn_lab] built in " << ms_since(t0) << " ms\n";
    auto c = l.add_ns("cl");
    attach_to_wan(l, w, c, client4, "c");
    // Direct: the wan sees the client's own address, and the host's.
    EXPECT_EQ(ns_http_get(l, c, "http://" + web4 + "/"), client4 + "\n");
    EXPECT_EQ(ns_http_get(l, "", "http://" + web4 + "/"), uplink4 + "\n");
    // The lab's host (where moat runs) reaches the vpn server on its segment.
    EXPECT_EQ(l.in("ping -c 1 -W 1 " + vpn4).code, 0);

    auto log = l.dir() + "/ovpn-client.log";
    t0 = std::chrono::steady_clock::now();
    int pid = start_openvpn_client(l, v, c, log);
    std::cerr << "[vpn_lab] openvpn client up in " << ms_since(t0) << " ms\n";
    // The server pushed redirect-gateway and DNS; route-nopull kept them out.
    auto text = slurp(log);
    auto push = text.find("PUSH_REPLY");
    ASSERT_NE(push, npos) << text;
    auto reply = text.substr(push, text.find('\n', push) - push);
    EXPECT_NE(reply.find("redirect-gateway def1"), npos) << reply;
    EXPECT_NE(reply.find("dhcp-option DNS " + ovpn_server4), npos) << reply;
    EXPECT_EQ(l.in("ip route show 0.0.0.0/1", c).out, "");
    EXPECT_NE(l.in("ip route show default", c).out.find("via 203.0.113.1"), npos);

    // Through the tunnel: the web server sees the vpn server.
    ASSERT_EQ(l.in("ip route add " + web4 + "/32 dev tun0", c).code, 0);
    EXPECT_EQ(ns_http_get(l, c, "http://" + web4 + "/"), vpn4 + "\n");
    // DNS through the tunnel reaches the wan's resolver from 203.0.113.2 only.
    v.clear_dns_log();
    EXPECT_EQ(ns_dns(l, c, ovpn_server4, probe_name), web4);
    EXPECT_EQ(ns_dns(l, c, ovpn_server4, probe_name, true), web6);
    std::vector<std::string> seen;
    EXPECT_TRUE(eventually([&] { return (seen = v.dns_clients()).size() == 2; }, std::chrono::seconds(3)));
    EXPECT_EQ(seen, std::vector<std::string>({vpn4, vpn4}));
    // The log tells a direct query apart.
    v.clear_dns_log();
    EXPECT_EQ(ns_dns(l, "", dns4, probe_name), web4);
    EXPECT_TRUE(eventually([&] { return v.dns_clients() == std::vector<std::string>{uplink4}; }, std::chrono::seconds(3)));

    // Server killed: the tunnel carries nothing; restarted: a client gets through again.
    EXPECT_TRUE(stop_process(pid, "openvpn"));
    int old = v.openvpn_pid();
    t0 = std::chrono::steady_clock::now();
    v.kill_openvpn(SIGKILL);
    std::cerr << "[vpn_lab] openvpn server SIGKILL to gone: " << ms_since(t0) << " ms\n";
    EXPECT_FALSE(alive(old, "openvpn"));
    EXPECT_NE(l.in("ip link show dev tun0", v.ns()).code, 0);
    t0 = std::chrono::steady_clock::now();
    v.start_openvpn();
    std::cerr << "[vpn_lab] openvpn server start: " << ms_since(t0) << " ms\n";
    EXPECT_NE(v.openvpn_pid(), old);
    log = l.dir() + "/ovpn-client-2.log";
    pid = start_openvpn_client(l, v, c, log);
    ASSERT_EQ(l.in("ip route replace " + web4 + "/32 dev tun0", c).code, 0);
    EXPECT_EQ(ns_http_get(l, c, "http://" + web4 + "/"), vpn4 + "\n");
    EXPECT_EQ(ns_dns(l, c, ovpn_server4, probe_name), web4);  // the forwarder rebound to the new tun0
    t0 = std::chrono::steady_clock::now();
    v.restart_openvpn(SIGTERM);
    std::cerr << "[vpn_lab] openvpn server restart (SIGTERM): " << ms_since(t0) << " ms\n";
    EXPECT_TRUE(stop_process(pid, "openvpn"));
}

TEST(VpnLab, WireGuardClientReachesTheWanAsTheVpnServer) {
    lab l;
    wan w(l);
    vpn_lab v(l, w);
    auto c = l.add_ns("cl");
    attach_to_wan(l, w, c, client4, "c");
    const std::string ifname = "wgc" + l.id();
    // The client file is what wg-quick reads: strip it and hand it to wg.
    auto conf = v.wireguard_client_config();
    auto body = slurp(conf);
    for (const char* want : {"Address = 10.9.0.2/32", "DNS = 10.9.0.1", "Endpoint = 203.0.113.2:51820",
                             "AllowedIPs = 0.0.0.0/0, ::/0", "PersistentKeepalive = 25"}) {
        EXPECT_NE(body.find(want), npos) << want << "\n" << body;
    }
    auto stripped = l.dir() + "/wgc.stripped";
    ASSERT_EQ(sh("wg-quick strip " + conf + " > " + stripped).code, 0);

    auto t0 = std::chrono::steady_clock::now();
    int pid = start_wireguard_go(l, c, ifname, l.dir() + "/wgc.log");
    auto r = wg(pid, "setconf " + ifname + " " + stripped);
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_EQ(l.in("ip addr add " + wg_client4 + "/32 dev " + ifname + " && ip link set " + ifname +
                       " up && ip route add " + web4 + "/32 dev " + ifname + " && ip route add " + wg_server4 +
                       "/32 dev " + ifname,
                   c)
                  .code,
              0);
    EXPECT_EQ(ns_http_get(l, c, "http://" + web4 + "/"), vpn4 + "\n");
    std::cerr << "[vpn_lab] wireguard-go client start to first answer: " << ms_since(t0) << " ms\n";
    EXPECT_NE(wg(v.wireguard_pid(), "show " + v.wg_ifname() + " latest-handshakes").out.find('\t'), npos);
    // Its socket is on the daemon's private /run, not the machine's.
    EXPECT_NE(sh("test -e /var/run/wireguard/" + ifname + ".sock").code, 0);

    v.clear_dns_log();
    EXPECT_EQ(ns_dns(l, c, wg_server4, probe_name), web4);
    EXPECT_TRUE(eventually([&] { return v.dns_clients() == std::vector<std::string>{vpn4}; }, std::chrono::seconds(3)));

    // Server restarted (new process, new link): a fresh client handshake works.
    int old = v.wireguard_pid();
    t0 = std::chrono::steady_clock::now();
    v.restart_wireguard(SIGKILL);
    std::cerr << "[vpn_lab] wireguard-go server restart (SIGKILL): " << ms_since(t0) << " ms\n";
    EXPECT_FALSE(alive(old, "wireguard-go"));
    EXPECT_NE(v.wireguard_pid(), old);
    EXPECT_TRUE(stop_process(pid, "wireguard-go"));
    pid = start_wireguard_go(l, c, ifname, l.dir() + "/wgc.log");
    ASSERT_EQ(wg(pid, "setconf " + ifname + " " + stripped).code, 0);
    l.in("ip addr add " + wg_client4 + "/32 dev " + ifname + " && ip link set " + ifname + " up && ip route add " +
             web4 + "/32 dev " + ifname,
         c);
    l.in("ip route add " + wg_server4 + "/32 dev " + ifname, c);
    EXPECT_EQ(ns_http_get(l, c, "http://" + web4 + "/"), vpn4 + "\n");
    EXPECT_EQ(ns_dns(l, c, wg_server4, probe_name), web4);
    EXPECT_TRUE(stop_process(pid, "wireguard-go"));
}

TEST(VpnLab, LeavesNothingBehind) {
    std::vector<std::pair<int, std::string>> pids;
    std::string id;
    auto t0 = std::chrono::steady_clock::now();
    {
        lab l;
        wan w(l);
        vpn_lab v(l, w);
        id = l.id();
        pids = {{v.openvpn_pid(), "openvpn"}, {v.wireguard_pid(), "wireguard-go"}};
        for (const auto& p : pids) ASSERT_TRUE(alive(p.first, p.second)) << p.second;
        auto dns = sh("ip netns pids " + v.ns() + " && ip netns pids " + w.ns()).out;
        EXPECT_NE(dns, "");
        t0 = std::chrono::steady_clock::now();
    }
    std::cerr << "[vpn_lab] teardown: " << ms_since(t0) << " ms\n";
    for (const auto& p : pids) EXPECT_FALSE(alive(p.first, p.second)) << p.second;
    EXPECT_EQ(sh("ip netns list | grep -- '-" + id + "-'").out, "");
    EXPECT_EQ(sh("ls /var/run/wireguard 2>/dev/null | grep -- " + id).out, "");
    EXPECT_EQ(sh("pgrep -af '[d]nsmasq.*moat-lab-" + id + "'").out, "");
}
