#include "network_host_lab.hpp"

#include <sstream>
#include <stdexcept>

namespace moat::test {

namespace {

// argv: "4|6,ADDR,PORT,TEXT"...: one TCP listener each, answering TEXT.
const char* listener_script = R"(import socket, sys, threading
def serve(s, text):
    while True:
        c, _ = s.accept()
        try:
            c.sendall((text + "\n").encode())
        finally:
            c.close()
for spec in sys.argv[1:]:
    fam, addr, port, text = spec.split(",")
    s = socket.socket(socket.AF_INET if fam == "4" else socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == "6":
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, int(port)))
    s.listen(16)
    threading.Thread(target=serve, args=(s, text)).start()
)";

// argv: TCP-PORT DNS-PORT ADDR...; see reach().
const char* probe_script = R"(import socket, struct, sys, threading
port, dport, out = int(sys.argv[1]), int(sys.argv[2]), []
def fam(a):
    return socket.AF_INET6 if ":" in a else socket.AF_INET
def tcp(a):
    s = socket.socket(fam(a), socket.SOCK_STREAM)
    s.settimeout(1.5)
    try:
        s.connect((a, port))
        r = s.recv(64).decode().strip() or "connected"
    except OSError:
        r = "-"
    out.append("tcp %s %s" % (a, r))
def dns(a):
    s = socket.socket(fam(a), socket.SOCK_DGRAM)
    s.settimeout(1.5)
    q = struct.pack(">HHHHHH", 0x4d54, 0x100, 1, 0, 0, 0) + b"\x04leak\x07example\x00" + struct.pack(">HH", 1, 1)
    try:
        s.sendto(q, (a, dport))
        r = s.recv(512)
        n = struct.unpack(">H", r[6:8])[0]
        ans = socket.inet_ntoa(r[-4:]) if n else "rcode%d" % (r[3] & 15)
    except OSError:
        ans = "-"
    out.append("dns %s %s" % (a, ans))
ts = [threading.Thread(target=f, args=(a,)) for a in sys.argv[3:] for f in (tcp, dns)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("\n".join(sorted(out)))
)";

// argv: MAC GATEWAY SOURCE PORT tcp|dns. Exit 0 and "ANSWER" when
// 127.0.0.1:PORT answered: a SYN-ACK to a TCP SYN, or any UDP datagram to a
// DNS question. The host answers from 127.0.0.1, and the container's kernel
// ignores ARP requests from a loopback sender, so the script first makes
// the host learn its MAC, as an attacker would: an ARP request of its own.
const char* attack_script = R"(import random, socket, struct, sys, time
mac, gw, src = bytes.fromhex(sys.argv[1].replace(":", "")), sys.argv[2], sys.argv[3]
port, mode = int(sys.argv[4]), sys.argv[5]
def csum(b):
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(("eth0", 0x0800))
mine = s.getsockname()[4]
sip, dip = socket.inet_aton(src), socket.inet_aton("127.0.0.1")
sport = random.randint(20000, 60000)
if mode == "tcp":
    l4, proto = struct.pack("!HHIIBBHHH", sport, port, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0), 6
    l4 = l4[:16] + struct.pack("!H", csum(sip + dip + struct.pack("!BBH", 0, 6, len(l4)) + l4)) + l4[18:]
else:
    q = struct.pack(">HHHHHH", 0x4d54, 0x100, 1, 0, 0, 0) + b"\x04leak\x07example\x00" + struct.pack(">HH", 1, 1)
    l4, proto = struct.pack("!HHHH", sport, port, 8 + len(q), 0) + q, 17  # checksum 0: none (IPv4)
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), random.getrandbits(16), 0x4000, 64, proto, 0, sip, dip)
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
frame = mac + mine + b"\x08\x00" + ip + l4
arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mine, sip, b"\0" * 6, socket.inet_aton(gw))
s.send(mac + mine + b"\x08\x06" + arp)
s.settimeout(0.1)
start, sent = time.time(), 0
while time.time() < start + 2.5:
    if sent < 3 and time.time() >= start + 0.7 * sent:
        s.send(frame)
        sent += 1
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    p = f[14:]
    if len(p) < 28 or p[9] != proto or p[12:16] != dip:
        continue
    t = p[(p[0] & 15) * 4:]
    sp, dp = struct.unpack("!HH", t[:4])
    if sp == port and dp == sport and (proto == 17 or t[13] & 0x12 == 0x12):
        print("ANSWER")
        sys.exit(0)
