// Issue 14, provider port forwarding: NAT-PMP (RFC 6886) against a real
// NAT-PMP server in the lab's VPN server namespace — Debian's miniupnpd
// (nftables backend), listening on the OpenVPN server's tun0 and mapping
// its wan address 203.0.113.2 to the tunnel's client, as a provider does.
//
// What it shows: the port moat maps is what natpmpc (libnatpmp's client)
// gets for the same request from the same tunnel address; it is in the
// container's file and its onChange hook ran with it; a client on the wan
// reaching 203.0.113.2:<port> gets the container's service (which learnt
// the port from the file) — and the same port on the host's own uplink
// address reaches nothing; after the server restarts (a reconnect) the
// mapping is renewed (the hook runs again, the file is rewritten, the port
// works again) while a capture on the host's uplink counts 0 packets of
// the container; a runner killed with -9 is replaced by one that maps
// again; `moat down` leaves nothing (residue.hpp).
//
// miniupnpd 2.3.1 refuses to map when its external interface's first
// address is "reserved" (203.0.113.0/24 is documentation space: "Port
// forwarding is impossible", and ext_ip= is refused the same way). The
// test gives the vpn server's wan link a first address that is not in
// miniupnpd's reserved list, with scope link: the kernel never picks it as
// a source for the wan (RFC 1122 source selection by scope), and the lab
// has no link out of its namespaces, so it is never on any wire; miniupnpd
// only reports it as the "external address", which moat does not use.
#include "residue.hpp"
#include "vpn_moat.hpp"

#include <future>
#include <regex>

using namespace moat::test;
using namespace moat::test::vpn;

namespace {

const std::string subnet4 = "10.172.40.0/24";
const std::string requested = "40123";

// The container's service: listens on the port its file names, follows it
// when it changes, and answers each connection with the port and logs the
// peer.
const char* service = R"(import os, socket, time
f = os.environ["MOAT_FORWARDED_PORT_FILE"]
port, s = None, None
while True:
    try:
        p = int(open(f).read())
    except Exception:
        p = None
    if p != port:
        if s:
            s.close()
        s, port = None, p
        if p:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", p))
            s.listen(8)
            s.settimeout(0.3)
    if not s:
        time.sleep(0.2)
        continue
    try:
        c, a = s.accept()
    except socket.timeout:
        continue
    print("connection from", a[0], flush=True)
    c.sendall(b"forwarded %d\n" % port)
    c.close()
)";

// miniupnpd in the vpn namespace: NAT-PMP only, on the tunnels' server
// side, mapping out of the wan link v<id>; its own nft table for the
// DNATs it adds (the chain names are miniupnpd's defaults).
int start_miniupnpd(env& e) {
    auto& l = e.l;
    const std::string wan_if = "v" + l.id(), vns = e.v.ns();
    auto r = l.in("ip addr add 100.128.0.2/32 dev " + wan_if + " scope link && ip addr show dev " + wan_if, vns);
    if (r.code != 0) throw std::runtime_error("vpn wan address: " + r.err);
    r = l.in("nft -f - <<'EOF'\ntable inet miniupnpd {\n"
             " chain forward { type filter hook forward priority 0; policy accept; jump miniupnpd; }\n"
             " chain miniupnpd { }\n"
             " chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump prerouting_miniupnpd; }\n"
             " chain prerouting_miniupnpd { }\n"
             " chain postrouting { type nat hook postrouting priority srcnat; policy accept; jump postrouting_miniupnpd; }\n"
             " chain postrouting_miniupnpd { }\n}\nEOF", vns);
    if (r.code != 0) throw std::runtime_error("miniupnpd table: " + r.err);
    auto conf = l.write("miniupnpd.conf", "ext_ifname=" + wan_if + "\nlistening_ip=tun0\nlistening_ip=" + e.v.wg_ifname() +
                                              "\nenable_natpmp=yes\nenable_upnp=no\nsecure_mode=yes\n"
                                              "upnp_table_name=miniupnpd\nupnp_nat_table_name=miniupnpd\n"
                                              "allow 1024-65535 10.8.0.0/24 1024-65535\n"
                                              "allow 1024-65535 10.9.0.0/24 1024-65535\n"
                                              "deny 0-65535 0.0.0.0/0 0-65535\n");
    r = l.in("ip netns exec " + vns + " /usr/sbin/miniupnpd -d -f " + conf + " -P " + l.dir() + "/miniupnpd.pid >" +
             l.dir() + "/miniupnpd.log 2>&1 </dev/null & echo $!");
    int pid = std::atoi(r.out.c_str());
    if (pid <= 0 || !eventually([&] { return slurp(l.dir() + "/miniupnpd.log").find("Listening for NAT-PMP") != npos; },
                                std::chrono::seconds(10))) {
        throw std::runtime_error("miniupnpd did not start:\n" + slurp(l.dir() + "/miniupnpd.log"));
    }
    return pid;
}

