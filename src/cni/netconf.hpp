// What a `"type": "moat"` network configuration asks for: the keys moat
// reads from the request configuration, checked before anything is touched.
//
// Theory of operation. A CNI network is a moat bridge network of its own
// ("cni-<name>", bridge "mb-cni-<name>"), and each attachment a member of it
// with no init: the engine owns the pod's namespaces and processes, moat
// owns the link, the addresses, the routes and the firewall. Unknown keys
// are refused (code 2, naming key and value) as moat refuses them in its
// own files: a misspelt "egres" must not silently mean "nat".
#pragma once

#include "cni/protocol.hpp"
#include "sys/inet.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moat::cni {

// runtimeConfig.portMappings, as the reference `portmap` plugin reads it.
struct port_mapping {
    std::string protocol = "tcp";
    std::uint16_t host_port = 0;
    std::uint16_t container_port = 0;
    std::optional<sys::ip_address> host_ip;
    bool operator==(const port_mapping&) const = default;
};

struct netconf {
    std::string network;       // the CNI network's name
    std::string moat_network;  // "cni-<name>": its name among moat's networks
    sys::ip_prefix subnet;     // IPv4; the bridge takes the first address (or `gateway`)
    std::string ipam_type;     // "ipam": {"type": ...}; "" = moat allocates from `subnet`
    // With ipam: the bridge's address when the lease names one (cni/pod.hpp
    // use_lease); unset = the subnet's first address.
    std::optional<sys::ip_address> gateway;
    std::string egress = "nat";  // "none" | "nat" | "vpn"
    std::string tunnel;          // egress "vpn": the tunnel's name in moatConfig
    std::string moat_config;     // a moat configuration file (its [tunnels])
    std::string state_dir = "/run/moat";
    bool keep_idle = false;  // keepWhenIdle: the bridge and the tunnel stay after the last pod
    std::vector<std::uint16_t> tcp_ports;  // allowedTCPPorts: reachable from the host and the network
    std::vector<std::uint16_t> udp_ports;
    std::vector<std::string> nameservers;   // dns.nameservers, passed through to the result
    std::vector<std::string> search;
    std::vector<port_mapping> port_mappings;
};

// Throws cni::error: unsupported_field (2) for a key moat does not know or
// does not support yet, invalid_config (7) for a bad value or for both or
// neither of `subnet` and `ipam`. With `ipam` the subnet is not known yet:
// it comes from the first lease (cni/pod.hpp).
netconf parse_netconf(const request& r);

}  // namespace moat::cni
