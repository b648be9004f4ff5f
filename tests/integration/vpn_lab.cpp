#include "vpn_lab.hpp"

#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace moat::test {

namespace {

// EC P-256 CA, server (EKU serverAuth) and client (EKU clientAuth) certs,
// tls-crypt key, and X25519 keys for wireguard (wg if installed, else openssl).
const char* keys_script = R"(set -eu
umask 077
cd "$1"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj /CN=moat-lab-ca -days 30 -out ca.crt \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
for who in server client; do
  eku=serverAuth; [ $who = client ] && eku=clientAuth
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n' $eku > $who.ext
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $who.key 2>/dev/null
  openssl req -new -key $who.key -subj /CN=moat-lab-$who -out $who.csr
  openssl x509 -req -in $who.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
    -extfile $who.ext -out $who.crt 2>/dev/null
done
openvpn --genkey tls-crypt tc.key
for who in server client; do
  if command -v wg >/dev/null; then
    wg genkey > wg-$who.key
    wg pubkey < wg-$who.key > wg-$who.pub
  else
    openssl genpkey -algorithm X25519 -outform DER -out wg-$who.der
    tail -c 32 wg-$who.der | base64 > wg-$who.key
    openssl pkey -inform DER -in wg-$who.der -pubout -outform DER | tail -c 32 | base64 > wg-$who.pub
  fi
done
chmod 600 *.key
)";

// One DNS query over UDP: argv server name qtype timeout; prints the first answer.
const char* dns_script = R"(import socket, struct, sys
server, name, qtype, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
q = struct.pack(">HHHHHH", 0x4d54, 0x100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", qtype, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(timeout)
s.sendto(q, (server, 53))
r = s.recv(4096)
off = len(q)
for _ in range(struct.unpack(">H", r[6:8])[0]):
    while r[off] and r[off] & 0xC0 != 0xC0:
        off += r[off] + 1
    off += 2 if r[off] else 1
    t, _c, _ttl, n = struct.unpack(">HHIH", r[off:off + 10])
    off += 10
    if t == qtype:
        print(socket.inet_ntop(socket.AF_INET if t == 1 else socket.AF_INET6, r[off:off + n]))
        break
    off += n
)";

const char* server_conf = R"(local 203.0.113.2
port 1194
proto udp4
dev tun0
disable-dco
topology subnet
server 10.8.0.0 255.255.255.0
dh none
ca ca.crt
cert server.crt
key server.key
tls-crypt tc.key
duplicate-cn
client-config-dir ccd
keepalive 2 10
push "redirect-gateway def1"
push "dhcp-option DNS 10.8.0.1"
explicit-exit-notify 1
verb 3
)";

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int count_of(const std::string& text, const std::string& what) {
    int n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
}

std::string dnsmasq(const std::string& args) {
    // No config file, no /etc/hosts or resolv.conf; root so it can write the log.
    return "dnsmasq -k -C /dev/null -u root -g root --pid-file= --no-hosts --no-resolv " + args;
}

}  // namespace

std::string attach_to_wan(lab& l, wan& w, const std::string& ns, const std::string& addr, const std::string& tag) {
    const std::string inner = tag + l.id(), outer = tag + "w" + l.id();
    const std::string cmds[][2] = {
        {"ip link add " + outer + " type veth peer name " + inner + " netns " + ns +
             " && sysctl -qw net.ipv4.ip_forward=1" +
             // proxy_delay: the kernel delays proxy ARP answers by up to 0.8 s by default.
             " && sysctl -qw net.ipv4.conf.w" + l.id() + ".proxy_arp=1 net.ipv4.conf." + outer + ".proxy_arp=1" +
             " net.ipv4.neigh.w" + l.id() + ".proxy_delay=0 net.ipv4.neigh." + outer + ".proxy_delay=0" +
             " && ip link set " + outer + " up && ip route add " + addr + "/32 dev " + outer,
         w.ns()},
        {"ip link set " + inner + " up && ip addr add " + addr + "/24 dev " + inner +
             " && ip route add default via 203.0.113.1 dev " + inner,
         ns},
    };
    for (const auto& [cmd, where] : cmds) {
        auto r = l.in(cmd, where);
        if (r.code != 0) throw std::runtime_error("attach_to_wan in " + where + ": " + cmd + "\n" + r.out + r.err);
    }
    return inner;
}

