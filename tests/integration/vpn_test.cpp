// VPN egress (issue 5) through the real moat binary, for both tunnel types,
// judged by what the lab's web server, resolvers and the kernel of the lab's
// host see (vpn_lab.hpp draws the lab). The leak tests (kill switch, each
// layer alone) are in vpn_leak_test.cpp.
#include "vpn_moat.hpp"

#include <sys/stat.h>

#include <regex>

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

class Vpn : public testing::TestWithParam<std::string> {};

// The line of `ip rule` (or -6) that reads "<prio>:\t<selector> lookup <table>".
bool has_rule(lab& l, const std::string& family, const std::string& prio, const std::string& selector,
              const std::string& tbl) {
    auto rules = l.in("ip " + family + " rule").out;
    return rules.find(prio + ":\t" + selector + " lookup " + tbl) != npos;
}

int line_of(const std::string& text, const std::string& needle) {
    auto at = text.find(needle);
    if (at == npos) return -1;
    return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
}

}  // namespace

TEST_P(Vpn, ConfinedContainersLeaveThroughTheTunnelOthersDirect) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    auto file = l.write("moat.toml", tunnel_toml(e, type) + R"(
[networks.conf]
subnet = "10.172.21.0/24"
subnet6 = "fd00:172:21::/64"
egress = "vpn:vpn0"

[networks.open]
subnet = "10.172.22.0/24"
egress = "nat"

[containers.c]
privateNetwork = true
hostBridge = "conf"
)" + dns_line(type) + R"(
[containers.p]
privateNetwork = true
hostAddress = "10.171.50.1"
localAddress = "10.171.50.2"
egress = "vpn:vpn0"
)" + dns_line(type) + R"(
[containers.n]
privateNetwork = true
hostBridge = "open"
)");
    up_ok(l, file);
    // Two confined containers (by network and by container) share the tunnel.
    for (const char* c : {"c", "p"}) {
        EXPECT_TRUE(through_tunnel(l, c, std::chrono::seconds(20)))
            << c << " sees " << http_get(l, c, "http://" + web4 + "/") << kernel_evidence(l);
    }
    std::string seen;
    eventually([&] { return (seen = http_get(l, "n", "http://" + web4 + "/")) == uplink4 + "\n"; });
    EXPECT_EQ(seen, uplink4 + "\n") << "the NAT container";
    EXPECT_EQ(ns_http_get(l, "", "http://" + web4 + "/"), uplink4 + "\n") << "the host itself";
    EXPECT_EQ(ns_http_get(l, "", "http://[" + web6 + "]/"), uplink6 + "\n") << "the host itself, IPv6";

    // status --json
    auto t = tunnel_status(l);
    ASSERT_TRUE(t.is_object()) << status(l).dump(2);
    EXPECT_EQ(t.value("type", ""), type);
    EXPECT_EQ(t.value("device", ""), device);
    EXPECT_EQ(t.value("table", 0u), tunnel_table("vpn0"));
    EXPECT_EQ(t.value("device_up", false), true) << t.dump();
    EXPECT_EQ(t.value("state", ""), "running") << t.dump();
    EXPECT_EQ(container_status(l, "c").value("egress", ""), "vpn") << status(l).dump(2);
    EXPECT_EQ(container_status(l, "n").value("egress", ""), "nat");
    // Issue 15: which tunnel, in the JSON and wherever a confined container's egress is shown.
    EXPECT_EQ(container_status(l, "c").value("tunnel", ""), "vpn0") << status(l).dump(2);
    EXPECT_TRUE(container_status(l, "n")["tunnel"].is_null()) << status(l).dump(2);
    auto text = l.moat("status").out;
    EXPECT_NE(text.find(" vpn:vpn0 "), npos) << text;
    auto again = l.moat("up -f " + file);
    EXPECT_NE(again.out.find("egress vpn:vpn0"), npos) << again.out << again.err;
    auto planned = l.moat("plan -f " + file).out;
    EXPECT_NE(planned.find("  egress: vpn:vpn0\n"), npos) << planned;
    // The rule of each family reads the same; the label tells them apart.
    EXPECT_NE(planned.find("\nrule IPv4: "), npos) << planned;
    EXPECT_NE(planned.find("\nrule IPv6: "), npos) << planned;
    for (const auto& c : status(l)["containers"]) {
        EXPECT_NE(c.value("name", ""), "_tunnels") << "internal containers are not listed";
    }

    // The routing layer, as ARCHITECTURE.md describes it.
    const std::string c4 = address_of(l, "c"), c6 = address_of(l, "c", "local6"), p4 = address_of(l, "p");
    ASSERT_FALSE(c4.empty() || c6.empty() || p4.empty()) << status(l).dump(2);
    EXPECT_TRUE(has_rule(l, "-4", "10000", "from " + c4, table)) << kernel_evidence(l);
    EXPECT_TRUE(has_rule(l, "-4", "10000", "from " + p4, table)) << kernel_evidence(l);
    EXPECT_TRUE(has_rule(l, "-6", "10000", "from " + c6, table)) << kernel_evidence(l);
    EXPECT_TRUE(has_rule(l, "-4", "9999", "from all fwmark 0x6d6f6174", "main")) << kernel_evidence(l);
    auto routes = l.in("ip route show table " + table).out;
    EXPECT_NE(routes.find("default dev " + device), npos) << routes;
    EXPECT_NE(routes.find("unreachable default"), npos) << routes;
    EXPECT_NE(l.in("ip -6 route show table " + table).out.find("unreachable default"), npos)
        << l.in("ip -6 route show table " + table).out;
    EXPECT_EQ(l.in("nft list table inet moat >/dev/null").code, 0);

    // DNS: the container asks the tunnel's resolver, which the wan sees as
    // the vpn server, never the host.
    auto resolv = l.moat("exec c -- cat /etc/resolv.conf").out;
    EXPECT_NE(resolv.find("nameserver " + resolver(type)), npos) << resolv;
    e.v.clear_dns_log();
    auto answer = l.moat("exec c -- timeout 5 getent ahostsv4 " + probe_name);
    EXPECT_NE(answer.out.find(web4), npos) << answer.out << answer.err;
    std::vector<std::string> asked;
    EXPECT_TRUE(eventually([&] { return !(asked = e.v.dns_clients()).empty(); }, std::chrono::seconds(3)));
    for (const auto& a : asked) EXPECT_EQ(a, vpn4);
    // The tunnel carries no IPv6: the container's IPv6 goes nowhere.
    EXPECT_EQ(http_get(l, "c", "http://[" + web6 + "]/", 2), "");
}

