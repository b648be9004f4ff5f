// Issue 14, "honest up": `moat up` exits 0 only when its tunnels pass
// traffic. By default it waits (bounded, --wait SECONDS, --no-wait) until
// the far end answered and the tunnel's default route is in its table; on
// failure it exits 1 naming the tunnel, its last state and the daemon's own
// reason, with everything applied and the kill switch closed (0 packets of
// the confined container on the uplink meanwhile). Real servers of the lab
// (vpn_lab.hpp); each fault has its positive control.
#include "vpn_moat.hpp"

#include <future>

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

class VpnUpWait : public testing::TestWithParam<std::string> {};

const std::string subnet4 = "10.172.41.0/24", subnet6 = "fd00:172:41::/64";
const std::string nobody4 = "198.51.100.99";  // in the wan's documentation range; nobody has it

std::string config(const std::string& tunnel_file, const std::string& type) {
    return "[tunnels.vpn0]\ntype = \"" + type + "\"\nconfig = \"" + tunnel_file +
           "\"\n\n[networks.conf]\nsubnet = \"" + subnet4 + "\"\nsubnet6 = \"" + subnet6 +
           "\"\negress = \"vpn:vpn0\"\n\n[containers.c]\nprivateNetwork = true\nhostBridge = \"conf\"\n" +
           dns_line(type) + "[containers.c.services.s]\nexec = [\"/bin/sleep\", \"infinity\"]\n";
}

// The lab's client file with `from` replaced by `to` (one occurrence).
std::string edited(lab& l, const std::string& path, const std::string& from, const std::string& to) {
    auto text = slurp(path);
    auto at = text.find(from);
    EXPECT_NE(at, npos) << from << " not in " << path;
    if (at != npos) text.replace(at, from.size(), to);
    return l.write("edited-" + path.substr(path.rfind('/') + 1), text);
}

std::string client_file(env& e, const std::string& type) {
    return type == "wireguard" ? e.v.wireguard_client_config() : e.v.openvpn_client_config();
}

std::string unreachable_file(env& e, const std::string& type) {
    return type == "wireguard" ? edited(e.l, client_file(e, type), "Endpoint = " + vpn4, "Endpoint = " + nobody4)
                               : edited(e.l, client_file(e, type), "remote " + vpn4, "remote " + nobody4);
}

struct timed {
    result r;
    double seconds = 0;
};

timed up(lab& l, const std::string& args, std::chrono::seconds limit = std::chrono::seconds(90)) {
    auto t0 = std::chrono::steady_clock::now();
    timed t{l.moat("up " + args, limit), 0};
    t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return t;
}

// `up --wait 5` against a server that never answers, while container c
// tries every way out and the uplink is captured: exit 1 in time, the
// daemon's reason named, the container still there, nothing leaked.
void expect_honest_failure(env& e, const std::string& type, const std::string& file, const std::string& reason) {
    auto& l = e.l;
    capture uplink(l, e.w.uplink());
    auto pending = std::async(std::launch::async, [&] { return up(l, "--wait 5 -f " + l.write("moat.toml", config(file, type))); });
    // As soon as the container runs (the wait has begun), it tries to get out.
    std::string tried;
    if (eventually([&] { return l.moat("exec c -- /bin/true").code == 0; }, std::chrono::seconds(60))) {
        tried = try_every_way_out(l, "c", type, 3, "w");
    }
    auto t = pending.get();
    uplink.stop();
    std::cerr << "[up] " << type << ": exit " << t.r.code << " after " << t.seconds << " s:\n" << t.r.err;
    EXPECT_EQ(t.r.code, 1) << t.r.out << t.r.err;
    // The wait is 5 s; applying comes before it (slow under a loaded suite).
    EXPECT_LT(t.seconds, 25.0) << t.r.err;
    EXPECT_NE(t.r.err.find("tunnel vpn0 (" + type + ") is not up"), npos) << t.r.err;
    EXPECT_NE(t.r.err.find(reason), npos) << "the reason '" << reason << "' is not named:\n" << t.r.err;
    EXPECT_NE(t.r.err.find("kill switch stays closed"), npos) << t.r.err;
    EXPECT_NE(t.r.err.find("moat logs _tunnels"), npos) << t.r.err;
    EXPECT_NE(tried.find("moat-leak-probe sent"), npos) << tried;
    EXPECT_EQ(uplink.count(leak_filter(type, {subnet4, subnet6})), 0)
        << uplink.packets(leak_filter(type, {subnet4, subnet6})) << kernel_evidence(l);
    // Everything stays applied: the container runs, the tunnel is not up.
    auto st = status(l);
    ASSERT_EQ(st["containers"].size(), 1u) << st.dump(2);
    EXPECT_EQ(st["containers"][0]["state"], "running") << st.dump(2);
    EXPECT_NE(tunnel_status(l)["health"]["state"], "up") << tunnel_status(l).dump(2);
}

}  // namespace