int start_wireguard_go(lab& l, const std::string& ns, const std::string& ifname, const std::string& log) {
    auto r = sh(enter(ns) + "unshare -m sh -c " + shq("mount -t tmpfs tmpfs /run && exec wireguard-go -f " + ifname) +
                " </dev/null >>" + log + " 2>&1 & echo $!");
    int pid = std::atoi(r.out.c_str());
    auto sock = "/proc/" + std::to_string(pid) + "/root/run/wireguard/" + ifname + ".sock";
    if (pid <= 0 || !eventually([&] { return sh("test -S " + sock).code == 0; }, std::chrono::seconds(5))) {
        stop_process(pid, "wireguard-go", SIGKILL);
        throw std::runtime_error("wireguard-go " + ifname + " in " + ns + " did not start: " + r.err + slurp(log));
    }
    (void)l;
    return pid;
}

result wg(int pid, const std::string& args) {
    return sh("nsenter -t " + std::to_string(pid) + " -m -n wg " + args);
}

bool alive(int pid, const std::string& comm) {
    if (pid <= 0) return false;
    auto stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    // "pid (comm) S ...": comm is cut at 15 bytes by the kernel.
    auto open = stat.find('('), close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 2 >= stat.size()) return false;
    return stat.substr(open + 1, close - open - 1) == comm.substr(0, 15) && stat[close + 2] != 'Z';
}

bool stop_process(int pid, const std::string& comm, int sig, std::chrono::milliseconds limit) {
    if (!alive(pid, comm)) return true;
    ::kill(pid, sig);
    if (eventually([&] { return !alive(pid, comm); }, limit)) return true;
    if (alive(pid, comm)) ::kill(pid, SIGKILL);
    return eventually([&] { return !alive(pid, comm); }, std::chrono::seconds(2));
}

std::string ns_dns(lab& l, const std::string& ns, const std::string& server, const std::string& name, bool v6,
                   int seconds) {
    auto script = l.dir() + "/dnsq.py";
    if (sh("test -e " + script).code != 0) l.write("dnsq.py", dns_script);
    auto r = l.in("/usr/bin/python3 " + script + " " + server + " " + shq(name) + (v6 ? " 28 " : " 1 ") +
                      std::to_string(seconds),
                  ns, std::chrono::seconds(seconds + 10));
    return r.code == 0 ? trim(r.out) : "";
}

vpn_lab::vpn_lab(lab& l, wan& w)
    : _l(l), _w(w), _ns(l.add_ns("vpn")), _dir(l.dir() + "/vpn"), _wg_if("wgs" + l.id()), _dns_log(l.dir() + "/dns-wan.log") {
    try {
        must("mkdir -p " + _dir + "/ccd");
        make_keys();
        _wg_client_key = trim(slurp(_dir + "/wg-client.key"));
        _wg_server_pub = trim(slurp(_dir + "/wg-server.pub"));
        // The wan's logging resolver.
        must("ip addr add " + dns4 + "/32 dev lo", _w.ns());
        _wan_dns_pid = spawn(_w.ns(),
                             dnsmasq("--listen-address=" + dns4 + " --bind-interfaces --log-queries --log-facility=" +
                                     _dns_log + " --address=/" + probe_name + "/" + web4 + " --address=/" + probe_name +
                                     "/" + web6 + " --local=/lab/"),
                             l.dir() + "/dnsmasq-wan.out");
        if (!eventually([&] { return ns_dns(l, _w.ns(), dns4, probe_name, false, 1) == web4; })) {
            throw std::runtime_error("wan dnsmasq does not answer: " + slurp(_dns_log) + slurp(l.dir() + "/dnsmasq-wan.out"));
        }
        clear_dns_log();
        // The vpn server on the wan segment, NATing its tunnels out.
        attach_to_wan(l, w, _ns, vpn4, "v");
        must("sysctl -qw net.ipv4.ip_forward=1 && nft -f - <<'EOF'\ntable ip vpnlab {\n chain post {\n"
             "  type nat hook postrouting priority 100; policy accept;\n  ip saddr { " + ovpn_subnet + ", " + wg_subnet +
                 " } oifname \"v" + l.id() + "\" masquerade\n }\n}\nEOF",
             _ns);
        start_openvpn();
        start_wireguard();
        // The tunnels' resolver: forwards to the wan's, so the wan sees 203.0.113.2.
        _vpn_dns_pid = spawn(_ns,
                             dnsmasq("--listen-address=" + ovpn_server4 + " --listen-address=" + wg_server4 +
                                     " --bind-dynamic --cache-size=0 --server=" + dns4 + " --log-queries --log-facility=" +
                                     l.dir() + "/dns-vpn.log"),
                             l.dir() + "/dnsmasq-vpn.out");
        if (!eventually([&] { return ns_dns(l, _ns, ovpn_server4, probe_name, false, 1) == web4 &&
                                     ns_dns(l, _ns, wg_server4, probe_name, false, 1) == web4; })) {
            throw std::runtime_error("vpn dnsmasq does not answer: " + slurp(l.dir() + "/dns-vpn.log") +
                                     slurp(l.dir() + "/dnsmasq-vpn.out"));
        }
        clear_dns_log();
    } catch (...) {
        stop_all();
        throw;
    }
}

