// `moat run --egress vpn:NAME` (issue 14, vopono's main use): a one-off
// command confined to a tunnel that `moat up -f FILE` runs, for both tunnel
// types, in the VPN lab (vpn_lab.hpp). Judged by what the web server sees
// (the VPN server's address, never the uplink's), by a capture on the lab
// host's uplink while the tunnel's server is dead (0 packets of the
// command's), and by what `down -f FILE` does to a tunnel a running `run`
// container uses. Controls: `run --egress nat` still exits by the uplink,
// and the same capture sees it.
#include "vpn_moat.hpp"

#include <future>

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

class VpnRun : public testing::TestWithParam<std::string> {};

// One-off containers are addressed from 169.254.172.0/22 (cmd_run.cpp).
const std::string run_net = "169.254.172.0/22";

std::string confined_config(env& e, const std::string& type) {
    return tunnel_toml(e, type) + "\n[networks.conf]\nsubnet = \"10.172.51.0/24\"\negress = \"vpn:vpn0\"\n\n"
                                  "[containers.c]\nprivateNetwork = true\nhostBridge = \"conf\"\n" + dns_line(type);
}

// --dns for the run: OpenVPN's pushed DNS is filtered (as for `dns` in a file).
std::string dns_flag(const std::string& type) { return type == "openvpn" ? "--dns " + ovpn_server4 + " " : ""; }

std::string curl(const std::string& url, int seconds = 5) {
    return "curl -s --max-time " + std::to_string(seconds) + " " + url;
}

// The one-off containers' veths the host has.
std::string run_links(lab& l) { return l.in("ip -br link | grep -o '^ve-run[^ @]*' || true").out; }

}  // namespace

TEST_P(VpnRun, CommandExitsThroughTheTunnelAndResolvesThroughIt) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    up_ok(l, l.write("moat.toml", confined_config(e, type)));
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(20))) << kernel_evidence(l);
    e.v.clear_dns_log();

    auto r = l.moat("run --rm --egress vpn:vpn0 " + dns_flag(type) + "-- sh -c " +
                        shq("cat /etc/resolv.conf; getent hosts run1." + probe_name + " >/dev/null && echo resolved; " +
                            curl("http://" + web4 + "/")),
                    std::chrono::seconds(30));
    EXPECT_EQ(r.code, 0) << r.out << r.err << kernel_evidence(l);
    EXPECT_NE(r.out.find("nameserver " + resolver(type)), npos) << r.out;
    EXPECT_NE(r.out.find("resolved"), npos) << r.out << r.err;
    EXPECT_NE(r.out.find(vpn4 + "\n"), npos) << "the web server must see the VPN server\n" << r.out;
    EXPECT_EQ(r.out.find(uplink4), npos) << r.out;
    // The name went through the tunnel: the wan's resolver heard only the server.
    auto asked = e.v.dns_clients();
    EXPECT_GT(std::count(asked.begin(), asked.end(), vpn4), 0) << "no query through the tunnel";
    EXPECT_EQ(std::count(asked.begin(), asked.end(), uplink4), 0) << "the host's address asked the wan's resolver";

    // Positive control: NAT still exits by the uplink.
    auto nat = l.moat("run --rm --egress nat -- " + curl("http://" + web4 + "/"), std::chrono::seconds(30));
    EXPECT_EQ(nat.code, 0) << nat.err;
    EXPECT_EQ(nat.out, uplink4 + "\n");
    // --rm: nothing of either is left; the file's container keeps its tunnel.
    EXPECT_EQ(run_links(l), "");
    EXPECT_EQ(l.in("ip rule | grep -c 169.254.172 || true").out, "0\n") << l.in("ip rule").out;
    EXPECT_TRUE(through_tunnel(l, "c", std::chrono::seconds(5)));
}