// Positive control, and what fails without the wait: right after `up`
// returns, the first connection from the confined container goes through.
TEST_P(VpnUpWait, HealthyServerConnectsOnTheFirstTry) {
    const std::string type = GetParam();
    env e;
    auto t = up(e.l, "-f " + e.l.write("moat.toml", config(client_file(e, type), type)));
    ASSERT_EQ(t.r.code, 0) << t.r.out << t.r.err;
    std::cerr << "[up] " << type << ": exit 0 after " << t.seconds << " s:\n" << t.r.err;
    EXPECT_EQ(http_get(e.l, "c", "http://" + web4 + "/", 5), vpn4 + "\n") << t.r.err << kernel_evidence(e.l);
    // `up` says how long it waited, unless the tunnel was already up at its
    // first look (tunnel_wait.cpp): since the runner stopped sleeping 20 ms
    // per wake-up (issue 17) an OpenVPN tunnel in this lab often is. Either
    // way nothing failed and no other word about the tunnel was said.
    if (t.r.err.find("moat: tunnel vpn0 up in ") == npos) {
        EXPECT_EQ(t.r.err.find("moat: tunnel vpn0"), npos) << t.r.err;
        EXPECT_EQ(tunnel_status(e.l)["health"]["state"], "up") << tunnel_status(e.l).dump(2);
    }
    // Unchanged and up: a second `up` does not wait.
    auto again = up(e.l, "-f " + e.l.dir() + "/moat.toml");
    EXPECT_EQ(again.r.code, 0) << again.r.out << again.r.err;
    EXPECT_EQ(again.r.err.find("moat: tunnel vpn0"), npos) << again.r.err;
    EXPECT_NE(again.r.out.find("no changes"), npos) << again.r.out;
}

// The server's address answers nobody: exit 1 within the wait.
TEST_P(VpnUpWait, UnreachableServerFailsWithItsReason) {
    const std::string type = GetParam();
    env e;
    expect_honest_failure(e, type, unreachable_file(e, type), nobody4);
}

// The server is there but drops every packet of its service.
TEST_P(VpnUpWait, SilentServerFailsWithItsReason) {
    const std::string type = GetParam();
    env e;
    int port = type == "wireguard" ? wg_port : ovpn_port;
    ASSERT_EQ(e.l.in("nft add table inet silent && nft add chain inet silent in '{ type filter hook input priority -10; }'"
                     " && nft add rule inet silent in udp dport " + std::to_string(port) + " drop",
                     e.v.ns()).code, 0);
    expect_honest_failure(e, type, client_file(e, type), vpn4);
}

INSTANTIATE_TEST_SUITE_P(Tunnel, VpnUpWait, testing::Values("wireguard", "openvpn"), type_name);

// A peer key the server does not know: wireguard-go never completes a
// handshake, and says nothing about it; moat says there was none.
TEST(VpnUpWaitFaults, WireGuardWrongServerKeyIsNoHandshake) {
    env e;
    auto& l = e.l;
    auto other = trim(l.in("wg genkey | wg pubkey").out);
    ASSERT_EQ(other.size(), 44u) << other;
    auto file = edited(l, e.v.wireguard_client_config(), "PublicKey = " + e.v.wg_server_public_key(), "PublicKey = " + other);
    auto t = up(l, "--wait 4 -f " + l.write("moat.toml", config(file, "wireguard")));
    EXPECT_EQ(t.r.code, 1) << t.r.out << t.r.err;
    EXPECT_NE(t.r.err.find("no handshake with " + vpn4 + ":" + std::to_string(wg_port) + " after 4"), npos) << t.r.err;
    EXPECT_LT(t.seconds, 25.0) << t.r.err;
    std::cerr << "[up] wrong key: exit " << t.r.code << " after " << t.seconds << " s:\n" << t.r.err;
}

