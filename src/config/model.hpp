// The typed configuration model: everything PRODUCT.md's schema can say, as
// one value. TOML and JSON both load into it (loader.hpp); everything after
// loading (validation, planning, the CLI) works on this model only.
//
// Key names follow NixOS's `containers.<name>` options; the comments give the
// config key each field comes from. Every object keeps the location of its
// table and of each key, so that semantic errors found after loading still
// point at file:line:col.
#pragma once

#include "sys/inet.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moat::config {

struct location {
    std::string file;  // as given on the command line; "<stdin>" for -f -
    int line = 0;      // 1-based; 0 = unknown
    int column = 0;    // 1-based
    std::string str() const;  // "file:line:col"
};

// Locations of the keys that were present, by key name ("hostAddress", ...).
using key_locations = std::map<std::string, location>;

enum class restart_policy { no, on_failure, always };

struct service {
    std::string name;                 // services.<name>
    std::string description;          // description
    std::optional<std::string> script;  // script (run by /bin/sh -c)
    std::vector<std::string> exec;    // exec (argv; exactly one of script/exec)
    restart_policy restart = restart_policy::no;  // restart (systemd's default "no")
    std::vector<std::string> after;   // after: services of this container
    std::map<std::string, std::string> environment;  // environment
    location where;
    key_locations keys;
};

enum class egress_kind { none, nat, vpn };

struct egress_spec {
    egress_kind kind = egress_kind::none;
    std::string tunnel;  // for vpn: "vpn:<tunnel>"
    bool operator==(const egress_spec&) const = default;
};

// The one reading of an egress value, for the file's `egress` key and
// `moat run --egress`: "none", "nat" or "vpn:<tunnel>"; nullopt otherwise
// (the caller says egress_expected and where).
std::optional<egress_spec> parse_egress(std::string_view text);
inline constexpr std::string_view egress_expected = "expected \"none\", \"nat\" or \"vpn:<tunnel>\"";

// forwardPorts.side: where the forward is opened. A confined container's
// forward defaults to its tunnel (exposing it on the uplink is what a
// confined service must not be by accident), any other's to the uplink.
enum class forward_side { uplink, tunnel, both };
std::string to_string(forward_side s);

struct port_forward {
    std::string protocol = "tcp";                  // protocol: tcp | udp
    std::optional<forward_side> side;              // side: "uplink" | "tunnel" | "both" (default above)
    std::uint16_t host_port = 0;                   // hostPort
    std::uint16_t container_port = 0;              // containerPort (default: hostPort)
    std::optional<sys::ip_address> host_address;   // hostAddress: bind to one host address
    location where;
    key_locations keys;
};

struct bind_mount {
    std::string mount_point;  // the key: bindMounts."<mount point>"
    std::string host_path;    // hostPath (default: same as mount_point)
    bool read_only = true;    // isReadOnly (NixOS default true)
    location where;
};

struct firewall_spec {
    std::vector<std::uint16_t> allowed_tcp_ports;  // allowedTCPPorts: inbound to the container
    std::vector<std::uint16_t> allowed_udp_ports;  // allowedUDPPorts
    // allowedHostTCPPorts / allowedHostUDPPorts: ports of the HOST's own
    // services (on any of its addresses) the container may open connections
    // to. Everything else of the host is closed to it (docs/SECURITY.md).
    std::vector<std::uint16_t> allowed_host_tcp_ports;
    std::vector<std::uint16_t> allowed_host_udp_ports;
};

// privateUsers (NixOS): whose uids the container's run as on the host.
enum class users_mode {
    no,        // "no": root inside is the host's root (NixOS's default, not moat's)
    pick,      // "pick": a free 65536-uid range of the host, root inside = its first uid
    identity,  // "identity": uids 0-65535 map to themselves, in a user namespace of their own
    base,      // an integer: the range starting at that uid
};

struct private_users {
    users_mode mode = users_mode::pick;
    std::uint32_t base = 0;  // users_mode::base only
    bool operator==(const private_users&) const = default;
};

// allowedDevices (NixOS): a host device node the container may use.
struct allowed_device {
    std::string node;              // node: "/dev/fuse"
    std::string modifier = "rwm";  // modifier: a subset of "rwm" (read, write, mknod)
    location where;
};

struct check_settings {
    std::vector<std::string> probes;        // probe: "http://..." or "host:port", or an array (config/probe.hpp)
    std::optional<std::string> on_failure;  // onFailure (top-level [check] only)
    location where;
};