TEST_P(VpnRun, UnknownTunnelIsRefusedBeforeAnythingIsMade) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    up_ok(l, l.write("moat.toml", confined_config(e, type)));
    // Settled first: the runner adds its own rule once the tunnel is up.
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(20))) << kernel_evidence(l);
    auto rules = l.in("ip rule; ip -6 rule").out;
    auto table = l.in("nft list table inet moat").out;
    auto records = status(l)["containers"].size();

    auto r = l.moat("run --rm --egress vpn:nosuch -- true");
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("no tunnel 'nosuch' is running"), npos) << r.err;
    EXPECT_NE(r.err.find("moat up -f "), npos) << r.err;
    EXPECT_NE(r.err.find("tunnels: vpn0"), npos) << r.err;
    EXPECT_EQ(run_links(l), "");
    EXPECT_EQ(l.in("ip rule; ip -6 rule").out, rules);
    EXPECT_EQ(l.in("nft list table inet moat").out, table);
    EXPECT_EQ(status(l)["containers"].size(), records);

    // The same syntax and message as the file's egress key; a state
    // directory that did not exist is not made by a refusal.
    auto bad = l.moat("run --rm --egress vpn -- true");
    EXPECT_EQ(bad.code, 2);
    EXPECT_NE(bad.err.find("expected \"none\", \"nat\" or \"vpn:<tunnel>\", got \"vpn\""), npos) << bad.err;
    const std::string fresh = l.dir() + "/fresh-state";
    auto none = l.in(moat_binary() + " --state-dir " + fresh + " run --rm --egress vpn:vpn0 -- true");
    EXPECT_EQ(none.code, 2) << none.err;
    EXPECT_NE(none.err.find("no tunnel runs now"), npos) << none.err;
    EXPECT_NE(l.in("test -e " + fresh).code, 0) << "a refused run made its state directory";
}

TEST_P(VpnRun, DeadServerFailsClosed) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    up_ok(l, l.write("moat.toml", confined_config(e, type)));
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(20))) << kernel_evidence(l);
    // The server dies; the client's device stays (persist-tun, wireguard-go),
    // so the command's packets meet the tunnel, not the kill switch alone.
    if (type == "wireguard") {
        e.v.kill_wireguard(SIGKILL);
    } else {
        e.v.kill_openvpn(SIGKILL);
    }
    e.v.clear_dns_log();
    const std::string leak = leak_filter(type, {run_net});
    {
        // The run's veth does not exist yet: its attempts are counted on all
        // links by its source address (before the tunnel's masquerade).
        capture out(l, e.w.uplink()), link(l, "any");
        auto r = l.moat("run --rm --name r1 --egress vpn:vpn0 " + dns_flag(type) + "-- sh -c " +
                            shq(curl("http://" + web4 + "/", 3) + "; echo curl=$?; timeout 10 /usr/bin/python3 -c " +
                                shq(leak_generator) + " " + web4 + " " + web6 + " " + dns4 + " " + resolver(type) +
                                " 2 d"),
                        std::chrono::seconds(40));
        out.stop();
        link.stop();
        EXPECT_EQ(r.code, 0) << r.err;
        EXPECT_EQ(r.out.find(vpn4), npos) << r.out;
        EXPECT_EQ(r.out.find(uplink4), npos) << r.out;
        EXPECT_EQ(r.out.find("curl=0"), npos) << "the connection must fail\n" << r.out;
        EXPECT_NE(r.out.find("curl="), npos) << r.out << r.err;
        EXPECT_EQ(out.count(leak), 0) << out.packets(leak) << kernel_evidence(l);
        // The attempts were made (IPv4: a one-off container has no IPv6).
        for (const std::string& f : {"ip dst " + web4 + " and tcp dst port 80", "ip dst " + web4 + " and udp dst port 9999",
                                     "ip dst " + web4 + " and icmp", "ip dst " + dns4 + " and udp dst port 53",
                                     "ip dst " + resolver(type) + " and udp dst port 53"}) {
            EXPECT_GT(link.count("src net " + run_net + " and " + f), 0) << "nothing matched '" << f << "' from the run container";
        }
        auto asked = e.v.dns_clients();
        EXPECT_EQ(std::count(asked.begin(), asked.end(), uplink4), 0) << "the wan's resolver heard the host";
    }
    // Positive control for the capture: a NAT'ed run is seen there.
    capture out(l, e.w.uplink());
    auto nat = l.moat("run --rm --egress nat -- " + curl("http://" + web4 + "/"), std::chrono::seconds(30));
    out.stop();
    EXPECT_EQ(nat.out, uplink4 + "\n") << nat.err;
    EXPECT_GT(out.count("host " + web4), 0);
}

