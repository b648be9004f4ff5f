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
    return plan::plan_network(n);
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