vpn_lab::~vpn_lab() { stop_all(); }

void vpn_lab::stop_all() noexcept {
    // By recorded PID only (LAB.md rule 4); the namespaces, the veth pairs,
    // the tun/wg links and the files go with the lab.
    stop_process(_ovpn_pid, "openvpn", SIGKILL);  // SIGTERM costs 1-2 s (explicit-exit-notify)
    stop_process(_wg_pid, "wireguard-go");
    stop_process(_vpn_dns_pid, "dnsmasq");
    stop_process(_wan_dns_pid, "dnsmasq");
    _ovpn_pid = _wg_pid = _vpn_dns_pid = _wan_dns_pid = 0;
}

void vpn_lab::must(const std::string& cmd, const std::string& ns) const {
    auto r = ns.empty() ? sh(cmd) : _l.in(cmd, ns);
    if (r.code != 0) throw std::runtime_error("vpn lab setup failed in " + (ns.empty() ? "root" : ns) + ": " + cmd + "\n" + r.out + r.err);
}

int vpn_lab::spawn(const std::string& ns, const std::string& cmd, const std::string& log) const {
    // enter() execs: $! is the daemon's own PID (VPN-LAB.md gotcha 9).
    auto r = sh("cd " + _dir + " && " + enter(ns) + cmd + " </dev/null >>" + log + " 2>&1 & echo $!");
    int pid = std::atoi(r.out.c_str());
    if (pid <= 0) throw std::runtime_error("could not start in " + ns + ": " + cmd + "\n" + r.err);
    return pid;
}

void vpn_lab::make_keys() const {
    auto script = _l.write("vpn/keys.sh", keys_script);
    must("sh " + script + " " + _dir);
}

std::string vpn_lab::pem(const std::string& file) const {
    auto text = slurp(_dir + "/" + file);
    if (text.empty()) throw std::runtime_error("vpn lab: missing " + file);
    return text;
}

std::string vpn_lab::openvpn_client_config(const std::string& file) const {
    return _l.write(file, "client\ndev tun\nproto udp4\nremote " + vpn4 + " " + std::to_string(ovpn_port) +
                              "\nnobind\nremote-cert-tls server\nverb 3\n<ca>\n" + pem("ca.crt") + "</ca>\n<cert>\n" +
                              pem("client.crt") + "</cert>\n<key>\n" + pem("client.key") + "</key>\n<tls-crypt>\n" +
                              pem("tc.key") + "</tls-crypt>\n");
}

std::string vpn_lab::wireguard_client_config(const std::string& file) const {
    return _l.write(file, "[Interface]\nPrivateKey = " + _wg_client_key + "\nAddress = " + wg_client4 +
                              "/32\nDNS = " + wg_server4 + "\n\n[Peer]\nPublicKey = " + _wg_server_pub +
                              "\nEndpoint = " + vpn4 + ":" + std::to_string(wg_port) +
                              "\nAllowedIPs = 0.0.0.0/0, ::/0\nPersistentKeepalive = 25\n");
}