// A provider file without PersistentKeepalive: WireGuard handshakes only
// when it has something to send, so moat starts the first handshake itself
// (a keepalive until then) and puts the file's "off" back after it.
TEST(VpnUpWaitFaults, WireGuardWithoutKeepaliveComesUp) {
    env e;
    auto& l = e.l;
    auto file = edited(l, e.v.wireguard_client_config(), "PersistentKeepalive = 25\n", "");
    // Without IPv6 on new links the kernel sends nothing of its own (router
    // solicitations, MLD) into the new device that would start a handshake.
    ASSERT_EQ(l.in("sysctl -qw net.ipv6.conf.default.disable_ipv6=1").code, 0);
    std::string toml = config(file, "wireguard");
    toml.erase(toml.find("subnet6 = "), toml.find('\n', toml.find("subnet6 = ")) + 1 - toml.find("subnet6 = "));
    auto t = up(l, "--wait 10 -f " + l.write("moat.toml", toml));
    ASSERT_EQ(t.r.code, 0) << t.r.out << t.r.err << kernel_evidence(l);
    auto pids = daemon_pids(l, "wireguard");
    ASSERT_EQ(pids.size(), 1u);
    std::string keepalive;
    EXPECT_TRUE(eventually([&] {
        keepalive = l.in("nsenter -t " + std::to_string(pids[0]) + " -m wg show " + device + " persistent-keepalive").out;
        return keepalive.find("\toff") != npos;
    }, std::chrono::seconds(5))) << keepalive;
    EXPECT_EQ(http_get(l, "c", "http://" + web4 + "/", 5), vpn4 + "\n") << kernel_evidence(l);
}

// Positive control for the flag: the same dead server, no wait, exit 0 at once.
TEST(VpnUpWaitFaults, NoWaitReturnsAtOnceWithADeadServer) {
    env e;
    auto& l = e.l;
    auto file = l.write("moat.toml", config(unreachable_file(e, "openvpn"), "openvpn"));
    auto t = up(l, "--no-wait -f " + file);
    EXPECT_EQ(t.r.code, 0) << t.r.out << t.r.err;
    EXPECT_LT(t.seconds, 10.0) << t.r.err;
    EXPECT_EQ(t.r.err.find("moat: tunnel vpn0"), npos) << t.r.err;
    // --wait 0 is the same; both together are a usage error.
    EXPECT_EQ(up(l, "--wait 0 -f " + file).r.code, 0);
    EXPECT_EQ(up(l, "--wait 3 --no-wait -f " + file).r.code, 2);
}

// Found before anything is touched: exit 2 with file:line, nothing created.
TEST(VpnUpWaitFaults, BadEndpointPortIsRefusedBeforeAnything) {
    env e;
    auto& l = e.l;
    auto file = edited(l, e.v.wireguard_client_config(), ":" + std::to_string(wg_port), ":70000");
    auto t = up(l, "-f " + l.write("moat.toml", config(file, "wireguard")));
    EXPECT_EQ(t.r.code, 2) << t.r.out << t.r.err;
    EXPECT_NE(t.r.err.find(file + ":"), npos) << t.r.err;
    EXPECT_NE(t.r.err.find("70000"), npos) << t.r.err;
    EXPECT_FALSE(device_exists(l));
    EXPECT_EQ(l.in("test -e " + l.state_dir()).code, 1) << "a state directory was created";
    // Address lines that would take the host's or a container's traffic.
    const std::pair<std::string, std::string> addresses[] = {
        {uplink4 + "/32", "is the host's own address on " + e.w.uplink()},
        {"10.172.41.7/32", "is in moat's network conf (10.172.41.0/24)"},
    };
    for (const auto& [address, says] : addresses) {
        auto clash = edited(l, e.v.wireguard_client_config(), "Address = " + wg_client4 + "/32", "Address = " + address);
        auto r = up(l, "-f " + l.write("moat.toml", config(clash, "wireguard")));
        EXPECT_EQ(r.r.code, 2) << r.r.out << r.r.err;
        EXPECT_NE(r.r.err.find(clash + ":3: Address " + address + " " + says), npos) << r.r.err;
        EXPECT_FALSE(device_exists(l));
        EXPECT_EQ(l.in("test -e " + l.state_dir()).code, 1) << "a state directory was created";
    }
}

