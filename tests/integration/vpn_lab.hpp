// The VPN tests' part of the lab (LAB.md, VPN-LAB.md): real VPN servers and
// logging DNS resolvers around the wan of network_lab.hpp. No moat logic: the
// tests give moat the client files written here and judge by what the
// servers, the resolvers and the web server see.
//
//   host  u<id> 203.0.113.10/24 ---- w<id> 203.0.113.1/24   wan   lo: 198.51.100.10 (web :80)
//                                        (proxy ARP)               198.51.100.53 (dnsmasq, logs)
//   vpn   v<id> 203.0.113.2/24  ---- vw<id> (no address, proxy ARP, route 203.0.113.2/32)
//         tun0     10.8.0.1/24  openvpn 2.6 server, udp4 :1194, pushes redirect-gateway def1
//                                       and dhcp-option DNS 10.8.0.1 (and push_to_client())
//         wgs<id>  10.9.0.1/24  wireguard-go server :51820 (own mount namespace, private /run)
//         dnsmasq on 10.8.0.1 / 10.9.0.1 forwarding to 198.51.100.53 (no cache)
//         nft: masquerade 10.8.0.0/24 and 10.9.0.0/24 out of v<id>
//
// The wan forwards between its veths and answers ARP for the other side
// (proxy ARP), so the vpn server and any namespace attached with
// attach_to_wan() sit on the host's 203.0.113.0/24 as if on one segment,
// without touching the wan's existing addresses. Through a tunnel the web
// server and the wan dnsmasq see 203.0.113.2; direct NAT from the host shows
// 203.0.113.10. IPv4 only on the vpn side (the tunnels carry no IPv6).
#pragma once

#include "lab.hpp"
#include "network_lab.hpp"

#include <signal.h>

#include <chrono>
#include <string>
#include <vector>

namespace moat::test {

inline const std::string vpn4 = "203.0.113.2";        // the VPN server: what the wan sees through a tunnel
inline const std::string dns4 = "198.51.100.53";      // the wan's logging dnsmasq
inline const std::string probe_name = "probe.lab";    // answered by it with web4 (and web6 for AAAA)
inline const std::string ovpn_subnet = "10.8.0.0/24";
inline const std::string ovpn_server4 = "10.8.0.1";   // also the DNS forwarder the server pushes
inline const std::string wg_subnet = "10.9.0.0/24";
inline const std::string wg_server4 = "10.9.0.1";     // also a DNS forwarder
inline const std::string wg_client4 = "10.9.0.2";     // the only peer the wg server accepts
inline constexpr int ovpn_port = 1194;
inline constexpr int wg_port = 51820;

// Puts namespace ns on the wan's 203.0.113.0/24 segment with address addr
// (veth <tag><id> in ns, <tag>w<id> in the wan; default route via
// 203.0.113.1). Returns the interface name inside ns. tag: 1-2 letters.
std::string attach_to_wan(lab& l, wan& w, const std::string& ns, const std::string& addr, const std::string& tag);

// Starts `wireguard-go -f ifname` in namespace ns inside its own mount
// namespace (a private tmpfs on /run, so its UAPI socket never shows in the
// machine's /var/run/wireguard, VPN-LAB.md gotcha 6). Returns its PID.
int start_wireguard_go(lab& l, const std::string& ns, const std::string& ifname, const std::string& log);
// Runs `wg <args>` (wireguard-tools) in that daemon's network and mount namespaces.
result wg(int pid, const std::string& args);

// Sends sig to pid if it is still a process named comm, then waits (up to
// limit) until it is gone. True when it is gone.
bool stop_process(int pid, const std::string& comm, int sig = SIGTERM,
                  std::chrono::milliseconds limit = std::chrono::seconds(5));
// Whether pid is a live (non-zombie) process named comm.
bool alive(int pid, const std::string& comm);

// One DNS query (type A, or AAAA when v6) for name to server:53 from
// namespace ns ("" = the lab's host): the first address answered, "" if none.
std::string ns_dns(lab& l, const std::string& ns, const std::string& server, const std::string& name,
                   bool v6 = false, int seconds = 2);

class vpn_lab {
public:
    // Builds the vpn namespace, the PKI and keys, starts both servers and the
    // two dnsmasqs, and waits until all of them are ready (throws if not).
    vpn_lab(lab& l, wan& w);
    ~vpn_lab();  // stops every process it started, by PID; the lab deletes the namespaces and files
    vpn_lab(const vpn_lab&) = delete;
    vpn_lab& operator=(const vpn_lab&) = delete;

    const std::string& ns() const { return _ns; }
    const std::string& wg_ifname() const { return _wg_if; }  // the server's interface in ns()

    // Client files for moat ([tunnels.x] config = ...), written to the lab's
    // scratch dir; returns the path. The .ovpn has everything inline.
    std::string openvpn_client_config(const std::string& file = "client.ovpn") const;
    std::string wireguard_client_config(const std::string& file = "client-wg.conf") const;
    // Keys in wg's base64 form (for a hand-configured client).
    const std::string& wg_client_private_key() const { return _wg_client_key; }
    const std::string& wg_server_public_key() const { return _wg_server_pub; }
    std::string wg_client_private_key_file() const { return _dir + "/wg-client.key"; }

    // The servers' processes. kill_* sends sig and waits until the process is
    // gone (SIGKILL after 5 s); start_* starts it again and waits until it
    // serves; restart_* is both. PIDs are 0 while stopped.
    int openvpn_pid() const { return _ovpn_pid; }
    int wireguard_pid() const { return _wg_pid; }
    void kill_openvpn(int sig = SIGTERM);
    void start_openvpn();
    void restart_openvpn(int sig = SIGTERM) { kill_openvpn(sig); start_openvpn(); }
    void kill_wireguard(int sig = SIGTERM);
    void start_wireguard();
    void restart_wireguard(int sig = SIGTERM) { kill_wireguard(sig); start_wireguard(); }

    // What the OpenVPN server pushes to the lab's client at its next
    // connection on top of the usual (its client-config-dir file, e.g.
    // "ifconfig-push 203.0.113.10 255.255.255.0"); "" = nothing more.
    void push_to_client(const std::string& lines) const;

    // From now on the OpenVPN server also checks a username and password
    // (auth-user-pass-verify via-file, a script comparing with these two);
    // restarts it. Off unless a test calls this.
    void require_credentials(const std::string& user, const std::string& password);

    // Source addresses of every query the wan dnsmasq logged, oldest first.
    std::vector<std::string> dns_clients() const;
    void clear_dns_log() const;
    std::string openvpn_log() const;  // the server's log, all runs

private:
    void stop_all() noexcept;
    void must(const std::string& cmd, const std::string& ns = "") const;
    int spawn(const std::string& ns, const std::string& cmd, const std::string& log) const;
    void make_keys() const;
    std::string pem(const std::string& file) const;

    lab& _l;
    wan& _w;
    std::string _ns, _dir, _wg_if, _wg_client_key, _wg_server_pub, _dns_log;
    std::string _server_extra;  // lines appended to the server's config
    int _ovpn_pid = 0, _wg_pid = 0, _wan_dns_pid = 0, _vpn_dns_pid = 0;
};

}  // namespace moat::test