TEST_P(Vpn, ForwardedPortOfAConfinedContainerAnswersWanAndHost) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    auto file = l.write("moat.toml", tunnel_toml(e, type) + R"(
[networks.conf]
subnet = "10.172.23.0/24"
egress = "vpn:vpn0"

[containers.c]
privateNetwork = true
hostBridge = "conf"
# On the uplink (a confined container's forward defaults to its tunnel).
forwardPorts = [{ protocol = "tcp", hostPort = 8080, containerPort = 12345, side = "uplink" }]
firewall.allowedHostTCPPorts = [7100]
)" + dns_line(type) + R"(
[containers.c.services.hi]
script = 'while true; do echo hi | nc -l -p 12345; done'
restart = "always"
)");
    up_ok(l, file);
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(20))) << kernel_evidence(l);
    ASSERT_EQ(l.in("setsid sh -c 'while true; do echo host | nc -l -p 7100; done' </dev/null >/dev/null 2>&1 &").code,
              0);
    std::string line;
    {
        capture tunnel(l, device);
        // From the wan side: the reply must leave by the uplink, not the tunnel.
        eventually([&] { return (line = l.read_line(uplink4, 8080, e.w.ns(), 2)) == "hi\n"; });
        EXPECT_EQ(line, "hi\n") << "from the wan to " << uplink4 << ":8080\n" << kernel_evidence(l);
        eventually([&] { return (line = l.read_line("127.0.0.1", 8080, "", 2)) == "hi\n"; });
        EXPECT_EQ(line, "hi\n") << "from the host to 127.0.0.1:8080\n" << kernel_evidence(l);
        // The container still talks to the host on its bridge address (on
        // the port its configuration opens): the host's replies do not
        // follow the container into the tunnel.
        eventually([&] { return (line = tcp_line(l, "c", "10.172.23.1", 7100, 2)) == "host\n"; });
        EXPECT_EQ(line, "host\n") << "from the container to the host's 10.172.23.1:7100";
        EXPECT_EQ(tunnel.count("tcp port 8080 or tcp port 12345"), 0) << tunnel.packets("");
    }
    // And the container's own traffic still goes through the tunnel.
    EXPECT_TRUE(through_tunnel(l, "c", std::chrono::seconds(5)));
}

