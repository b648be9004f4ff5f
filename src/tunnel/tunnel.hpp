// The tunnel runner: `moat __tunnel <plan JSON>`, the service that keeps one
// VPN tunnel up inside the internal `_tunnels` container (plan/tunnel.hpp).
//
// Privilege separation (daemon.hpp has the details): the runner keeps
// CAP_NET_ADMIN over the host's network namespace because it routes; the
// real daemon it starts as its child — `wireguard-go -f <device>` or
// `openvpn` — runs as a uid of its own with no capability at all, so a
// compromised daemon cannot touch `table inet moat`, the policy rules or
// tc. The runner creates the device (tun_device.hpp) and configures it:
//
//  * WireGuard: a non-persistent device whose fd wireguard-go inherits
//    (WG_TUN_FD), a UAPI socket the runner listens on (WG_UAPI_FD) and
//    configures it through (keys, peers, endpoint), then the wg-quick
//    file's addresses, and up.
//  * OpenVPN: a persistent device owned by the daemon's uid, the user's
//    file sanitised into a private directory (ovpn_file.hpp), and openvpn
//    told to leave the device alone (--ifconfig-noexec, --route-noexec);
//    openvpn connects to the runner's management socket, and the runner
//    gives the device the address of each CONNECTED state and takes it
//    down on RECONNECTING/EXITING.
//
// While the daemon lives, the runner keeps the tunnel's default route in
// the tunnel's own table whenever the device is up with an address. Routes
// go with the device or its addresses, so when the daemon dies or
// reconnects the table falls back to its `unreachable` default: confined
// traffic stops, it never takes another way. When the daemon dies the
// runner deletes the device and exits, and the init restarts it with
// back-off (a new runner first deletes a device left by one killed with
// -9; `moat down` does too). SIGTERM is passed on to the daemon. A daemon
// whose data path failed for the tunnel's healAfter is restarted by the
// runner itself, its device down first (heal.hpp).
//
// With portForwarding, a thread of the runner (forwarder.hpp) asks the
// provider's NAT-PMP gateway for a port through the tunnel each time the
// tunnel comes up, renews it, and hands it to the container (a file, its
// hook, the container's nft map and set).
#pragma once

#include "plan/tunnel.hpp"
#include "sys/inet.hpp"
#include "tunnel/daemon.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace moat::tunnel {

// Runs until the daemon exits or SIGTERM; returns the exit status.
int run(const plan::tunnel_plan& t);

// `moat __port-hook <file> <command>`, a service inside the container that
// receives a forwarded port: runs `command` (/bin/sh -c) with
// MOAT_FORWARDED_PORT=<port> each time the runner writes `file`
// (port_hook.cpp). Never returns but by an exception.
int port_hook(const std::string& file, const std::string& command);

// The unprivileged uid and gid of the tunnel's daemon: its routing table's
// number (plan::tunnel_table, 0x6d740000-0x6d74ffff), as unique per tunnel
// as the table and far above the uids people and distributions hand out.
daemon_identity daemon_identity_for(const plan::tunnel_plan& t);

// The runner's private directory (in `_tunnels`' own /run): the daemon's
// copy of an OpenVPN file and its referenced files, the management socket.
std::string private_dir(const plan::tunnel_plan& t);

// The daemon's command line (exposed for tests and `moat plan`).
std::vector<std::string> daemon_argv(const plan::tunnel_plan& t);

// WireGuard's UAPI "set" request for `c` (keys in hex, endpoints resolved).
std::string uapi_set_request(const plan::wg_config& c);

// Sends a UAPI request over the daemon's socket; throws with the daemon's errno.
void uapi_send(const std::string& socket_path, const std::string& request);
// Sends `request` and returns the daemon's whole answer (up to its empty
// line); throws when it cannot connect or no answer comes within `limit`.
std::string uapi_exchange(const std::string& socket_path, const std::string& request, std::chrono::milliseconds limit);

// Where wireguard-go's UAPI socket of `device` is, in `_tunnels`' mounts.
std::string uapi_socket_path(const std::string& device);

// One state line of OpenVPN's management interface, real-time
// (">STATE:time,name,description,local IPv4,remote,port,local addr,local
// port[,local IPv6]") or as the `state` command answers it (without the
// prefix); nullopt for any other line.
struct ovpn_state {
    std::string name;  // CONNECTED, RECONNECTING, EXITING, WAIT, AUTH, ...
    std::string detail;  // its description: SUCCESS, ping-restart, SIGUSR1, ...
    std::optional<sys::ip_address> local4, local6;  // the tunnel's own addresses
};
std::optional<ovpn_state> parse_ovpn_state(const std::string& line);

}  // namespace moat::tunnel
