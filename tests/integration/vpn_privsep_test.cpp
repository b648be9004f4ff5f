// The tunnel daemons run with no privilege over the host (src/tunnel/
// daemon.hpp), for both tunnel types, in the VPN lab (vpn_lab.hpp): what the
// kernel says about the real daemon's credentials; attacks on the kill
// switch from exactly those credentials fail with EPERM while the same
// commands as root succeed; a device left by a runner killed with -9 goes
// with `moat down`; an OpenVPN provider's files next to its .ovpn reach the
// unprivileged daemon, and its privileged lines are neutralised.
#include "vpn_moat.hpp"

#include <map>

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

class VpnPrivsep : public testing::TestWithParam<std::string> {};

const std::string uid = std::to_string(tunnel_table("vpn0"));  // the daemon's uid and gid
const std::string zero_caps = "0000000000000000";

std::map<std::string, std::string> parse_status(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        auto colon = line.find(':');
        if (colon == npos) continue;
        auto value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        out[line.substr(0, colon)] = value;
    }
    return out;
}

std::map<std::string, std::string> status_of(int pid) { return parse_status(slurp("/proc/" + std::to_string(pid) + "/status")); }

// The fields the kernel's permission checks for netlink, nftables, tc and
// files depend on (credentials, capabilities, no_new_privs).
const char* const credential_fields[] = {"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff",
                                         "CapBnd", "CapAmb", "NoNewPrivs"};

// Runs cmd in the lab's host with the daemon's credentials.
result as_daemon(lab& l, const std::string& type, const std::string& cmd) {
    return l.in(std::string(MOAT_TUNNEL_PROBE) + " " + uid + " " + uid + (type == "wireguard" ? " 1 " : " 0 ") + cmd);
}

bool refused(const result& r) {
    const std::string said = r.out + r.err;
    return r.code != 0 && (said.find("Operation not permitted") != npos || said.find("ermission denied") != npos);
}

// A container confined to tunnel vpn0 ([tunnels.vpn0] is `tunnel`).
std::string confined(const std::string& type, const std::string& tunnel) {
    return tunnel + "\n[networks.conf]\nsubnet = \"10.172.41.0/24\"\negress = \"vpn:vpn0\"\n\n"
                    "[containers.c]\nprivateNetwork = true\nhostBridge = \"conf\"\n" + dns_line(type);
}

// The one daemon, once the tunnel routes.
int the_daemon(lab& l, const std::string& type) {
    std::vector<int> pids;
    eventually([&] { return tunnel_routed(l) && (pids = daemon_pids(l, type)).size() == 1; }, std::chrono::seconds(20));
    return pids.size() == 1 ? pids[0] : 0;
}

// The daemon: its own uid and gid, no capability in any set, no way to
// gain one, moat's seccomp filter (and wireguard-go's own on top). Positive
// control: its parent is the runner, which keeps CAP_NET_ADMIN (bit 12) as
// root: it routes. Returns the runner's PID.
int expect_unprivileged_child_of_runner(const std::string& type, std::map<std::string, std::string>& st) {
    const std::string ids = uid + "\t" + uid + "\t" + uid + "\t" + uid;
    EXPECT_EQ(st["Uid"], ids);
    EXPECT_EQ(st["Gid"], ids);
    EXPECT_EQ(st["Groups"], "");
    for (const char* f : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) EXPECT_EQ(st[f], zero_caps) << f;
    EXPECT_EQ(st["NoNewPrivs"], "1");
    EXPECT_EQ(st["Seccomp"], "2");
    const int runner = std::stoi(st["PPid"]);
    EXPECT_TRUE(alive(runner, "moat")) << "the daemon's parent " << runner << " is not moat's runner";
    auto rs = status_of(runner);
    EXPECT_EQ(rs["Uid"], "0\t0\t0\t0");
    EXPECT_EQ(std::stoull(rs["CapEff"], nullptr, 16) >> 12 & 1, 1u) << rs["CapEff"];
    EXPECT_EQ(std::stoi(st["Seccomp_filters"]), std::stoi(rs["Seccomp_filters"]) + (type == "wireguard" ? 1 : 0));
    return runner;
}