TEST_P(Vpn, DownLeavesNothing) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    // The host's kernel state before moat.
    auto kernel = [&] {
        return l.in("ip -o link show | awk '{print $2}'; ip rule; ip -6 rule; ip route show table all;"
                    " ip -6 route show table all; nft list ruleset")
            .out;
    };
    const std::string before = kernel();
    auto file = l.write("moat.toml", tunnel_toml(e, type) + R"(
[networks.conf]
subnet = "10.172.24.0/24"
subnet6 = "fd00:172:24::/64"
egress = "vpn:vpn0"

[containers.c]
privateNetwork = true
hostBridge = "conf"
)" + dns_line(type));
    up_ok(l, file);
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(20))) << kernel_evidence(l);
    const std::string c4 = address_of(l, "c");
    auto daemons = daemon_pids(l, type);
    ASSERT_EQ(daemons.size(), 1u) << "daemons of moat in the lab's host: " << daemons.size();
    // wireguard-go's socket lives in _tunnels' own mounts, never the machine's /var/run/wireguard.
    EXPECT_NE(sh("test -e /var/run/wireguard/" + device + ".sock").code, 0);
    if (type == "wireguard") {
        EXPECT_EQ(sh("nsenter -t " + std::to_string(daemons[0]) + " -m test -S /var/run/wireguard/" + device + ".sock")
                      .code,
                  0);
    }
    // moat made conntrack state for the container's flow (masquerade on the tunnel).
    EXPECT_NE(l.in("conntrack -L -s " + c4 + " 2>/dev/null").out, "");
    auto all_pids = sh("ip netns pids " + l.host_ns()).out;
    EXPECT_NE(all_pids, "");

    auto r = l.moat("down");
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_FALSE(device_exists(l));
    EXPECT_EQ(l.in("ip route show table " + table + "; ip -6 route show table " + table).out, "");
    EXPECT_NE(l.in("nft list table inet moat").code, 0);
    EXPECT_EQ(kernel(), before) << "kernel state after down differs from before up";
    for (int p : daemons) EXPECT_FALSE(alive(p, daemon_comm(type))) << p;
    EXPECT_EQ(sh("ip netns pids " + l.host_ns()).out, "") << "processes left in the lab's host; had:\n" << all_pids;
    EXPECT_EQ(l.in("pgrep --ns $$ --nslist net -a '^(wireguard-go|openvpn|moat)$'").out, "");
    EXPECT_NE(sh("test -e /var/run/wireguard/" + device + ".sock").code, 0);
    EXPECT_EQ(l.in("conntrack -L -s " + c4 + " 2>/dev/null").out, "") << "conntrack state of the container's flows";
    struct stat st;
    EXPECT_NE(::stat(l.state_dir().c_str(), &st), 0) << "state dir " << l.state_dir() << " still there";
}

// `moat logs` tells why and when the tunnel daemon last died (issue 13):
// the runner's line, stamped by the init, names the signal, and the
// runner's own end follows. The daemon is killed with SIGKILL, as the
// kernel's OOM killer would.
TEST_P(Vpn, LogsTellWhyTheDaemonLastDied) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    up_ok(l, l.write("moat.toml", tunnel_toml(e, type) + R"(
[networks.conf]
subnet = "10.172.25.0/24"
egress = "vpn:vpn0"

[containers.c]
privateNetwork = true
hostBridge = "conf"
)" + dns_line(type)));
    std::vector<int> pids;
    ASSERT_TRUE(eventually([&] { return tunnel_routed(l) && (pids = daemon_pids(l, type)).size() == 1; },
                           std::chrono::seconds(30)))
        << kernel_evidence(l);
    ASSERT_TRUE(stop_process(pids[0], daemon_comm(type), SIGKILL)) << pids[0];
    const std::regex died("\\n20[0-9-]{8}T[0-9:]{8}\\.[0-9]{3}Z moat: tunnel vpn0: " + daemon_comm(type) +
                          " was killed by signal 9 \\(SIGKILL\\)\\n");
    const std::regex ended("\\n-- tunnel-vpn0 exited with status 137 at 20[0-9T:.-]+Z, ");
    std::string logs;
    EXPECT_TRUE(eventually([&] {
        logs = l.moat("logs _tunnels tunnel-vpn0").out;
        return std::regex_search(logs, died) && std::regex_search(logs, ended);
    })) << logs;
    // The tunnel comes back: the line is the last death, not the current state.
    EXPECT_TRUE(through_tunnel(l, "c", std::chrono::seconds(25))) << kernel_evidence(l);
    EXPECT_EQ(l.moat("down").code, 0);
}

