// A CNI attachment as a moat container plan: a member of the network's
// bridge with no init, whose namespace the engine owns.
//
// Names. An attachment is (network, CNI_CONTAINERID, CNI_IFNAME); its moat
// name is "p" + 10 hex digits of a hash of the three, so the host end of its
// veth ("ve-p0123456789", 14 bytes) fits IFNAMSIZ without truncation, the
// same attachment always gets the same name (a repeated DEL, a CHECK, a GC
// find it without a lookup table) and its address, allocated from the
// subnet by the same name-hash rule as a file's bridge members, is stable
// across DEL and ADD of the same container.
#pragma once

#include "cni/netconf.hpp"
#include "cni/result.hpp"
#include "plan/network.hpp"
#include "plan/plan.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>

namespace moat::cni {

std::string pod_name(const std::string& network, const std::string& container_id, const std::string& ifname);

plan::network_plan network_plan_of(const netconf& nc);

// The plan of a pod at `address` (inside nc.subnet). `uplink` is the
// interface NAT'ed traffic leaves by; `tunnel_if` the tunnel's device for
// egress "vpn".
plan::container_plan pod_plan(const netconf& nc, const std::string& name, const sys::ip_address& address,
                              const std::string& uplink, const std::string& tunnel_if);

// What an IPAM plugin leased a pod: its IPv4 address with the subnet's
// length, and the bridge's address (the result's gateway, else the subnet's
// first address).
struct lease {
    sys::ip_prefix address;
    sys::ip_address gateway;
    bool operator==(const lease&) const = default;
};

// Reads the lease of an IPAM result. moat gives a pod one IPv4 address and a
// default route through its bridge, so it refuses (error 7, naming the
// plugin): no address, an IPv6 address (CNI mode is IPv4 only), more than
// one IPv4 address, a subnet with no room for the bridge, a gateway outside
// the subnet or equal to the address, and a route through another gateway.
// Routes through the gateway (or with none) are what the pod's default
// route already does.
lease lease_of(const result& r, const std::string& ipam_type);

// nc with the subnet and bridge address of `l`.
netconf use_lease(netconf nc, const lease& l);

// Why the network as recorded (`recorded`: its bridge's address and the
// subnet's length) cannot take a pod of `nc` (nullopt: it can). All pods of
// a CNI network share one bridge and one subnet: with `subnet` it cannot
// change while pods are on it, with `ipam` every lease must lie in the
// subnet of the first and name the same gateway.
std::optional<std::string> network_change_problem(const netconf& nc, const sys::ip_prefix& recorded);

// The address for `name`: the one the name hashes to in the subnet, probing
// past `taken` (the other members' and the bridge's). Throws
// cni::error(no_address) when the subnet is full.
sys::ip_address pod_address(const netconf& nc, const std::string& name, const std::set<sys::ip_address>& taken);

}  // namespace moat::cni