// What the runner handed over to the daemon, and to whom.
void expect_handed_over(lab& l, const std::string& type, int runner) {
    const std::string in_tunnels = "nsenter -t " + std::to_string(runner) + " -m ";
    auto link = l.in("ip -d link show dev " + device).out;
    if (type == "openvpn") {
        EXPECT_NE(link.find("persist on user " + uid + " group " + uid), npos) << link;
        auto owned = l.in(in_tunnels + "stat -c '%u:%g %a %F %n' /run/moat-tunnel/vpn0 /run/moat-tunnel/vpn0/config.ovpn"
                                       " /run/moat-tunnel/vpn0/management.sock /dev/net/" + device);
        EXPECT_EQ(owned.out, "0:" + uid + " 750 directory /run/moat-tunnel/vpn0\n" + uid + ":" + uid +
                                 " 600 regular file /run/moat-tunnel/vpn0/config.ovpn\n" + uid + ":" + uid +
                                 " 600 socket /run/moat-tunnel/vpn0/management.sock\n" + uid + ":" + uid +
                                 " 600 character special file /dev/net/" + device + "\n") << owned.err;
    } else {
        EXPECT_NE(link.find("persist off"), npos) << link;  // goes with the daemon's descriptor
        auto owned = l.in(in_tunnels + "stat -c '%u:%g %a %F' /var/run/wireguard/" + device + ".sock");
        EXPECT_EQ(owned.out, uid + ":" + uid + " 600 socket\n") << owned.err;
    }
}

// Every attack on the kill switch from the daemon's credentials fails and
// the kernel's state stays as it was; the same commands as root work
// (positive control: each probe can succeed where it is allowed).
void expect_attacks_fail_as_daemon_only(env& e, const std::string& type) {
    auto& l = e.l;
    const std::string c4 = address_of(l, "c"), uplink = e.w.uplink();
    const std::vector<std::pair<std::string, std::string>> attacks = {
        {"add a tc qdisc on the uplink (tc redirect)", "tc qdisc add dev " + uplink + " clsact"},
        {"write a sysctl", "sysctl -w net.ipv4.conf.all.forwarding=1"},
        {"delete the tunnel's default route", "ip route del default dev " + device + " table " + table},
        {"route the tunnel's table out of the uplink",
         "ip route replace default via 203.0.113.1 dev " + uplink + " table " + table},
        {"delete the confinement rule", "ip rule del from " + c4 + " lookup " + table},
        {"delete table inet moat", "nft delete table inet moat"},
        {"flush the ruleset", "nft flush ruleset"},
        {"take the tunnel device down", "ip link set dev " + device + " down"},
        {"delete the tunnel device", "ip link del dev " + device},
    };
    auto kernel = [&] {
        return l.in("ip rule; ip -6 rule; ip route show table " + table + "; ip -6 route show table " + table +
                    "; nft -s list ruleset; tc qdisc show dev " + uplink + "; ip link show dev " + device +
                    "; sysctl net.ipv4.conf.all.forwarding")
            .out;
    };
    const std::string before = kernel();
    for (const auto& [what, cmd] : attacks) {
        auto r = as_daemon(l, type, cmd);
        EXPECT_TRUE(refused(r)) << what << " as the daemon: exit " << r.code << "\n" << r.out << r.err;
    }
    EXPECT_EQ(kernel(), before) << "the daemon's credentials changed the kernel's state";
    EXPECT_TRUE(through_tunnel(l, "c", std::chrono::seconds(5)));
    for (const auto& [what, cmd] : attacks) {
        auto r = l.in(cmd);
        EXPECT_EQ(r.code, 0) << what << " as root (positive control)\n" << r.out << r.err;
        if (what.find("tc qdisc") != npos) l.in("tc qdisc del dev " + uplink + " clsact");
    }
    EXPECT_NE(l.in("nft list table inet moat").code, 0) << "root's attacks had no effect";
}

}  // namespace

TEST_P(VpnPrivsep, DaemonHasNoPrivilegeOverTheKillSwitch) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    up_ok(l, l.write("moat.toml", confined(type, tunnel_toml(e, type))));
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(20))) << kernel_evidence(l);
    const int daemon = the_daemon(l, type);
    ASSERT_GT(daemon, 0) << kernel_evidence(l);
    auto st = status_of(daemon);
    const int runner = expect_unprivileged_child_of_runner(type, st);
    expect_handed_over(l, type, runner);
    // The probe has the daemon's credentials, field for field.
    auto probe = as_daemon(l, type, "cat /proc/self/status");
    ASSERT_EQ(probe.code, 0) << probe.err;
    auto ps = parse_status(probe.out);
    for (const char* f : credential_fields) EXPECT_EQ(ps[f], st[f]) << f;
    expect_attacks_fail_as_daemon_only(e, type);
}