INSTANTIATE_TEST_SUITE_P(Tunnel, Vpn, testing::Values("wireguard", "openvpn"), type_name);

// Refused with exit 2 and "<file>:<line>:", before anything is touched.
TEST(VpnConfig, BadConfigsAreRefusedBeforeAnythingIsTouched) {
    lab l;
    wan w(l);
    vpn_lab v(l, w);
    const std::string wg = v.wireguard_client_config();
    std::string no_key = slurp(wg);
    const auto key_at = no_key.find("PrivateKey");
    no_key.erase(key_at, no_key.find('\n', key_at) + 1 - key_at);
    const std::string wg_no_key = l.write("nokey.conf", no_key);
    ASSERT_EQ(slurp(wg_no_key).find("PrivateKey"), npos);
    const std::string ovpn = v.openvpn_client_config();
    const std::string a_dir = l.dir() + "/a-dir.conf";
    ASSERT_EQ(sh("mkdir -p " + a_dir).code, 0);

    auto config = [](const std::string& type, const std::string& path, const std::string& extra_tunnel,
                     const std::string& egress, const std::string& dns) {
        return "[tunnels.vpn0]\ntype = \"" + type + "\"\nconfig = \"" + path + "\"\n" + extra_tunnel +
               "\n[networks.open]\nsubnet = \"10.172.25.0/24\"\negress = \"nat\"\n"
               "\n[containers.n]\nprivateNetwork = true\nhostBridge = \"open\"\n"
               "\n[containers.c]\nprivateNetwork = true\n"
               "hostAddress = \"10.171.51.1\"\nlocalAddress = \"10.171.51.2\"\n"
               "egress = \"" + egress + "\"\n" + dns;
    };
    const std::string dns = "dns = [\"" + ovpn_server4 + "\"]\n";
    struct bad {
        std::string what, text, at, says;
    };
    const std::vector<bad> cases = {
        {"egress to an undeclared tunnel", config("wireguard", wg, "", "vpn:nope", ""), "egress = \"vpn:nope\"",
         "nope"},
        {"killSwitch = false", config("wireguard", wg, "killSwitch = false\n", "vpn:vpn0", ""), "killSwitch",
         "killSwitch"},
        {"a config file that does not exist", config("wireguard", l.dir() + "/missing.conf", "", "vpn:vpn0", ""),
         "config = ", "missing.conf"},
        {"a config file that cannot be read (a directory)", config("openvpn", a_dir, "", "vpn:vpn0", dns),
         "config = ", "a-dir.conf"},
        {"a wg file without PrivateKey", config("wireguard", wg_no_key, "", "vpn:vpn0", ""), "config = ",
         "PrivateKey"},
        {"openvpn without dns", config("openvpn", ovpn, "", "vpn:vpn0", ""), "[containers.c]", "dns"},
    };
    auto kernel = [&] {
        return l.in("ip -o link show | awk '{print $2}'; ip -o addr show; ip rule; ip -6 rule;"
                    " ip route show table all; ip -6 route show table all; nft list ruleset")
            .out;
    };
    const std::string before = kernel();
    for (const auto& c : cases) {
        auto file = l.write("bad.toml", c.text);
        auto r = l.moat("up -f " + file);
        EXPECT_EQ(r.code, 2) << c.what << "\n" << r.out << r.err;
        const std::string at = "bad.toml:" + std::to_string(line_of(c.text, c.at)) + ":";
        EXPECT_NE(r.err.find(at), npos) << c.what << ": expected '" << at << "' in:\n" << r.err;
        EXPECT_NE(r.err.find(c.says), npos) << c.what << ": expected '" << c.says << "' in:\n" << r.err;
        EXPECT_EQ(kernel(), before) << c.what;
        EXPECT_EQ(sh("ip netns pids " + l.host_ns()).out, "") << c.what << ": processes started";
        auto st = status(l);
        EXPECT_TRUE(!st.contains("containers") || st["containers"].empty()) << c.what << "\n" << st.dump(2);
    }
}
