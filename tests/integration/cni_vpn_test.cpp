// CNI pods confined to a VPN tunnel ("egress": "vpn:<tunnel>" with
// "moatConfig"), driven as libcni drives a plugin, in the VPN lab
// (vpn_lab.hpp: real wireguard-go and openvpn servers behind the lab's wan).
// Judged by what the web server sees (the VPN server's address, never the
// uplink's), by a capture on the lab host's uplink while the tunnel is dead
// (0 packets of the pod's, from the moment its ADD returned), by CHECK, and
// by what is left after the last pod's DEL (nothing: the tunnel stops too).
// Controls: a NAT pod on the same node is seen by the same capture and
// exits by the uplink.
#include "check_util.hpp"
#include "cni_driver.hpp"
#include "residue.hpp"
#include "vpn_moat.hpp"

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

using nlohmann::json;

using invocation = cni_invocation;

class CniVpn : public testing::TestWithParam<std::string> {};

struct cni_env {
    env e;
    std::string moat_config;

    explicit cni_env(const std::string& type) : moat_config(e.l.write("tunnels.toml", tunnel_toml(e, type))) {}

    // A network configuration; `egress` as the key takes it.
    std::string conf(const std::string& network, const std::string& subnet, const std::string& egress,
                     const std::string& type = "wireguard") const {
        std::string c = R"({"cniVersion":"1.0.0","name":")" + network + R"(","type":"moat","subnet":")" + subnet +
                        R"(","egress":")" + egress + R"(","stateDir":")" + e.l.state_dir() + "\"";
        if (egress.rfind("vpn:", 0) == 0) {
            c += R"(,"moatConfig":")" + moat_config + "\"";
            if (type == "openvpn") {  // OpenVPN's pushed DNS is filtered: the pod names its resolver
                c += R"(,"dns":{"nameservers":[")" + ovpn_server4 + "\"]}";
            }
        }
        return c + "}";
    }

    invocation run(const std::string& command, const std::string& config, const std::string& id = "",
                   const std::string& netns = "", const std::string& ifname = "eth0") {
        return cni_exec(e.l, command, config, id, netns, ifname);
    }
};

const std::string pod_net = "10.91.0.0/24";

std::string pod_web(lab& l, const std::string& ns, int seconds = 3) {
    return l.in("curl -s -m " + std::to_string(seconds) + " http://" + web4 + "/ || true", ns).out;
}

bool pod_through_tunnel(lab& l, const std::string& ns, std::chrono::seconds limit) {
    return eventually([&] { return pod_web(l, ns, 2) == vpn4 + "\n"; }, limit);
}

// `_tunnels`' init and cgroup, for the residue check once it is gone
// (status lists its tunnels, not the container: read its record).
made tunnels_host(lab& l) {
    made m;
    auto text = sh("cat " + l.state_dir() + "/containers/_tunnels/record.json 2>/dev/null").out;
    auto rec = json::parse(text, nullptr, false);
    if (rec.is_object()) {
        m.pids.push_back(rec.value("init_pid", 0));
        m.cgroups.push_back(rec.value("cgroup", ""));
    }
    return m;
}

}  // namespace