// A runner killed with -9 cannot delete its device; nothing restarts it
// when its init dies with it. The OpenVPN device (persistent) stays until
// `moat down`, which removes it with the rules and the table; WireGuard's
// goes with its daemon's descriptor.
TEST_P(VpnPrivsep, DeviceOfAKilledRunnerGoesWithDown) {
    const std::string type = GetParam();
    env e;
    auto& l = e.l;
    up_ok(l, l.write("moat.toml", confined(type, tunnel_toml(e, type))));
    ASSERT_TRUE(through_tunnel(l, "c", std::chrono::seconds(20))) << kernel_evidence(l);
    const int daemon = the_daemon(l, type);
    ASSERT_GT(daemon, 0);
    const int runner = std::stoi(status_of(daemon)["PPid"]);
    const int init = std::stoi(status_of(runner)["PPid"]);
    ASSERT_TRUE(alive(runner, "moat") && alive(init, "moat-init")) << runner << " " << init;
    EXPECT_TRUE(stop_process(init, "moat-init", SIGKILL));  // PID 1 of `_tunnels`: all of it dies by SIGKILL
    EXPECT_TRUE(eventually([&] { return !alive(runner, "moat") && !alive(daemon, daemon_comm(type)); },
                           std::chrono::seconds(3)));
    if (type == "openvpn") {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        EXPECT_TRUE(device_exists(l)) << "a persistent device outlives its runner (the case `down` must handle)";
    } else {
        EXPECT_TRUE(eventually([&] { return !device_exists(l); }, std::chrono::seconds(3)));
    }
    auto r = l.moat("down");
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_EQ(l.in("ip -o link show | grep ' tn-'").out, "");
    EXPECT_EQ(l.in("ip rule; ip -6 rule").out.find(table), npos) << l.in("ip rule; ip -6 rule").out;
    EXPECT_EQ(l.in("ip route show table " + table + "; ip -6 route show table " + table).out, "");
    EXPECT_NE(l.in("nft list table inet moat").code, 0);
}

INSTANTIATE_TEST_SUITE_P(Tunnel, VpnPrivsep, testing::Values("wireguard", "openvpn"), type_name);

// A provider's zip: the .ovpn names its keys by relative path, and carries
// lines an unprivileged daemon cannot honour. The daemon reads copies the
// runner made for it alone; the lines are commented out, each with a notice.
// wireguard-go's daemon gets one more filter (tunnel/daemon.cpp, BPF of
// moat's own): SIOCSIFMTU answers success and changes nothing, and every
// other request stays the kernel's to refuse. Control: without that filter
// the same request from the same credentials is EPERM, so the probe is
// really unprivileged; and as root it does change the MTU.
TEST(VpnPrivsepWireGuard, TheMtuRequestIsAnsweredWithoutEffect) {
    lab l;
    ASSERT_EQ(l.in("ip link add d0 mtu 1500 type veth peer name d1").code, 0);  // no dummy module here
    // ioctl(REQUEST, struct ifreq {"d0", int VALUE}) on an AF_INET socket.
    const std::string script = l.write("ifreq.py",
                                       "import errno, fcntl, socket, struct, sys\n"
                                       "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                                       "try:\n"
                                       "    fcntl.ioctl(s, int(sys.argv[1], 0), struct.pack('16si20x', b'd0', int(sys.argv[2])))\n"
                                       "    print('ok')\n"
                                       "except OSError as e:\n"
                                       "    print(errno.errorcode[e.errno])\n");
    auto as = [&](const std::string& fake, const std::string& request, const std::string& value) {
        auto r = l.in(std::string(MOAT_TUNNEL_PROBE) + " " + uid + " " + uid + " " + fake + " python3 - " + request +
                      " " + value + " < " + script);
        EXPECT_EQ(r.code, 0) << r.err;
        return r.out;
    };
    auto mtu = [&] { return l.in("ip -o link show d0 | sed -n 's/.* mtu \\([0-9]*\\) .*/\\1/p'").out; };
    constexpr const char* set_mtu = "0x8922";    // SIOCSIFMTU
    constexpr const char* set_flags = "0x8914";  // SIOCSIFFLAGS
    EXPECT_EQ(as("1", set_mtu, "1400"), "ok\n");
    EXPECT_EQ(mtu(), "1500\n");
    EXPECT_EQ(as("1", set_flags, "1"), "EPERM\n");  // IFF_UP: not answered by the filter
    EXPECT_EQ(as("0", set_mtu, "1400"), "EPERM\n");
    EXPECT_EQ(mtu(), "1500\n");
    EXPECT_EQ(l.in("python3 - 0x8922 1400 < " + script).out, "ok\n");
    EXPECT_EQ(mtu(), "1400\n");
}