struct container {
    std::string name;                               // containers.<name>
    bool auto_start = true;                         // autoStart
    bool private_network = false;                   // privateNetwork
    std::optional<sys::ip_prefix> host_address;     // hostAddress ("a.b.c.d" or with /len)
    std::optional<sys::ip_prefix> local_address;    // localAddress
    std::optional<sys::ip_prefix> host_address6;    // hostAddress6
    std::optional<sys::ip_prefix> local_address6;   // localAddress6
    std::optional<std::string> host_bridge;         // hostBridge: a [networks.<name>]
    std::optional<egress_spec> egress;                   // egress; unset = the network's, else none
    std::vector<std::string> dns;                   // dns: resolv.conf nameservers
    std::vector<port_forward> forward_ports;        // forwardPorts
    // accessibleFrom (VPN-Confinement's key): source prefixes outside the
    // tunnel that may reach a confined container's allowed ports and forwards.
    std::vector<sys::ip_prefix> accessible_from;
    std::vector<bind_mount> bind_mounts;            // bindMounts
    std::optional<std::string> root;                // root (default: host's / read-only)
    private_users users;                            // privateUsers (default "pick")
    bool enable_tun = false;                        // enableTun: /dev/net/tun and CAP_NET_ADMIN
    std::vector<std::string> additional_capabilities;  // additionalCapabilities: "CAP_..." names
    std::vector<allowed_device> allowed_devices;    // allowedDevices
    bool ephemeral = false;                         // ephemeral
    std::vector<std::string> tmpfs;                 // tmpfs: paths that get an empty tmpfs (NixOS's key)
    std::uint64_t log_size = 1 << 20;               // logSize: bytes per log file (moat's own key)
    unsigned log_files = 2;                         // logFiles: files per log, the current one included
    firewall_spec firewall;                              // firewall.*
    std::vector<service> services;                  // services.<name>, in file order
    std::optional<check_settings> check;            // check.probe
    location where;
    key_locations keys;
};

struct network {
    std::string name;                       // networks.<name>
    sys::ip_prefix subnet;                  // subnet
    std::optional<sys::ip_prefix> subnet6;  // subnet6
    std::optional<egress_spec> egress;           // egress
    std::optional<std::string> uplink;      // uplink
    std::optional<check_settings> check;    // check.probe
    location where;
    key_locations keys;
};

enum class tunnel_type { openvpn, wireguard };

// [tunnels.<name>.portForwarding]: the provider's NAT-PMP port forwarding
// (config/port_forwarding.cpp reads and checks it; tunnel/natpmp.hpp).
struct port_forwarding {
    std::string container;                   // container: confined to this tunnel
    std::optional<sys::ip_address> gateway;  // gateway: the NAT-PMP server in the tunnel
    bool tcp = true, udp = true;             // protocols: "tcp", "udp" or both (default)
    std::uint32_t lifetime = 60;             // lifetime: seconds asked for; renewed at half
    std::optional<std::uint16_t> request_port;  // requestPort: ask this port (RFC shape), else Proton's
    std::optional<std::string> on_change;    // onChange: /bin/sh -c, in the container
    location where;
    key_locations keys;
};

struct tunnel {
    std::string name;          // tunnels.<name>
    tunnel_type type = tunnel_type::openvpn;  // type
    std::string config_path;   // config
    bool kill_switch = true;   // killSwitch
    bool in_namespace = false;  // namespace (wireguard: move the interface into the container)
    // OpenVPN's username and password, for the .ovpn's `auth-user-pass`
    // (tunnel/ovpn_file.hpp): `username` with `passwordFile` (its first
    // line is the password), or `credentialsFile` (openvpn's own format:
    // the username's line, then the password's). "" = not set.
    std::string username;          // username
    std::string password_file;     // passwordFile
    std::string credentials_file;  // credentialsFile
    // healAfter: seconds a failed data path is tolerated before the runner
    // restarts the daemon (tunnel/heal.hpp); 0 = never.
    std::uint32_t heal_after = 120;
    std::optional<port_forwarding> forwarding;  // portForwarding
    location where;
    key_locations keys;
};

enum class pipe_mode { encrypt, decrypt };

struct pipe {
    std::string name;                      // pipes.<name>
    pipe_mode mode = pipe_mode::encrypt;   // mode
    std::string source;                    // source
    std::string target;                    // target ("host:port" or "<container>:port")
    std::string key_file;                  // keyFile
    std::optional<std::string> container;  // container: run inside its network namespace
    location where;
    key_locations keys;
};

struct model {
    std::string source_file;              // the file it was loaded from
    std::vector<container> containers;    // in file order
    std::vector<network> networks;
    std::vector<tunnel> tunnels;
    std::vector<pipe> pipes;
    std::optional<check_settings> check;  // [check]
    // "file:line:col: ignored: containers.X.key (why)" for NixOS keys moat
    // accepts without acting on them (config/nixos_keys.cpp); the CLI says
    // each on stderr.
    std::vector<std::string> notices;

    const container* find_container(const std::string& name) const;
    const network* find_network(const std::string& name) const;
    const tunnel* find_tunnel(const std::string& name) const;
};

std::string to_string(egress_kind);
std::string to_string(const egress_spec&);      // "none" | "nat" | "vpn:<tunnel>"
std::string to_string(restart_policy);     // "no" | "on-failure" | "always"
std::string to_string(const private_users&);  // "no" | "pick" | "identity" | "<base>"

}  // namespace moat::config