std::string in_container(lab& l, const std::string& cmd) { return trim(l.moat("exec c -- sh -c " + shq(cmd)).out); }

std::string port_file(lab& l) { return in_container(l, "cat /run/moat/forwarded/port 2>/dev/null"); }

// natpmpc from the lab's host, through the tunnel: a rule sends its
// packets to the gateway into the tunnel's table, so its source is the
// tunnel's address, as moat's runner's is. The public port it got.
std::string natpmpc(lab& l, const std::string& gateway, const std::string& args) {
    auto r = l.in("ip rule add to " + gateway + "/32 lookup " + table + " priority 90 && natpmpc -g " + gateway + " " +
                  args + "; ip rule del to " + gateway + "/32 lookup " + table + " priority 90");
    std::smatch m;
    if (!std::regex_search(r.out, m, std::regex("Mapped public port ([0-9]+)"))) return "(none: " + r.out + r.err + ")";
    return m[1];
}

std::string forward_config(env& e, const std::string& type) {
    std::string gateway = type == "wireguard" ? wg_server4 : ovpn_server4;
    return tunnel_toml(e, type) + "[tunnels.vpn0.portForwarding]\ncontainer = \"c\"\ngateway = \"" + gateway +
           "\"\nrequestPort = " + requested + "\nonChange = \"echo $MOAT_FORWARDED_PORT >> /tmp/hook.log\"\n\n" +
           "[containers.c]\nprivateNetwork = true\nhostAddress = \"10.172.40.1\"\nlocalAddress = \"10.172.40.2\"\n"
           "egress = \"vpn:vpn0\"\n" + dns_line(type) +
           "[containers.c.services.web]\nrestart = \"always\"\nexec = [\"/usr/bin/python3\", \"-c\", '''" + service + "''']\n";
}

class VpnPortForward : public testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(VpnPortForward, ProviderPortReachesTheContainerOnlyThroughTheTunnel) {
    const std::string type = GetParam();
    const std::string gateway = type == "wireguard" ? wg_server4 : ovpn_server4;
    env e;
    auto& l = e.l;
    int upnpd = start_miniupnpd(e);
    scope_exit stop_upnpd{[&] { stop_process(upnpd, "miniupnpd"); }};
    auto file = l.write("moat.toml", forward_config(e, type));
    auto made = l.moat("up -f " + file, std::chrono::seconds(60));
    ASSERT_EQ(made.code, 0) << made.out << made.err;

    // The port, in the container's file and given to its hook.
    std::string port;
    ASSERT_TRUE(eventually([&] { return !(port = port_file(l)).empty(); }, std::chrono::seconds(40)))
        << kernel_evidence(l) << slurp(l.dir() + "/miniupnpd.log");
    EXPECT_EQ(port, requested);
    EXPECT_TRUE(eventually([&] { return in_container(l, "cat /tmp/hook.log") == port; }, std::chrono::seconds(10)))
        << in_container(l, "cat /tmp/hook.log") << l.moat("logs c").out;
    // What libnatpmp's own client gets for the same request from the same address.
    EXPECT_EQ(natpmpc(l, gateway, "-a " + requested + " " + requested + " tcp 60"), port);
    EXPECT_EQ(natpmpc(l, gateway, "-a " + requested + " " + requested + " udp 60"), port);

    // Reached from the wan through the provider's address, by the service
    // that read the file; not on the host's own uplink address.
    ASSERT_TRUE(eventually([&] { return l.read_line(vpn4, std::stoi(port), e.w.ns()) == "forwarded " + port + "\n"; },
                           std::chrono::seconds(15)))
        << kernel_evidence(l) << slurp(l.dir() + "/miniupnpd.log") << l.moat("logs c").out;
    // Counted on the container's own link: the uplink's address gets
    // nothing to it — there the port is the host's own (a listener of the
    // test answers: the positive control that the uplink path works) — and
    // the provider's address does.
    {
        capture link(l, "ve-c");
        auto listener = l.in("(echo host | timeout 5 nc -N -l " + port + " >/dev/null 2>&1 &) ; sleep 0.3");
        EXPECT_EQ(l.read_line("203.0.113.10", std::stoi(port), e.w.ns(), 2), "host\n");
        link.stop();
        EXPECT_EQ(link.count("tcp port " + port), 0) << link.packets("tcp port " + port);
    }
    {
        capture link(l, "ve-c");
        EXPECT_EQ(l.read_line(vpn4, std::stoi(port), e.w.ns()), "forwarded " + port + "\n");
        link.stop();
        EXPECT_GT(link.count("tcp port " + port), 0);
    }