TEST(VpnPrivsepOpenVpn, ProviderFilesReachTheUnprivilegedDaemon) {
    env e;
    auto& l = e.l;
    const std::string lab_keys = l.dir() + "/vpn", provider = l.dir() + "/provider";
    ASSERT_EQ(sh("mkdir -p " + provider + "/keys && cp " + lab_keys + "/ca.crt " + lab_keys + "/client.crt " +
                 lab_keys + "/client.key " + lab_keys + "/tc.key " + provider + "/keys/ && chmod 600 " + provider +
                 "/keys/*")
                  .code,
              0);
    auto ovpn = l.write("provider/lab.ovpn", "client\ndev tun0\nproto udp4\nremote " + vpn4 + " " +
                                                 std::to_string(ovpn_port) +
                                                 "\nnobind\nremote-cert-tls server\nuser nobody\ngroup nogroup\n"
                                                 "persist-tun\nscript-security 2\nup /bin/false\n"
                                                 "ca keys/ca.crt\ncert keys/client.crt\nkey keys/client.key\n"
                                                 "tls-crypt \"keys/tc.key\"\nverb 3\n");
    up_ok(l, l.write("moat.toml", confined("openvpn",
                                           "[tunnels.vpn0]\ntype = \"openvpn\"\nconfig = \"" + ovpn + "\"\n")));
    EXPECT_TRUE(through_tunnel(l, "c", std::chrono::seconds(20))) << kernel_evidence(l);
    auto logs = l.moat("logs _tunnels").out + l.moat("logs _tunnels").err;
    for (const char* line : {"'user nobody' ignored", "'group nogroup' ignored", "'persist-tun' ignored",
                                    "'script-security 2' ignored", "'up /bin/false' ignored", "'dev tun0' ignored"}) {
        EXPECT_NE(logs.find(line), npos) << line << "\n" << logs;
    }
    const int daemon = the_daemon(l, "openvpn");
    ASSERT_GT(daemon, 0);
    const int runner = std::stoi(status_of(daemon)["PPid"]);
    auto copies = l.in("nsenter -t " + std::to_string(runner) + " -m sh -c 'cd /run/moat-tunnel/vpn0 && "
                       "stat -c \"%u:%g %a %n\" *.crt *.key && grep -c \"^# moat: \" config.ovpn && "
                       "grep \"^ca \\|^tls-crypt \" config.ovpn'");
    EXPECT_EQ(copies.out, uid + ":" + uid + " 600 0-ca.crt\n" + uid + ":" + uid + " 600 1-client.crt\n" + uid +
                              ":" + uid + " 600 2-client.key\n" + uid + ":" + uid + " 600 3-tc.key\n6\n"
                              "ca /run/moat-tunnel/vpn0/0-ca.crt\ntls-crypt /run/moat-tunnel/vpn0/3-tc.key\n")
        << copies.err;
    // The daemon cannot read the user's originals (root's, 0600); it reads its copies.
    EXPECT_TRUE(refused(as_daemon(l, "openvpn", "cat " + provider + "/keys/client.key")));
}

// What the daemon reports is not trusted. A server (or a compromised
// daemon) that hands out the host's own uplink address would have the
// runner put it on the device and route the host's packets from it into
// the tunnel (the rule for the tunnel's own address). The runner refuses
// it and the tunnel stays down; given an ordinary address again at the
// next connection, the same tunnel comes up (positive control).
TEST(VpnPrivsepOpenVpn, TheHostsOwnAddressIsNotTakenFromTheDaemon) {
    env e;
    auto& l = e.l;
    e.v.push_to_client("ifconfig-push " + uplink4 + " 255.255.255.0");
    const std::string said = "openvpn reported " + uplink4 + " as the tunnel's address, refused: the host's own address on ";
    // The tunnel never passes traffic: `up` says so, with the runner's reason.
    auto up = l.moat("up --wait 5 -f " + l.write("moat.toml", confined("openvpn", tunnel_toml(e, "openvpn"))));
    EXPECT_EQ(up.code, 1) << up.out << up.err;
    EXPECT_NE(up.err.find(said), npos) << up.err;
    auto logs = [&] { return l.moat("logs _tunnels").out; };
    // openvpn connected (and reported the address).
    ASSERT_TRUE(eventually([&] { return logs().find("Initialization Sequence Completed") != npos; },
                           std::chrono::seconds(20)))
        << logs();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the runner has followed the state line
    EXPECT_NE(logs().find(said), npos) << logs();
    EXPECT_EQ(l.in("ip -4 addr show dev " + device).out, "");
    EXPECT_FALSE(tunnel_routed(l)) << kernel_evidence(l);
    EXPECT_EQ(l.in("ip rule show pref 10001").out, "");
    EXPECT_EQ(ns_http_get(l, "", "http://" + web4 + "/"), uplink4 + "\n") << "the host's own traffic\n" << kernel_evidence(l);
    EXPECT_EQ(http_get(l, "c", "http://" + web4 + "/", 2), "") << "the confined container while its tunnel is down";

    e.v.push_to_client("");
    auto daemons = daemon_pids(l, "openvpn");
    ASSERT_EQ(daemons.size(), 1u);
    ::kill(daemons[0], SIGUSR1);  // reconnect: the server assigns from its pool again
    EXPECT_TRUE(through_tunnel(l, "c", std::chrono::seconds(25))) << logs() << kernel_evidence(l);
}