// A daemon that dies during the wait (here openvpn refusing an option) is
// a failure at once, not after the wait, with the daemon's own words.
TEST(VpnUpWaitFaults, DaemonThatDiesFailsAtOnce) {
    env e;
    auto& l = e.l;
    auto file = edited(l, e.v.openvpn_client_config(), "nobind\n", "nobind\nmoat-no-such-option 1\n");
    auto t = up(l, "--wait 30 -f " + l.write("moat.toml", config(file, "openvpn")));
    std::cerr << "[up] dying daemon: exit " << t.r.code << " after " << t.seconds << " s:\n" << t.r.err;
    EXPECT_EQ(t.r.code, 1) << t.r.out << t.r.err;
    EXPECT_LT(t.seconds, 20.0) << t.r.err;
    EXPECT_NE(t.r.err.find("openvpn exited; restarting with back-off"), npos) << t.r.err;
    EXPECT_NE(t.r.err.find("moat-no-such-option"), npos) << t.r.err;
}

// Hostname endpoints are resolved at `up`, before anything is applied: a
// name the resolver says does not exist is the file's error (exit 2 at its
// line, nothing created); one that resolves comes up (positive control).
// moat runs in a mount namespace of its own whose /etc/resolv.conf names a
// resolver of the lab (dnsmasq on the lab host's loopback).
TEST(VpnUpWaitFaults, EndpointHostnameIsResolvedBeforeAnything) {
    env e;
    auto& l = e.l;
    auto dns = l.in("dnsmasq -k -C /dev/null -u root -g root --pid-file= --no-hosts --no-resolv "
                    "--listen-address=127.0.0.1 --bind-interfaces --address=/vpn.lab/" + vpn4 +
                    " --address=/nosuch.lab/ >/dev/null 2>&1 & echo $!");
    const int dns_pid = std::stoi(trim(dns.out));
    scope_exit stop_dns{[&] { stop_process(dns_pid, "dnsmasq"); }};
    ASSERT_TRUE(eventually([&] { return ns_dns(l, "", "127.0.0.1", "vpn.lab") == vpn4; }, std::chrono::seconds(5)));
    auto resolv = l.write("resolv.conf", "nameserver 127.0.0.1\n");
    auto moat_up = [&](const std::string& file) {
        return l.in("unshare -m sh -c " + shq("mount --bind " + resolv + " /etc/resolv.conf && " + moat_binary() +
                                              " --state-dir " + l.state_dir() + " up --wait 10 -f " + file),
                    "", std::chrono::seconds(60));
    };
    auto bad = edited(l, e.v.wireguard_client_config(), "Endpoint = " + vpn4, "Endpoint = nosuch.lab");
    auto r = moat_up(l.write("moat.toml", config(bad, "wireguard")));
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find(bad + ":8: Endpoint nosuch.lab:51820: nosuch.lab does not resolve"), npos) << r.err;
    EXPECT_FALSE(device_exists(l));
    EXPECT_EQ(l.in("test -e " + l.state_dir()).code, 1) << "a state directory was created";

    auto good = l.write("good-wg.conf", slurp(bad).replace(slurp(bad).find("nosuch.lab"), 10, "vpn.lab"));
    r = moat_up(l.write("moat.toml", config(good, "wireguard")));
    ASSERT_EQ(r.code, 0) << r.out << r.err << kernel_evidence(l);
    EXPECT_EQ(http_get(l, "c", "http://" + web4 + "/", 5), vpn4 + "\n") << kernel_evidence(l);
}