TEST_P(CniVpn, PodsExitThroughTheTunnelWhichStopsWithTheLastPod) {
    const std::string type = GetParam();
    cni_env c(type);
    auto& l = c.e.l;
    auto conf = c.conf("vpods", pod_net, "vpn:vpn0", type);
    auto a_ns = l.add_ns("pa"), b_ns = l.add_ns("pb");
    if (type == "wireguard") {  // a search domain in the file's DNS, for the result
        ASSERT_EQ(sh("sed -i 's/^DNS = .*/&, " + probe_name + "/' " + c.e.v.wireguard_client_config()).code, 0);
    }

    auto a = c.run("ADD", conf, "podA", a_ns);
    ASSERT_EQ(a.code, 0) << a.raw << kernel_evidence(l);
    EXPECT_EQ(a.out["dns"]["nameservers"], json({resolver(type)})) << a.raw;  // the tunnel's resolver
    EXPECT_EQ(a.out["dns"].value("search", json::array()), type == "wireguard" ? json({probe_name}) : json::array())
        << a.raw;
    ASSERT_TRUE(pod_through_tunnel(l, a_ns, std::chrono::seconds(30))) << kernel_evidence(l);
    auto tunnels = tunnels_host(l);
    ASSERT_EQ(tunnels.pids.size(), 1u) << "the ADD started `_tunnels`";
    auto daemons = daemon_pids(l, type);
    ASSERT_EQ(daemons.size(), 1u) << kernel_evidence(l);

    // A second pod uses the same tunnel: it is neither restarted nor doubled.
    auto b = c.run("ADD", conf, "podB", b_ns);
    ASSERT_EQ(b.code, 0) << b.raw;
    EXPECT_TRUE(pod_through_tunnel(l, b_ns, std::chrono::seconds(10))) << kernel_evidence(l);
    EXPECT_EQ(daemon_pids(l, type), daemons);
    EXPECT_EQ(c.run("CHECK", conf, "podB", b_ns).code, 0);

    // moat's own commands see the pods with their tunnel.
    auto st = status_json(l);
    int confined = 0;
    for (const auto& ct : st.value("containers", json::array())) {
        confined += ct.value("egress", "") == "vpn" && ct.value("tunnel", "") == "vpn0";
    }
    EXPECT_EQ(confined, 2) << st.dump();

    // DEL of one pod keeps the tunnel for the other; the last DEL stops it.
    ASSERT_EQ(c.run("DEL", conf, "podA", a_ns).code, 0);
    EXPECT_EQ(daemon_pids(l, type), daemons);
    EXPECT_TRUE(pod_through_tunnel(l, b_ns, std::chrono::seconds(10)));
    ASSERT_EQ(c.run("DEL", conf, "podB", b_ns).code, 0);
    EXPECT_FALSE(device_exists(l));
    EXPECT_EQ(l.in("ip route show table " + table + " 2>/dev/null || true").out, "");
    EXPECT_EQ(residue(l, tunnels, c.e.w.uplink()), "");
}

TEST_P(CniVpn, KillSwitchHoldsFromTheMomentAddReturns) {
    const std::string type = GetParam();
    cni_env c(type);
    auto& l = c.e.l;
    // The server is dead before the pod exists: its tunnel never comes up.
    type == "wireguard" ? c.e.v.kill_wireguard(SIGKILL) : c.e.v.kill_openvpn(SIGKILL);
    auto ns = l.add_ns("p");
    auto conf = c.conf("vpods", pod_net, "vpn:vpn0", type);
    const std::string leak = leak_filter(type, {pod_net});
    capture out(l, c.e.w.uplink()), any(l, "any");
    auto a = c.run("ADD", conf, "pod", ns);
    ASSERT_EQ(a.code, 0) << a.raw << kernel_evidence(l);
    // No pause: the pod's first packets follow the ADD at once.
    auto gen = l.in("timeout 15 /usr/bin/python3 -c " + shq(leak_generator) + " " + web4 + " " + web6 + " " + dns4 +
                        " " + resolver(type) + " 3 k",
                    ns);
    auto curl = l.in("curl -s -m 3 http://" + web4 + "/; echo curl=$?", ns);
    out.stop();
    any.stop();
    EXPECT_NE(gen.out.find("moat-leak-probe sent"), npos) << gen.out << gen.err;
    EXPECT_EQ(curl.out.find("curl=0"), npos) << curl.out;
    EXPECT_EQ(out.count(leak), 0) << out.packets(leak) << kernel_evidence(l);
    // The attempts were made, from the pod's address.
    for (const std::string& f : {"ip dst " + web4 + " and tcp dst port 80", "ip dst " + web4 + " and icmp",
                                 "ip dst " + dns4 + " and udp dst port 53"}) {
        EXPECT_GT(any.count("src net " + pod_net + " and " + f), 0) << "nothing matched '" << f << "' from the pod";
    }
    // CHECK says the tunnel is not up: try again later (11), not broken.
    auto check = c.run("CHECK", conf, "pod", ns);
    EXPECT_EQ(check.code, 1);
    EXPECT_EQ(check.out.value("code", 0), 11) << check.raw;
    EXPECT_NE(check.raw.find("tunnel"), npos) << check.raw;

    // Positive control: a NAT pod on the same node is seen by the same kind of capture.
    auto nat_ns = l.add_ns("n");
    capture control(l, c.e.w.uplink());
    ASSERT_EQ(c.run("ADD", c.conf("npods", "10.92.0.0/24", "nat"), "natpod", nat_ns).code, 0);
    EXPECT_EQ(pod_web(l, nat_ns), uplink4 + "\n");
    control.stop();
    EXPECT_GT(control.count("host " + web4), 0);
    EXPECT_EQ(c.run("DEL", c.conf("npods", "10.92.0.0/24", "nat"), "natpod", nat_ns).code, 0);

    // The server comes back: the same pod exits through the tunnel, CHECK passes.
    type == "wireguard" ? c.e.v.start_wireguard() : c.e.v.start_openvpn();
    EXPECT_TRUE(pod_through_tunnel(l, ns, std::chrono::seconds(60))) << kernel_evidence(l);
    EXPECT_TRUE(eventually([&] { return c.run("CHECK", conf, "pod", ns).code == 0; }, std::chrono::seconds(20)))
        << c.run("CHECK", conf, "pod", ns).raw;
    auto tunnels = tunnels_host(l);
    EXPECT_EQ(c.run("DEL", conf, "pod", ns).code, 0);
    EXPECT_EQ(residue(l, tunnels, c.e.w.uplink()), "");
}

