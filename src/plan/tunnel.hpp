// Planning VPN tunnels: the device, routing table and daemon of each
// `[tunnels.<name>]` that a selected container is confined to, and the
// wg-quick file format WireGuard tunnels are written in.
//
// A tunnel's runner `moat __tunnel <plan JSON>` (src/tunnel) is the service
// "tunnel-<name>" of the internal container `_tunnels`, which shares the
// host's network (the tunnel device lives there) but has its own mounts (so
// wireguard-go's control socket under /run/wireguard and the runner's
// directory for the daemon under /run/moat-tunnel are private) and the
// init's supervision: restart with back-off, logs, status, stop on `down`.
// The runner creates the device, starts the daemon (openvpn, wireguard-go)
// as an unprivileged uid of the tunnel's own, configures the device and
// keeps the tunnel's default route in its table while the device is up.
// The files a tunnel's config names are bound into `_tunnels` at their own
// paths, for the runner to copy for its daemon.
#pragma once

#include "config/model.hpp"
#include "plan/host_secrets.hpp"
#include "plan/plan.hpp"
#include "plan/port_forwarding.hpp"
#include "sys/inet.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace moat::plan {

inline constexpr const char* tunnels_container = "_tunnels";

// Priority of the rules that send confined sources into a tunnel's table
// (converge/routing.hpp).
inline constexpr std::uint32_t confined_rule_priority = 10000;
// The tunnel runner's rules for the tunnel's own addresses: a priority of
// their own, so the runner can tell its rules from the containers' and
// drop those of addresses the device no longer has.
inline constexpr std::uint32_t tunnel_address_rule_priority = confined_rule_priority + 1;

struct wg_peer {
    std::string public_key;     // base64, as in the file
    std::string preshared_key;  // base64 or ""
    std::string endpoint;       // "host:port" or ""
    int endpoint_line = 0;      // its line in the file
    std::vector<sys::ip_prefix> allowed_ips;
    int keepalive = 0;          // seconds, 0 = off
};

struct wg_config {
    std::string private_key;    // base64
    std::optional<int> listen_port;
    std::optional<unsigned> mtu;  // MTU = ...; the runner sets the device's (else 1420)
    std::vector<sys::ip_prefix> addresses;
    std::vector<int> address_lines;  // each address's line in the file
    std::vector<std::string> dns;
    std::vector<std::string> dns_search;  // DNS entries that are names: search domains, as wg-quick takes them
    std::vector<wg_peer> peers;
};

// Parses a wg-quick style file (`[Interface]`, `[Peer]`; wg-quick's own
// keys such as Table, PostUp or SaveConfig are ignored, never executed;
// MTU is the device's, which moat's runner creates).
// Throws moat::usage_error "<file>:<line>: ..." for what it cannot use.
wg_config parse_wg_quick(const std::string& text, const std::string& file);

struct tunnel_plan {
    std::string name;
    std::string type;         // "openvpn" | "wireguard"
    std::string config_path;
    std::string device;       // "tn-<name>"
    std::uint32_t table = 0;  // the tunnel's routing table
    bool kill_switch = true;
    std::uint32_t heal_after = 120;         // healAfter, seconds (tunnel/heal.hpp); 0 = never
    std::vector<sys::ip_prefix> addresses;  // WireGuard: the device's addresses (openvpn: pushed)
    std::vector<std::string> dns;           // WireGuard: DNS = ...
    std::vector<std::string> dns_search;    // and its search domains
    // OpenVPN: the files the config names by path (absolute), bound into
    // `_tunnels` at their own paths so the runner can copy them for the
    // daemon (tunnel/ovpn_file.hpp).
    std::vector<std::string> files;
    // The content of the config and of each file in `files` (path -> digest,
    // plan/digest.hpp): an edited file changes `_tunnels`' plan, and `up`
    // restarts the runners with fresh binds of the files.
    std::map<std::string, std::string> digests;
    // OpenVPN's credentials from the tunnel's keys ("" = not set): the
    // runner writes the daemon's auth file from them at each start. Only
    // paths travel in the plan (it lands in the state record and in the
    // runner's argv), never the password; the files are bound into
    // `_tunnels` and their digests are in `digests`.
    std::string username, password_file, credentials_file;
    // WireGuard: each hostname Endpoint of the file as resolved at `up`
    // ("vpn.example:51820" -> "198.51.100.7:51820"; plan/tunnel_checks.hpp).
    std::map<std::string, std::string> endpoints;
    // portForwarding (plan/port_forwarding.hpp): what the runner maps.
    std::optional<forwarding_plan> forwarding;
    bool operator==(const tunnel_plan&) const = default;
};

std::string tunnel_device(const std::string& tunnel);
// 0x6d740000 + 16 bits of the name's hash: stable, far from the tables
// people number by hand (1-255) and from main/local.
std::uint32_t tunnel_table(const std::string& tunnel);

// Reads the tunnel's file (WireGuard: parsed for addresses and DNS;
// OpenVPN: for the files it names, each of which must be readable). No
// file it reads or names may be one of `secrets` (host_secrets.hpp).
// Throws moat::usage_error pointing at the tunnel's `config` key.
tunnel_plan plan_tunnel(const config::tunnel& t, const host_secrets& secrets);

// Settings that would weaken or change confinement (killSwitch = false,
// namespace = true) are refused, never ignored: usage_error at the key.
void refuse_unsupported(const config::tunnel& t);

// Every host file a tunnel of `m` depends on that no container may see:
// its config, the files an OpenVPN config names, its credentials files.
// Best effort for files that cannot be read now (the planner refuses them
// for the tunnels `up` starts).
std::vector<std::string> tunnel_secret_files(const config::model& m);

nlohmann::json to_json(const tunnel_plan& t);
tunnel_plan tunnel_from_json(const nlohmann::json& j);

// The tunnels the internal `_tunnels` container's runners serve, read
// back from their services' arguments (what was actually started).
std::vector<tunnel_plan> tunnels_served(const container_plan& tunnels_host);

// Confines the plans whose egress is "vpn:<tunnel>" (their egress becomes
// "vpn", `tunnel`/`tunnel_if` are set, their DNS defaults to the tunnel's)
// and returns the tunnels they use; adds the `_tunnels` container that runs
// the daemons — of those tunnels and of `also_running` — to `plans` when
// there are any.
// `state_dir` holds the directories of forwarded ports (port_forwarding.hpp).
std::vector<tunnel_plan> plan_tunnels(const config::model& m, std::vector<container_plan>& plans,
                                      const std::string& moat_exe, const std::set<std::string>& also_running = {},
                                      const std::string& state_dir = "/var/lib/moat");

}  // namespace moat::plan
