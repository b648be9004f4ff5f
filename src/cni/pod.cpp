#include "cni/pod.hpp"

#include "config/model.hpp"
#include "sys/error.hpp"
#include "sys/hash.hpp"

#include <cstdio>

namespace moat::cni {

std::string pod_name(const std::string& network, const std::string& container_id, const std::string& ifname) {
    // '\n' cannot occur in any of the three (protocol.hpp), so the key is
    // unambiguous.
    auto h = sys::fnv1a(network + "\n" + container_id + "\n" + ifname);
    char buf[16];
    std::snprintf(buf, sizeof buf, "p%010llx", static_cast<unsigned long long>(h & 0xffffffffffULL));
    return buf;
}

plan::network_plan network_plan_of(const netconf& nc) {
    config::network n;
    n.name = nc.moat_network;
    n.subnet = nc.subnet;
    auto p = plan::plan_network(n);
    if (nc.gateway) {
        p.gateway = {*nc.gateway, nc.subnet.length};  // the IPAM plugin's, not the subnet's first
    }
    p.keep_idle = nc.keep_idle;
    if (nc.keep_idle && nc.egress == "vpn") {
        p.keep_tunnel = nc.tunnel;
    }
    return p;
}

namespace {

[[noreturn]] void refuse(const std::string& type, const std::string& what) {
    throw error(code::invalid_config, "the IPAM plugin \"" + type + "\" " + what);
}

// The subnet's network and broadcast addresses: no host may have them.
bool edge_of(const sys::ip_prefix& net, const sys::ip_address& a) {
    auto last = sys::nth_address(net, (std::uint64_t{1} << (32 - net.length)) - 1);
    return a == net.network().address || (last && a == *last);
}

void check_routes(const result& r, const lease& l, const std::string& type) {
    for (const auto& rt : r.routes) {
        auto dst = sys::ip_prefix::parse(rt.dst);
        if (!dst || !dst->address.is_v4()) {
            refuse(type, "returned the IPv6 route " + rt.dst + ": moat's CNI mode is IPv4 only");
        }
        if (!rt.gw.empty() && sys::ip_address::parse(rt.gw) != l.gateway) {
            refuse(type, "returned the route " + rt.dst + " via " + rt.gw + ": moat routes a pod only through its "
                                                                         "bridge, the gateway " + l.gateway.str());
        }
    }
}

}  // namespace

lease lease_of(const result& r, const std::string& type) {
    const ip_config* v4 = nullptr;
    for (const auto& ip : r.ips) {
        auto p = sys::ip_prefix::parse(ip.address);
        if (!p || !p->address.is_v4()) {
            refuse(type, "leased the IPv6 address " + ip.address +
                             ": moat's CNI mode is IPv4 only (give the plugin IPv4 ranges only)");
        }
        if (v4 != nullptr) {
            refuse(type, "leased more than one IPv4 address (" + v4->address + ", " + ip.address +
                             "): moat gives a pod one (give the plugin one range)");
        }
        v4 = &ip;
    }
    if (v4 == nullptr) {
        refuse(type, "leased no address");
    }
    lease l{*sys::ip_prefix::parse(v4->address), {}};
    if (l.address.length > 30) {
        refuse(type, "leased " + v4->address + ": a subnet smaller than /30 has no room for the bridge's address "
                                               "beside the pod's");
    }
    auto net = l.address.network();
    auto gw = v4->gateway.empty() ? sys::nth_address(net, 1) : sys::ip_address::parse(v4->gateway);
    if (!gw || !gw->is_v4() || !net.contains(*gw) || edge_of(net, *gw)) {
        refuse(type, "gives the gateway " + v4->gateway + ", not a host of the lease's subnet " + net.str() +
                         ": the bridge's address must be in the pod's subnet");
    }
    l.gateway = *gw;
    if (l.gateway == l.address.address || edge_of(net, l.address.address)) {
        refuse(type, "leased " + v4->address + ", which the bridge (" + l.gateway.str() +
                         ") or the subnet's network or broadcast address has");
    }
    check_routes(r, l, type);
    return l;
}

netconf use_lease(netconf nc, const lease& l) {
    nc.subnet = l.address.network();
    nc.gateway = l.gateway;
    return nc;
}

std::optional<std::string> network_change_problem(const netconf& nc, const sys::ip_prefix& recorded) {
    auto wanted = network_plan_of(nc).gateway;
    if (recorded == wanted) {
        return std::nullopt;
    }
    if (nc.ipam_type.empty()) {
        return "network " + nc.network + " has pods on " + recorded.network().str() + "; its subnet cannot change to " +
               nc.subnet.str() + " while they run";
    }
    if (recorded.network() != wanted.network()) {
        return "the IPAM plugin \"" + nc.ipam_type + "\" leased an address in " + wanted.network().str() +
               ", outside " + recorded.network().str() + " that the pods of network " + nc.network +
               " are on: all pods of a CNI network share one bridge and one subnet";
    }
    return "the IPAM plugin \"" + nc.ipam_type + "\" gives the gateway " + wanted.address.str() + ", but network " +
           nc.network + "'s bridge has " + recorded.address.str();
}

sys::ip_address pod_address(const netconf& nc, const std::string& name, const std::set<sys::ip_address>& taken) {
    auto reserved = taken;
    reserved.insert(network_plan_of(nc).gateway.address);
    try {
        return plan::allocate(nc.subnet, {name}, reserved, {}).at(name);
    } catch (const usage_error& e) {
        throw error(code::no_address, "no free address", e.what());
    }
}

plan::container_plan pod_plan(const netconf& nc, const std::string& name, const sys::ip_address& address,
                              const std::string& uplink, const std::string& tunnel_if) {
    auto net = network_plan_of(nc);
    plan::container_plan p;
    p.name = name;
    p.hostname = name;
    p.private_network = true;
    p.network = net.name;
    p.bridge_if = net.bridge_if;
    p.host_if = plan::host_link_name(name);
    p.v4 = plan::address_pair{net.gateway, {address, nc.subnet.length}, false};
    p.egress = nc.egress;
    p.uplink = uplink;
    if (nc.egress == "vpn") {
        p.tunnel = nc.tunnel;
        p.tunnel_if = tunnel_if;
    }
    for (const auto& m : nc.port_mappings) {
        plan::forward_plan f;
        f.protocol = m.protocol;
        f.host_port = m.host_port;
        f.container_port = m.container_port;
        f.host_address = m.host_ip;
        f.side = nc.egress == "vpn" ? "tunnel" : "uplink";
        p.forwards.push_back(f);
    }
    p.tcp_ports = nc.tcp_ports;
    p.udp_ports = nc.udp_ports;
    p.dns = nc.nameservers;
    p.users = "no";  // no user namespace of moat's: the engine made the pod's
    p.services.clear();
    return p;
}

}  // namespace moat::cni