// `moat check` on the node covers a confined pod with moatConfig's [check]
// probe: healthy, it exits through the VPN server with 0 leaked packets;
// with the server dead it fails, and still nothing leaks.
TEST(CniVpnCheck, MoatCheckOnTheNodeProbesThePodThroughItsTunnel) {
    cni_env c("wireguard");
    auto& l = c.e.l;
    l.write("tunnels.toml", "[check]\nprobe = \"http://" + probe_name + "/\"\n\n" + tunnel_toml(c.e, "wireguard"));
    auto ns = l.add_ns("p");
    auto conf = c.conf("vpods", pod_net, "vpn:vpn0");
    ASSERT_EQ(c.run("ADD", conf, "pod", ns).code, 0) << kernel_evidence(l);
    ASSERT_TRUE(pod_through_tunnel(l, ns, std::chrono::seconds(30))) << kernel_evidence(l);
    nlohmann::json j;
    std::string pod;
    ASSERT_TRUE(eventually([&] { return (j = check_json(l))["exit"] == 0; }, std::chrono::seconds(30)))
        << failures(j) << j.dump(2);
    auto st = status_json(l);
    for (const auto& ct : st["containers"]) pod = ct["name"].get<std::string>();
    EXPECT_NE(evidence(j, pod, "egress").find("seen as " + vpn4), npos) << j.dump(2);
    EXPECT_NE(evidence(j, pod, "leak").find(c.e.w.uplink() + ": 0"), npos) << j.dump(2);

    c.e.v.kill_wireguard(SIGKILL);
    ASSERT_TRUE(eventually([&] { return (j = check_json(l))["exit"] != 0; }, std::chrono::seconds(200)))
        << j.dump(2);
    // The path is dead before the handshake is stale: DNS through the tunnel fails first.
    EXPECT_NE(failures(j).find(pod + "/dns"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, pod, "leak").find(c.e.w.uplink() + ": 0"), npos) << j.dump(2);
    auto tunnels = tunnels_host(l);
    EXPECT_EQ(c.run("DEL", conf, "pod", ns).code, 0);
    EXPECT_EQ(residue(l, tunnels, c.e.w.uplink()), "");
}