    // An `up` that replaces the table (another container) empties the map
    // and set; the runner puts the port back within seconds.
    auto more = l.write("moat.toml", forward_config(e, type) +
                                         "[containers.d]\nprivateNetwork = true\nhostAddress = \"10.172.41.1\"\n"
                                         "localAddress = \"10.172.41.2\"\n");
    auto again = l.moat("up -f " + more, std::chrono::seconds(60));
    ASSERT_EQ(again.code, 0) << again.out << again.err;
    EXPECT_TRUE(eventually([&] { return l.moat("logs _tunnels").out.find("forwarded port back in table") != npos; },
                           std::chrono::seconds(10)))
        << l.in("nft list table inet moat").out << l.moat("logs _tunnels").out;
    EXPECT_TRUE(eventually([&] { return l.read_line(vpn4, std::stoi(port), e.w.ns()) == "forwarded " + port + "\n"; },
                           std::chrono::seconds(10)))
        << kernel_evidence(l);

    // The runner's elements are no drift for `check` (the committed
    // listing has the map and set empty).
    auto chk = l.moat("check", std::chrono::seconds(60));
    EXPECT_NE(chk.out.find("table inet moat as committed"), npos) << chk.out << chk.err;
    EXPECT_EQ(chk.out.find("not moat's"), npos) << chk.out;

    if (type == "openvpn") {
        // A server-side reconnect: the mapping is asked again, the hook runs
        // again, the port works again; nothing of the container on the uplink.
        capture out(l, e.w.uplink());
        auto generator = std::async(std::launch::async, [&] { return try_every_way_out(l, "c", type, 20, "p"); });
        scope_exit stop_generator{[&] { l.moat("exec c -- pkill -f moat-leak-probe"); }};
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        e.v.restart_openvpn();
        EXPECT_TRUE(eventually([&] { return in_container(l, "cat /tmp/hook.log") == port + "\n" + port; },
                               std::chrono::seconds(60)))
            << in_container(l, "cat /tmp/hook.log") << l.moat("logs _tunnels").out << l.moat("logs _tunnels").err;
        EXPECT_EQ(port_file(l), port);
        EXPECT_TRUE(eventually([&] { return l.read_line(vpn4, std::stoi(port), e.w.ns()) == "forwarded " + port + "\n"; },
                               std::chrono::seconds(15)))
            << kernel_evidence(l);
        stop_generator.f();
        std::cerr << "[vpn] generator: " << generator.get() << "\n";
        const std::string leak = leak_filter(type, {subnet4}) + " or port " + port;
        EXPECT_EQ(out.count(leak), 0) << out.packets(leak) << kernel_evidence(l);

        // The runner killed with -9: the init starts a new one, which maps
        // again and tells the container again. Its new openvpn session gets
        // another address while the server still holds the old one, so
        // miniupnpd forwards another public port (to the same internal
        // port): the file, the hook and the firewall follow it.
        auto runner = l.in("pgrep --ns $$ --nslist net -f '[_]_tunnel '");
        ASSERT_FALSE(trim(runner.out).empty()) << runner.err;
        l.in("kill -9 " + trim(runner.out));
        std::string hooked;
        EXPECT_TRUE(eventually([&] {
                        hooked = in_container(l, "cat /tmp/hook.log");
                        return std::count(hooked.begin(), hooked.end(), '\n') == 2;
                    },
                               std::chrono::seconds(60)))
            << hooked << l.moat("logs _tunnels").out;
        port = port_file(l);
        EXPECT_EQ(hooked.substr(hooked.rfind('\n') + 1), port);
        EXPECT_TRUE(eventually([&] { return l.read_line(vpn4, std::stoi(port), e.w.ns()) == "forwarded " + port + "\n"; },
                               std::chrono::seconds(15)))
            << kernel_evidence(l) << slurp(l.dir() + "/miniupnpd.log");
    }

    // The runner's map and set are in the table while up; nothing after down.
    auto listing = l.in("nft list table inet moat").out;
    EXPECT_NE(listing.find("map fwd_c"), npos) << listing;
    EXPECT_NE(listing.find(" : " + port), npos) << listing;  // (tcp, port it arrives on) -> the public port
    auto snap = snapshot(l);
    auto down = l.moat("down");
    EXPECT_EQ(down.code, 0) << down.out << down.err;
    EXPECT_EQ(residue(l, snap, e.w.uplink()), "");
}

INSTANTIATE_TEST_SUITE_P(Tunnel, VpnPortForward, testing::Values("openvpn", "wireguard"), type_name);