TEST_P(VpnRun, DownOfTheFileKeepsATunnelARunUsesAndCuttingItFailsClosed) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    auto file = l.write("moat.toml", confined_config(e, type));
    up_ok(l, file);
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(20))) << kernel_evidence(l);
    auto running = std::async(std::launch::async, [&] {
        return l.moat("run --rm --name r2 --egress vpn:vpn0 " + dns_flag(type) + "-- sleep 60",
                      std::chrono::seconds(90));
    });
    // Ends the command (the init then ends the run), even when an assertion
    // fails before it started.
    scope_exit stop_run{[&] {
        eventually([&] { return l.moat("exec r2 -- pkill -x sleep").code == 0; }, std::chrono::seconds(20));
    }};
    ASSERT_TRUE(eventually(
        [&] {
            auto c = container_status(l, "r2");
            return c.is_object() && c.value("state", "") == "running";
        },
        std::chrono::seconds(20)))
        << status(l).dump(2);
    ASSERT_TRUE(through_tunnel(l, "r2", std::chrono::seconds(10))) << kernel_evidence(l);

    auto down = l.moat("down -f " + file);
    EXPECT_EQ(down.code, 0) << down.err;
    EXPECT_NE(down.err.find("kept _tunnels"), npos) << down.err;
    EXPECT_NE(down.err.find("r2"), npos) << down.err;
    EXPECT_TRUE(container_status(l, "c").is_null()) << "the file's own container goes";
    EXPECT_TRUE(through_tunnel(l, "r2", std::chrono::seconds(10))) << "the run keeps its tunnel\n" << kernel_evidence(l);

    // Cut off by name: no egress at all, and nothing on the uplink.
    auto cut = l.moat("down _tunnels");
    EXPECT_EQ(cut.code, 0) << cut.err;
    EXPECT_FALSE(device_exists(l));
    const std::string r2 = address_of(l, "r2");
    ASSERT_NE(r2, "");
    EXPECT_NE(l.in("ip rule").out.find("from " + r2 + " lookup " + table), npos) << "the rule stays\n" << kernel_evidence(l);
    {
        capture out(l, e.w.uplink());
        EXPECT_EQ(http_get(l, "r2", "http://" + web4 + "/", 2), "");
        EXPECT_EQ(tcp_line(l, "r2", dns4, 53, 2), "");
        out.stop();
        EXPECT_EQ(out.count(leak_filter(type, {run_net})), 0) << out.packets("") << kernel_evidence(l);
    }
    stop_run.f();
    auto ended = running.get();
    EXPECT_EQ(run_links(l), "") << ended.err;
    auto rest = l.moat("down");
    EXPECT_EQ(rest.code, 0) << rest.err;
}

// A wg-quick file whose DNS line names a search domain (`DNS = <resolver>,
// probe.lab`, as PiVPN writes one) was exit 2. Now a container confined to
// the tunnel, and a `run` confined to it, resolve a short name through the
// tunnel's resolver by that domain. Control: a confined container with a
// `dns` of its own (the same resolver) has no search line, and the short
// name does not resolve there while the full one does.
TEST(VpnRunSearch, WireguardSearchDomainsReachConfinedContainersAndRuns) {
    env e;
    auto& l = e.l;
    auto conf = e.v.wireguard_client_config();
    ASSERT_EQ(sh("sed -i 's/^DNS = .*/&, " + probe_name + "/' " + conf).code, 0);
    up_ok(l, l.write("moat.toml", "[tunnels.vpn0]\ntype = \"wireguard\"\nconfig = \"" + conf + "\"\n"
                                  "\n[networks.conf]\nsubnet = \"10.172.51.0/24\"\negress = \"vpn:vpn0\"\n\n"
                                  "[containers.c]\nprivateNetwork = true\nhostBridge = \"conf\"\n"
                                  "[containers.own]\nprivateNetwork = true\nhostBridge = \"conf\"\ndns = [\"" +
                                  wg_server4 + "\"]\n"));
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(20))) << kernel_evidence(l);
    EXPECT_EQ(l.moat("exec c -- cat /etc/resolv.conf").out,
              "# written by moat\nnameserver " + wg_server4 + "\nsearch " + probe_name + "\n");
    e.v.clear_dns_log();
    EXPECT_EQ(l.moat("exec c -- timeout 5 getent ahostsv4 short1").out.substr(0, web4.size()), web4);
    auto run = l.moat("run --rm --egress vpn:vpn0 -- sh -c " +
                          shq("grep ^search /etc/resolv.conf; getent ahostsv4 short2 >/dev/null && echo resolved"),
                      std::chrono::seconds(30));
    EXPECT_EQ(run.out, "search " + probe_name + "\nresolved\n") << run.err;
    auto asked = e.v.dns_clients();
    EXPECT_FALSE(asked.empty());
    for (const auto& a : asked) EXPECT_EQ(a, vpn4);  // through the tunnel only

    EXPECT_EQ(l.moat("exec own -- grep -c ^search /etc/resolv.conf").out, "0\n");
    EXPECT_NE(l.moat("exec own -- timeout 5 getent ahostsv4 short3").code, 0);
    EXPECT_EQ(l.moat("exec own -- timeout 5 getent ahostsv4 short3." + probe_name).out.substr(0, web4.size()), web4);
}

INSTANTIATE_TEST_SUITE_P(Tunnel, VpnRun, testing::Values("wireguard", "openvpn"), type_name);