// keepWhenIdle on a confined network keeps its tunnel after the last pod:
// the next pod exits through the same daemon at once; `moat down` removes it.
TEST(CniVpnKeep, KeepWhenIdleKeepsTheTunnelForTheNextPod) {
    cni_env c("wireguard");
    auto& l = c.e.l;
    auto ns = l.add_ns("p");
    auto conf = c.conf("vpods", pod_net, "vpn:vpn0");
    conf.insert(conf.size() - 1, R"(,"keepWhenIdle":true)");
    ASSERT_EQ(c.run("ADD", conf, "pod", ns).code, 0) << kernel_evidence(l);
    ASSERT_TRUE(pod_through_tunnel(l, ns, std::chrono::seconds(30))) << kernel_evidence(l);
    auto daemons = daemon_pids(l, "wireguard");
    auto tunnels = tunnels_host(l);
    ASSERT_EQ(c.run("DEL", conf, "pod", ns).code, 0);
    EXPECT_TRUE(device_exists(l)) << "the tunnel stays for the next pod";
    EXPECT_EQ(daemon_pids(l, "wireguard"), daemons);
    ASSERT_EQ(c.run("ADD", conf, "pod2", ns).code, 0);
    EXPECT_TRUE(pod_through_tunnel(l, ns, std::chrono::seconds(5))) << kernel_evidence(l);
    EXPECT_EQ(daemon_pids(l, "wireguard"), daemons);
    ASSERT_EQ(c.run("DEL", conf, "pod2", ns).code, 0);
    EXPECT_EQ(l.moat("down").code, 0);
    EXPECT_FALSE(device_exists(l));
    EXPECT_EQ(residue(l, tunnels, c.e.w.uplink()), "");
}

// An ADD that fails after it started the tunnel (a failpoint throws before
// the firewall commit) releases its host-local lease as well: the request's
// CNI_* variables hidden from what the tunnel's start forks are back for
// the IPAM plugin's DEL. Control: the same ADD without the failure leases.
TEST(CniVpnIpam, FailedAddAfterTheTunnelStartedReleasesTheLease) {
    cni_env c("wireguard");
    auto& l = c.e.l;
    auto ns = l.add_ns("p");
    const std::string leases = l.dir() + "/leases";
    auto conf = c.conf("vpods", pod_net, "vpn:vpn0");
    const std::string subnet_key = "\"subnet\":\"" + pod_net + "\",";
    conf.replace(conf.find(subnet_key), subnet_key.size(),
                 "\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"" + leases +
                     "\",\"ranges\":[[{\"subnet\":\"" + pod_net + "\"}]]},");
    auto failed = cni_exec(l, "ADD", conf, "pod", ns, "eth0", "", "/usr/lib/cni", "MOAT_FAILPOINT=throw:cni-before-firewall");
    EXPECT_EQ(failed.code, 1) << failed.raw;
    EXPECT_NE(failed.raw.find("failpoint cni-before-firewall"), npos) << failed.raw;
    EXPECT_EQ(sh("ls " + leases + "/vpods 2>/dev/null | grep -c '^10\\.' || true").out, "0\n") << "the lease was kept";
    EXPECT_FALSE(device_exists(l)) << "the tunnel went with the failed ADD";
    EXPECT_EQ(residue(l, {}, c.e.w.uplink()), "");
    auto ok = c.run("ADD", conf, "pod", ns);
    ASSERT_EQ(ok.code, 0) << ok.raw;
    EXPECT_EQ(sh("ls " + leases + "/vpods | grep -c '^10\\.'").out, "1\n");
    auto tunnels = tunnels_host(l);
    EXPECT_EQ(c.run("DEL", conf, "pod", ns).code, 0);
    EXPECT_EQ(sh("ls " + leases + "/vpods 2>/dev/null | grep -c '^10\\.' || true").out, "0\n");
    EXPECT_EQ(residue(l, tunnels, c.e.w.uplink()), "");
}