void vpn_lab::kill_openvpn(int sig) {
    // OpenVPN takes 1.2-1.6 s to exit after SIGTERM (explicit-exit-notify).
    if (_ovpn_pid > 0 && !stop_process(_ovpn_pid, "openvpn", sig, std::chrono::seconds(5))) {
        throw std::runtime_error("openvpn server " + std::to_string(_ovpn_pid) + " does not die");
    }
    _ovpn_pid = 0;
}

void vpn_lab::start_openvpn() {
    if (alive(_ovpn_pid, "openvpn")) return;
    auto conf = _l.write("vpn/server.conf", server_conf + _server_extra);
    auto log = _dir + "/openvpn-server.log";
    int before = count_of(slurp(log), "Initialization Sequence Completed");
    _ovpn_pid = spawn(_ns, "openvpn --cd " + _dir + " --config " + conf + " --log-append " + log, _dir + "/openvpn.out");
    if (!eventually([&] {
            return count_of(slurp(log), "Initialization Sequence Completed") > before &&
                   _l.in("ip -o addr show dev tun0 | grep -q 'inet " + ovpn_server4 + "/'", _ns).code == 0;
        })) {
        throw std::runtime_error("openvpn server did not start: " + slurp(log) + slurp(_dir + "/openvpn.out"));
    }
}

void vpn_lab::kill_wireguard(int sig) {
    if (_wg_pid > 0 && !stop_process(_wg_pid, "wireguard-go", sig)) {
        throw std::runtime_error("wireguard-go server " + std::to_string(_wg_pid) + " does not die");
    }
    _wg_pid = 0;
    // Its socket lived on its own tmpfs, gone with it; the link goes with the process.
    eventually([&] { return _l.in("ip link show dev " + _wg_if + " 2>/dev/null", _ns).code != 0; },
               std::chrono::seconds(2));
}

void vpn_lab::start_wireguard() {
    if (alive(_wg_pid, "wireguard-go")) return;
    _wg_pid = start_wireguard_go(_l, _ns, _wg_if, _dir + "/wireguard-go.log");
    auto r = wg(_wg_pid, "set " + _wg_if + " listen-port " + std::to_string(wg_port) + " private-key " + _dir +
                             "/wg-server.key peer " + trim(slurp(_dir + "/wg-client.pub")) +
                             " allowed-ips " + wg_client4 + "/32");
    if (r.code != 0) throw std::runtime_error("wg set on the server: " + r.out + r.err);
    must("ip addr add " + wg_server4 + "/24 dev " + _wg_if + " && ip link set " + _wg_if + " up", _ns);
}

std::vector<std::string> vpn_lab::dns_clients() const {
    static const std::regex query(R"(query\[[A-Za-z0-9]+\] \S+ from (\S+))");
    std::vector<std::string> out;
    std::istringstream lines(slurp(_dns_log));
    std::string line;
    std::smatch m;
    while (std::getline(lines, line)) {
        if (std::regex_search(line, m, query)) out.push_back(m[1]);
    }
    return out;
}

void vpn_lab::push_to_client(const std::string& lines) const {
    // The server reads the client's file at each connection.
    must(lines.empty() ? "rm -f " + _dir + "/ccd/moat-lab-client"
                       : "printf '%s\\n' " + shq(lines) + " > " + _dir + "/ccd/moat-lab-client");
}

void vpn_lab::require_credentials(const std::string& user, const std::string& password) {
    // $1: a file with the client's username and password, one a line.
    _l.write("vpn/expected-creds", user + "\n" + password + "\n");
    auto script = _l.write("vpn/check-creds.sh", "#!/bin/sh\nprintf '%s\\n%s\\n' \"$(sed -n 1p \"$1\")\" "
                                                 "\"$(sed -n 2p \"$1\")\" | cmp -s - " + _dir + "/expected-creds\n");
    must("chmod 700 " + script);
    _server_extra = "script-security 2\nauth-user-pass-verify " + script + " via-file\n";
    restart_openvpn(SIGKILL);
}

void vpn_lab::clear_dns_log() const { sh(": > " + _dns_log); }

std::string vpn_lab::openvpn_log() const { return slurp(_dir + "/openvpn-server.log"); }

}  // namespace moat::test