print("no answer")
sys.exit(1)
)";

std::string dnsmasq(const std::string& args) {
    // No config file, no /etc/hosts or resolv.conf, nothing cached: every
    // question the host's resolver takes is forwarded, and visible.
    return "dnsmasq -k -C /dev/null -u root -g root --pid-file= --no-hosts --no-resolv " + args;
}

void start(lab& l, const std::string& ns, const std::string& cmd, const std::string& log) {
    auto r = l.in("setsid " + cmd + " </dev/null >" + log + " 2>&1 &", ns);
    if (r.code != 0) throw std::runtime_error("starting " + cmd + ": " + r.err);
}

}  // namespace

host_services::host_services(lab& l, wan& w) : _log(l.dir() + "/dns-host.log") {
    const std::string d = l.dir();
    start(l, w.ns(), dnsmasq("--listen-address=203.0.113.1 --bind-interfaces --address=/leak.example/" + leak_answer),
          d + "/dnsmasq-wan.out");
    start(l, "",
          dnsmasq("--cache-size=0 --server=203.0.113.1 --log-queries --log-facility=" + _log), d + "/dnsmasq-host.out");
    start(l, "",
          dnsmasq("--cache-size=0 --server=203.0.113.1 --listen-address=127.0.0.1 --bind-interfaces --port=5300"),
          d + "/dnsmasq-lo.out");
    auto script = l.write("listen.py", listener_script);
    start(l, "",
          "/usr/bin/python3 " + script + " 4,0.0.0.0,2222,host-any 6,::,2222,host-any6 4,127.0.0.1,2223,host-lo",
          d + "/listen.out");
    bool up = eventually([&] {
        auto r = reach(l, "", 2222, {uplink4, uplink6});
        auto lo = reach(l, "", 2223, {"127.0.0.1"}, 5300);
        return r["tcp " + uplink4] == "host-any" && r["tcp " + uplink6] == "host-any6" &&
               r["dns " + uplink4] == leak_answer && r["dns " + uplink6] == leak_answer &&
               lo["tcp 127.0.0.1"] == "host-lo" && lo["dns 127.0.0.1"] == leak_answer;
    });
    if (!up) {
        throw std::runtime_error("the host's services do not answer: " + sh("cat " + d + "/*.out").out);
    }
}

std::map<std::string, std::string> reach(lab& l, const std::string& name, int port,
                                         const std::vector<std::string>& addresses, int dns_port) {
    std::string args = " -c " + shq(probe_script) + " " + std::to_string(port) + " " + std::to_string(dns_port);
    for (const auto& a : addresses) args += " " + a;
    auto r = name.empty() ? l.in("/usr/bin/python3" + args, "", std::chrono::seconds(20))
                          : l.moat("exec " + name + " -- /usr/bin/python3" + args, std::chrono::seconds(20));
    std::map<std::string, std::string> out;
    std::istringstream lines(r.out);
    std::string kind, addr, result;
    while (lines >> kind >> addr >> result) out[kind + " " + addr] = result;
    return out;
}

bool localhost_answers(lab& l, const std::string& name, const std::string& mac, const std::string& gateway,
                       const std::string& source, int port, const std::string& mode) {
    auto r = l.moat("exec " + name + " -- /usr/bin/python3 -c " + shq(attack_script) + " " + mac + " " + gateway + " " +
                        source + " " + std::to_string(port) + " " + mode,
                    std::chrono::seconds(20));
    if (r.code != 0 && r.out.find("no answer") == std::string::npos) {
        throw std::runtime_error("the attack script did not run: " + r.out + r.err);
    }
    return r.code == 0 && r.out.find("ANSWER") != std::string::npos;
}

std::string mac_of(lab& l, const std::string& ifname) {
    auto out = l.in("ip -o link show dev " + ifname).out;
    auto at = out.find("link/ether ");
    if (at == std::string::npos) throw std::runtime_error("no MAC for " + ifname + ": " + out);
    return out.substr(at + 11, 17);
}

}  // namespace moat::test