// The engine may run processes in the pod's namespace before ADD: between
// the link's creation and the firewall's commit (the plugin stopped right
// there by a failpoint) nothing of the pod's may pass. Control: once the
// plugin goes on, the same pod exits through the tunnel.
TEST_P(CniVpn, NothingPassesBeforeTheFirewallKnowsThePod) {
    const std::string type = GetParam();
    cni_env c(type);
    auto& l = c.e.l;
    auto ns = l.add_ns("p");
    auto conf = c.conf("vpods", pod_net, "vpn:vpn0", type);
    auto out_file = l.dir() + "/add.out";
    auto started = l.in("printf '%s' " + shq(conf) + " | env -i MOAT_FAILPOINT=stop:cni-before-firewall " +
                        "CNI_COMMAND=ADD CNI_PATH=/usr/lib/cni CNI_CONTAINERID=pod CNI_IFNAME=eth0 CNI_NETNS=/run/netns/" +
                        ns + " " + moat_binary() + " >" + out_file + " 2>" + out_file + ".err & echo $!");
    int pid = std::atoi(started.out.c_str());
    ASSERT_GT(pid, 0) << started.out << started.err;
    auto state = [&] { return sh("awk '{print $3}' /proc/" + std::to_string(pid) + "/stat 2>/dev/null").out; };
    ASSERT_TRUE(eventually([&] { return state() == "T\n"; }, std::chrono::seconds(30)))
        << "the plugin did not reach the failpoint: " << sh("cat " + out_file + ".err").out << kernel_evidence(l);
    ASSERT_EQ(l.in("ip -o link show eth0", ns).code, 0) << "the pod's link exists at this point";

    const std::string leak = leak_filter(type, {pod_net});
    capture out(l, c.e.w.uplink()), any(l, "any");
    auto gen = l.in("timeout 10 /usr/bin/python3 -c " + shq(leak_generator) + " " + web4 + " " + web6 + " " + dns4 +
                        " " + resolver(type) + " 2 f",
                    ns);
    out.stop();
    any.stop();
    EXPECT_NE(gen.out.find("moat-leak-probe sent"), npos) << gen.out << gen.err;
    EXPECT_EQ(out.count(leak), 0) << out.packets(leak) << kernel_evidence(l);
    EXPECT_EQ(any.count("src net " + pod_net), 0) << any.packets("src net " + pod_net);

    ::kill(pid, SIGCONT);
    ASSERT_TRUE(eventually([&] { return state().empty(); }, std::chrono::seconds(30)));
    auto added = json::parse(sh("cat " + out_file).out, nullptr, false);
    ASSERT_TRUE(added.is_object() && added.contains("ips")) << sh("cat " + out_file).out;
    EXPECT_TRUE(pod_through_tunnel(l, ns, std::chrono::seconds(30))) << kernel_evidence(l);
    auto tunnels = tunnels_host(l);
    EXPECT_EQ(c.run("DEL", conf, "pod", ns).code, 0);
    EXPECT_EQ(residue(l, tunnels, c.e.w.uplink()), "");
}

// runtimeConfig.portMappings of a confined pod: a forward through the
// tunnel only (the far end reaches it at the client's tunnel address),
// never on the uplink; control: a NAT pod's mapping answers on the uplink.
TEST_P(CniVpn, PortMappingOfAConfinedPodIsReachableOnlyThroughTheTunnel) {
    const std::string type = GetParam();
    cni_env c(type);
    auto& l = c.e.l;
    auto conf = [&](const std::string& net, const std::string& subnet, const std::string& egress, int port) {
        auto text = c.conf(net, subnet, egress, type);
        text.pop_back();
        return text + R"(,"runtimeConfig":{"portMappings":[{"hostPort":)" + std::to_string(port) +
               R"(,"containerPort":12345,"protocol":"tcp"}]}})";
    };
    auto ns = l.add_ns("p"), nat_ns = l.add_ns("n");
    ASSERT_EQ(c.run("ADD", conf("vpods", pod_net, "vpn:vpn0", 8080), "pod", ns).code, 0) << kernel_evidence(l);
    ASSERT_EQ(c.run("ADD", conf("npods", "10.92.0.0/24", "nat", 8081), "natpod", nat_ns).code, 0);
    for (const auto& [n, word] : {std::pair{ns, "svc"}, std::pair{nat_ns, "pub"}}) {
        l.in(std::string("timeout 60 sh -c 'while true; do echo ") + word +
                 " | nc -N -l -p 12345; done' >/dev/null 2>&1 &",
             n);
    }
    ASSERT_TRUE(pod_through_tunnel(l, ns, std::chrono::seconds(30))) << kernel_evidence(l);
    auto tun = l.in("ip -4 -o addr show dev " + device + " | awk '{ sub(\"/.*\", \"\", $4); print $4 }'").out;
    tun = tun.substr(0, tun.find('\n'));
    ASSERT_NE(tun, "") << kernel_evidence(l);
    std::string line;
    auto read = [&](const std::string& from, const std::string& addr, int port, const std::string& want) {
        eventually([&] { return (line = l.read_line(addr, port, from, 2)) == want; }, std::chrono::seconds(10));
        return line;
    };
    EXPECT_EQ(read(c.e.w.ns(), uplink4, 8081, "pub\n"), "pub\n") << kernel_evidence(l);  // control
    EXPECT_EQ(read(c.e.v.ns(), tun, 8080, "svc\n"), "svc\n") << "through the tunnel to " << tun << kernel_evidence(l);
    EXPECT_EQ(l.read_line(uplink4, 8080, c.e.w.ns(), 3), "") << "a confined pod's mapping answered on the uplink";
    EXPECT_EQ(c.run("DEL", conf("npods", "10.92.0.0/24", "nat", 8081), "natpod", nat_ns).code, 0);
    EXPECT_EQ(c.run("DEL", conf("vpods", pod_net, "vpn:vpn0", 8080), "pod", ns).code, 0);
    EXPECT_EQ(l.read_line(tun, 8080, c.e.v.ns(), 2), "");
}

