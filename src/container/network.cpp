#include "container/network.hpp"

#include "netlink/netlink.hpp"
#include "netlink/owner.hpp"
#include "netlink/sysctl.hpp"
#include "sys/error.hpp"
#include "sys/hash.hpp"
#include "sys/unique_fd.hpp"

#include <fcntl.h>

#include <cstdio>

namespace moat::container {

namespace {

void add_pair(netlink::socket& host, netlink::socket& inner, const std::string& host_if, const std::string& inner_if,
              const plan::address_pair& ap) {
    if (ap.point_to_point && ap.host.address.is_v4()) {
        // nixos-container style: /32 on each end with the other as peer;
        // the kernel installs the host route to the peer.
        host.add_address(host_if, ap.host, ap.local.address);
        inner.add_address(inner_if, ap.local, ap.host.address);
    } else if (ap.point_to_point) {
        // libnl 3.7 cannot set an IPv6 peer: /128 on each end plus an
        // explicit host route to the other end, as nixos-container does.
        host.add_address(host_if, ap.host);
        inner.add_address(inner_if, ap.local);
        netlink::route to_local;
        to_local.destination = ap.local;
        to_local.dev = host_if;
        host.add_route(to_local);
        netlink::route to_host;
        to_host.destination = ap.host;
        to_host.dev = inner_if;
        inner.add_route(to_host);
    } else {
        host.add_address(host_if, ap.host);
        inner.add_address(inner_if, ap.local);
    }
}

// The container's eth0 gets an address derived from its name and IP
// addresses: recreated (a repair, a restart) it has the same MAC, so the
// neighbour entries that the host and other bridge members still hold for
// its IP stay right, instead of pointing at a MAC that is gone for the
// 30-45 s the kernel takes to notice.
netlink::mac_address eth0_mac(const plan::container_plan& plan) {
    std::string key = plan.name;
    for (const auto* pair : {&plan.v4, &plan.v6}) {
        if (*pair) {
            key += "/" + (*pair)->local.address.str();
        }
    }
    auto h = sys::fnv1a(key);
    netlink::mac_address mac{0x02};  // locally administered, unicast
    for (std::size_t i = 1; i < mac.size(); ++i) {
        mac[i] = static_cast<std::uint8_t>(h >> (8 * i));
    }
    return mac;
}

void wire_veth_with(netlink::socket& host, netlink::socket& inner, const plan::container_plan& plan, int netns_fd,
                    const std::string& inner_if, const std::string& instance, bool raise_bridge_port = true,
                    bool default_route = true) {
    if (plan.host_if.empty()) {
        return;
    }
    // A point-to-point end is up at once: the kernel refuses routes through
    // a link that is down. A bridge port's routes are the peer's, which
    // only needs itself up (its carrier may wait).
    bool up = plan.bridge_if.empty() || raise_bridge_port;
    // Marked while down, raised after. On a link that is up an alias change
    // is a NETDEV_CHANGE, which IPv6 answers, on a link whose peer is still
    // down, by walking every route of the namespace (rt6_sync_down_dev): one
    // walk per container over a tree that grows with the containers, N² at
    // N = 1000 (issue 17); on a link that is down it notifies nothing. One
    // request more per container, whatever N.
    host.create_veth(plan.host_if, inner_if, {netns_fd, plan.bridge_if, eth0_mac(plan)});
    host.set_alias(plan.host_if, netlink::owner_alias(instance, "container " + plan.name));
    if (up) {
        host.set_up(plan.host_if);
    }
    inner.set_up(inner_if);
    // route_localnet off whatever the host's conf/default says: on, the host
    // takes the container's frames for 127.0.0.0/8 (CVE-2020-8558). converge
    // turns it on for the link only while a forward from 127.0.0.1 needs it.
    netlink::set_sysctl("net/ipv4/conf/" + plan.host_if + "/route_localnet", "0");
    if (!plan.bridge_if.empty()) {
        // A bridge port: the host's address and forwarding live on the bridge.
        for (const auto* pair : {&plan.v4, &plan.v6}) {
            if (*pair) {
                inner.add_address(inner_if, (*pair)->local);
            }
        }
    } else {
        for (const auto* pair : {&plan.v4, &plan.v6}) {
            if (*pair) {
                add_pair(host, inner, plan.host_if, inner_if, **pair);
            }
        }
        // The veth is the container's router.
        netlink::set_sysctl("net/ipv4/conf/" + plan.host_if + "/forwarding", "1");
    }
    for (const auto* pair : {&plan.v4, &plan.v6}) {
        if (*pair && default_route) {
            netlink::route r;
            r.family = (*pair)->host.address.family;
            r.gateway = (*pair)->host.address;
            r.dev = inner_if;
            inner.add_route(r);
        }
    }
}

}  // namespace

void check_link_free(const plan::container_plan& plan, const std::string& instance) {
    if (plan.host_if.empty()) {
        return;
    }
    auto host = netlink::socket::open();
    auto link = host.link(plan.host_if);
    if (!link) {
        return;
    }
    auto owner = netlink::parse_owner_alias(link->alias);
    if (owner && owner->instance == instance) {
        host.delete_link_if_owned(plan.host_if, instance, false);  // ours, left by a failed run
        return;
    }
    throw moat::error("container " + plan.name + ": interface " + plan.host_if + " exists: " +
                      (owner ? "it belongs to moat instance " + owner->instance + " (" + owner->what + ")"
                             : std::string("moat did not create it (the host's own, or an older moat's)")));
}

void wire_network(const plan::container_plan& plan, pid_t pid, const std::string& instance) {
    // lo: the init raises it itself (init_main.cpp); without a veth there
    // is nothing else to wire.
    if (plan.host_if.empty()) {
        return;
    }
    std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/net";
    sys::unique_fd ns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) {
        throw sys::errno_error("opening " + ns_path);
    }
    auto inner = netlink::socket::open_in(ns.get());
    auto host = netlink::socket::open();
    wire_veth_with(host, inner, plan, ns.get(), "eth0", instance);
}

void wire_veth(netlink::socket& host, netlink::socket& inner, const plan::container_plan& plan, int netns_fd,
               const std::string& inner_if, const std::string& instance, bool default_route) {
    wire_veth_with(host, inner, plan, netns_fd, inner_if, instance, false, default_route);
}

void raise_host_end(netlink::socket& host, const plan::container_plan& plan) {
    if (!plan.host_if.empty()) {
        host.set_up(plan.host_if);
    }
}

void unwire_network(const std::string& host_if, const std::string& instance) {
    auto host = netlink::socket::open();
    auto d = host.delete_link_if_owned(host_if, instance);
    if (d.what == netlink::owned_deletion::result::kept) {
        std::fprintf(stderr, "moat: note: left %s alone: %s\n", host_if.c_str(), d.reason.c_str());
    }
}

}  // namespace moat::container
