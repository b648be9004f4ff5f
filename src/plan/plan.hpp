// Planning: from the configuration model to the concrete things `up` makes
// for one container — link names, addresses with their prefix lengths,
// routes, firewall inputs, mounts and the services its init will run.
//
// A plan is a plain value with a canonical JSON form. The JSON is what the
// state record keeps (so `down`, `status` and the firewall renderer work from
// what was actually made, even when the config file has changed since), and
// its hash is how `up` tells an unchanged container from a changed one.
//
// Point-to-point addressing follows nixos-container: an address written
// without a prefix length is a /32 (/128) whose peer is the other end, so
// the kernel installs the host route to the peer and nothing else.
#pragma once

#include "config/model.hpp"
#include "sys/inet.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace moat::plan {

// Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
inline constexpr std::size_t max_ifname = 15;

// "<prefix><name>"; names too long for that keep a prefix and a hash
// suffix so they stay unique and recognisable: "ve-averylo-1a2b".
std::string link_name(const std::string& prefix, const std::string& name);
// A container's host-side veth: "ve-<name>".
std::string host_link_name(const std::string& container);

struct address_pair {
    sys::ip_prefix host;   // host end, e.g. 10.171.1.1/32
    sys::ip_prefix local;  // container end
    bool point_to_point = true;  // no prefix written: /32 + peer
    bool operator==(const address_pair&) const = default;
};

struct service_plan {
    std::string name;
    std::vector<std::string> argv;
    std::map<std::string, std::string> environment;
    std::string restart = "no";
    std::vector<std::string> after;
};

struct mount_plan {
    std::string host_path;
    std::string mount_point;
    bool read_only = true;
};

// A host device node the container may open (config's allowedDevices,
// enableTun): bound into its /dev and allowed by its device filter.
struct device_plan {
    std::string node;           // the host's node, e.g. "/dev/fuse"
    char type = 'c';            // 'c' | 'b'
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
    std::string access = "rw";  // a subset of "rwm"
    bool operator==(const device_plan&) const = default;
};

// A file of the host the container's services must read though the
// container may not see the host's copy (a pipe's key): the host side reads
// it at start and the init writes a copy, owned by the container's root
// and mode 0400, at `path` in the container's private /run.
struct secret_plan {
    std::string host_path;
    std::string path;
    // plan/digest.hpp: the key's content is part of the plan, so a rotated
    // key recreates the container that reads it.
    std::string digest;
    bool operator==(const secret_plan&) const = default;
};

struct forward_plan {
    std::string protocol = "tcp";
    std::uint16_t host_port = 0;
    std::uint16_t container_port = 0;
    std::optional<sys::ip_address> host_address;  // unset: any local address of the host
    // "uplink" (every interface but moat's tunnels), "tunnel" (only the
    // container's tunnel device), "both"; resolved by plan_host().
    std::string side = "uplink";
    bool operator==(const forward_plan&) const = default;
};

struct container_plan {
    std::string name;
    std::string hostname;
    bool private_network = false;
    std::string host_if;  // empty: no veth (shared or loopback-only network)
    std::string network;    // hostBridge: the network it joins; empty = point-to-point
    std::string bridge_if;  // that network's bridge, the veth's master
    std::optional<address_pair> v4;
    std::optional<address_pair> v6;
    std::string egress = "none";
    // The interface NAT'ed and forwarded traffic uses on the host, resolved
    // at `up` (the network's `uplink`, else the default route's). Not part of
    // the hash: a new default route must not restart services.
    std::string uplink;
    std::vector<forward_plan> forwards;
    // accessibleFrom: sources outside the tunnel that may reach a confined
    // container's allowed ports and forwards (firewall.hpp).
    std::vector<sys::ip_prefix> accessible_from;
    std::string tunnel;     // egress "vpn": the tunnel's name
    std::string tunnel_if;  // and its device
    // The internal `_tunnels` container: its services (the tunnel daemons)
    // keep CAP_NET_ADMIN and see /dev/net/tun.
    bool tunnel_host = false;
    // What `moat check` reaches from inside (config/probe.hpp): check.probe
    // of the container, else of its network, else [check].
    std::vector<std::string> probes;
    std::string on_failure;  // [check] onFailure: run by `moat check --watch` when a check fails
    std::vector<std::string> dns;
    std::vector<std::string> dns_search;  // resolv.conf's search line: a tunnel's, with its DNS
    std::vector<std::uint16_t> tcp_ports;
    std::vector<std::uint16_t> udp_ports;
    std::vector<std::uint16_t> host_tcp_ports;  // the host's own services it may reach
    std::vector<std::uint16_t> host_udp_ports;
    // privateUsers: "no" | "pick" | "identity" | "base" (users_base set);
    // the range a "pick" gets is chosen at start and kept in the record.
    std::string users = "pick";
    std::uint32_t users_base = 0;
    std::vector<std::string> capabilities;  // kept beyond the default set ("CAP_NET_ADMIN", ...)
    std::vector<device_plan> devices;
    std::string root = "/";
    bool root_read_only = true;
    bool ephemeral = false;
    std::vector<std::string> tmpfs;  // tmpfs: paths that get an empty tmpfs of their own
    std::vector<mount_plan> mounts;
    std::vector<secret_plan> secrets;
    std::vector<service_plan> services;  // in start order (`after` resolved)
    // logSize, logFiles: the cap of each of its logs (init/log_file.hpp).
    std::uint64_t log_size = 1 << 20;
    unsigned log_files = 2;
};

// Throws moat::usage_error (at the key) when an allowedDevices node is not a
// device on this host.
container_plan plan_container(const config::container& c);

// Whether the plan gives the container a user namespace of its own.
inline bool has_user_namespace(const container_plan& p) { return p.users != "no"; }

nlohmann::json to_json(const container_plan& p);
container_plan plan_from_json(const nlohmann::json& j);
// The egress as the configuration spells it: "none", "nat", "vpn:<tunnel>".
std::string egress_label(const container_plan& p);

// Stable hash of the canonical JSON (FNV-1a 64, hex) without `uplink`:
// equal plans, equal hashes.
std::string hash(const container_plan& p);

// Orders services so that each comes after those it names in `after`
// (stable: file order otherwise). The config validator rejects cycles first.
std::vector<const config::service*> start_order(const std::vector<config::service>& services);

}  // namespace moat::plan