INSTANTIATE_TEST_SUITE_P(Tunnel, CniVpn, testing::Values("wireguard", "openvpn"),
                         [](const auto& info) { return info.param; });

TEST(CniVpnConfig, BadMoatConfigIsRefusedBeforeAnythingIsMade) {
    cni_env c("wireguard");
    auto& l = c.e.l;
    auto ns = l.add_ns("p");
    auto unknown = c.run("ADD", c.conf("vpods", pod_net, "vpn:elsewhere"), "pod", ns);
    EXPECT_EQ(unknown.code, 1);
    EXPECT_EQ(unknown.out.value("code", 0), 7) << unknown.raw;
    EXPECT_NE(unknown.raw.find("no [tunnels.elsewhere]"), npos) << unknown.raw;

    auto broken = l.write("broken.toml", "[tunnels.vpn0]\ntype = \"wireguard\"\nconfg = \"/nowhere\"\n");
    auto conf = c.conf("vpods", pod_net, "vpn:vpn0");
    conf.replace(conf.find(c.moat_config), c.moat_config.size(), broken);
    auto bad = c.run("ADD", conf, "pod", ns);
    EXPECT_EQ(bad.out.value("code", 0), 7) << bad.raw;
    EXPECT_NE(bad.raw.find("broken.toml:3"), npos) << "file:line of the bad key\n" << bad.raw;

    auto missing = c.conf("vpods", pod_net, "vpn:vpn0");
    missing.replace(missing.find(",\"moatConfig\""), std::string::npos, "}");
    EXPECT_EQ(c.run("ADD", missing, "pod", ns).out.value("code", 0), 7);
    // Nothing was made: no link in the pod, no tunnel, no state.
    EXPECT_EQ(l.in("ip -o link show eth0 2>/dev/null || true", ns).out, "");
    EXPECT_FALSE(device_exists(l));
    EXPECT_EQ(residue(l, {}, c.e.w.uplink()), "");
    // A pod whose way out is another network's cannot be confined by a
    // second attachment: refused, and its first attachment stays as it was.
    auto first = c.run("ADD", c.conf("npods", "10.92.0.0/24", "nat"), "pod", ns);
    ASSERT_EQ(first.code, 0) << first.raw;
    auto second = c.run("ADD", c.conf("vpods", pod_net, "vpn:vpn0"), "pod", ns, "net1");
    EXPECT_EQ(second.out.value("code", 0), 7) << second.raw;
    EXPECT_NE(second.raw.find("already has a default route"), npos) << second.raw;
    EXPECT_EQ(l.in("ip -o link show net1 2>/dev/null || true", ns).out, "");
    EXPECT_FALSE(device_exists(l));
    EXPECT_EQ(c.run("DEL", c.conf("npods", "10.92.0.0/24", "nat"), "pod", ns).code, 0);
    EXPECT_EQ(residue(l, {}, c.e.w.uplink()), "");
    // Positive control: the same request with the good file works.
    auto ok = c.run("ADD", c.conf("vpods", pod_net, "vpn:vpn0"), "pod", ns);
    EXPECT_EQ(ok.code, 0) << ok.raw;
    auto tunnels = tunnels_host(l);
    EXPECT_EQ(c.run("DEL", c.conf("vpods", pod_net, "vpn:vpn0"), "pod", ns).code, 0);
    EXPECT_EQ(residue(l, tunnels, c.e.w.uplink()), "");
}
