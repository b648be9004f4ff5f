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
#include "plan/network.hpp"
#include "plan/plan.hpp"

#include <map>
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

// The address for `name`: the one the name hashes to in the subnet, probing
// past `taken` (the other members' and the bridge's). Throws
// cni::error(no_address) when the subnet is full.
sys::ip_address pod_address(const netconf& nc, const std::string& name, const std::set<sys::ip_address>& taken);

}  // namespace moat::cni
