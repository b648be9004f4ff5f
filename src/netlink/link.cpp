// Links: veth pairs, bridges, state changes and listing.
#include <net/if.h>
#include <netlink/route/link/veth.h>

#include <cstring>

#include "netlink/detail.hpp"
#include "netlink/owner.hpp"
#include "sys/error.hpp"

namespace moat::netlink {

using detail::nl_ptr;
using detail::owned;

namespace {

link_info to_info(rtnl_link* l) {
    link_info out;
    out.name = rtnl_link_get_name(l) ? rtnl_link_get_name(l) : "";
    out.index = rtnl_link_get_ifindex(l);
    const char* kind = rtnl_link_get_type(l);
    out.kind = kind ? kind : "";
    out.up = (rtnl_link_get_flags(l) & IFF_UP) != 0;
    out.master = rtnl_link_get_master(l);
    out.mtu = rtnl_link_get_mtu(l);
    const char* alias = rtnl_link_get_ifalias(l);
    out.alias = alias ? alias : "";
    if (nl_addr* a = rtnl_link_get_addr(l); a != nullptr && nl_addr_get_len(a) == 6) {
        mac_address m{};
        std::memcpy(m.data(), nl_addr_get_binary_addr(a), m.size());
        out.mac = m;
    }
    return out;
}

// A change request addressed by name: RTM_NEWLINK without NLM_F_CREATE,
// ifi_index 0 and IFLA_IFNAME, which the kernel resolves itself — one
// message instead of a lookup followed by a change.
nl_ptr<rtnl_link> change_by_name(const std::string& name) {
    validate_ifname(name);
    auto changes = owned(rtnl_link_alloc());
    rtnl_link_set_name(changes.get(), name.c_str());
    return changes;
}

}  // namespace

nl_ptr<rtnl_link> socket::impl::get_link(const std::string& name) {
    validate_ifname(name);
    rtnl_link* l = nullptr;
    begin();
    int rc = rtnl_link_get_kernel(sock.get(), 0, name.c_str(), &l);
    nl_ptr<rtnl_link> owner(l);
    if (!check_missing_ok(rc, "looking up link " + name)) {
        return nullptr;
    }
    return owner;
}

int socket::impl::require_index(const std::string& name, const std::string& what) {
    auto l = get_link(name);
    if (!l) {
        throw error(ENODEV, what + ": " + std::strerror(ENODEV) + " (no link named " + name + ")");
    }
    return rtnl_link_get_ifindex(l.get());
}

nl_ptr<nl_cache> socket::impl::link_cache() {
    nl_cache* c = nullptr;
    begin();
    int rc = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &c);
    nl_ptr<nl_cache> owner(c);
    check(rc, "listing links");
    return owner;
}

void socket::create_veth(const std::string& name, const std::string& peer_name, const veth_options& opts) {
    validate_ifname(name);
    validate_ifname(peer_name);
    auto link = owned(rtnl_link_veth_alloc());
    rtnl_link_set_name(link.get(), name.c_str());
    if (!opts.master.empty()) {
        // IFLA_MASTER in the creating request: born a bridge port, one round trip.
        rtnl_link_set_master(link.get(), _impl->require_index(opts.master, "creating veth " + name));
    }
    // The peer's ifinfomsg and attributes are nested in VETH_INFO_PEER;
    // IFLA_NET_NS_FD there makes the kernel create it in that namespace
    // directly, so it never appears (or collides) in ours. Both ends are
    // born down: the peer cannot be raised in this request (the kernel
    // configures it before the pair is joined: ENOTCONN), and this end is
    // marked as moat's before it is raised (container/network.cpp says why).
    auto peer = owned(rtnl_link_veth_get_peer(link.get()));
    rtnl_link_set_name(peer.get(), peer_name.c_str());
    if (opts.peer_netns_fd >= 0) {
        rtnl_link_set_ns_fd(peer.get(), opts.peer_netns_fd);
    }
    if (opts.peer_mac) {
        auto addr = owned(nl_addr_build(AF_LLC, opts.peer_mac->data(), opts.peer_mac->size()));
        rtnl_link_set_addr(peer.get(), addr.get());
    }
    // One queue each way on both ends, asked for in the request. Without it
    // the kernel (since 5.16, "veth: create by default nr_possible_cpus
    // queues") allocates a queue per possible CPU and then cuts the real
    // count to one (veth_init_queues), and each cut is a
    // synchronize_rcu_expedited() under the RTNL (netif_set_real_num_tx_queues
    // on a registered device): two grace periods per pair, on the start path
    // of every container with a veth. The result is the same single queue.
    for (rtnl_link* l : {link.get(), peer.get()}) {
        rtnl_link_set_num_tx_queues(l, 1);
        rtnl_link_set_num_rx_queues(l, 1);
    }
    _impl->begin();
    _impl->check(rtnl_link_add(_impl->sock.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL),
                 "creating veth " + name + " (peer " + peer_name + ")");
}

void socket::create_bridge(const std::string& name, const std::optional<mac_address>& mac) {
    validate_ifname(name);
    auto link = owned(rtnl_link_alloc());
    _impl->check(rtnl_link_set_type(link.get(), "bridge"), "creating bridge " + name);
    rtnl_link_set_name(link.get(), name.c_str());
    if (mac) {
        auto addr = owned(nl_addr_build(AF_LLC, mac->data(), mac->size()));
        rtnl_link_set_addr(link.get(), addr.get());
    }
    _impl->begin();
    _impl->check(rtnl_link_add(_impl->sock.get(), link.get(), NLM_F_CREATE | NLM_F_EXCL),
                 "creating bridge " + name);
}

std::optional<int> socket::link_index(const std::string& name) {
    auto l = _impl->get_link(name);
    if (!l) {
        return std::nullopt;
    }
    return rtnl_link_get_ifindex(l.get());
}

std::optional<link_info> socket::link(const std::string& name) {
    auto l = _impl->get_link(name);
    if (!l) {
        return std::nullopt;
    }
    return to_info(l.get());
}

namespace {

void apply_change(socket::impl& s, rtnl_link* changes, const std::string& what) {
    auto orig = owned(rtnl_link_alloc());
    s.begin();
    s.check(rtnl_link_change(s.sock.get(), orig.get(), changes, 0), what);
}

}  // namespace

void socket::set_up(const std::string& name) {
    auto c = change_by_name(name);
    rtnl_link_set_flags(c.get(), IFF_UP);
    apply_change(*_impl, c.get(), "setting " + name + " up");
}

void socket::set_down(const std::string& name) {
    auto c = change_by_name(name);
    rtnl_link_unset_flags(c.get(), IFF_UP);
    apply_change(*_impl, c.get(), "setting " + name + " down");
}

void socket::set_mtu(const std::string& name, unsigned mtu) {
    auto c = change_by_name(name);
    rtnl_link_set_mtu(c.get(), mtu);
    apply_change(*_impl, c.get(), "setting mtu of " + name + " to " + std::to_string(mtu));
}

void socket::rename_link(const std::string& name, const std::string& new_name) {
    validate_ifname(new_name);
    std::string what = "renaming link " + name + " to " + new_name;
    // Here the name in the request is the new one, so address by index.
    auto orig = owned(rtnl_link_alloc());
    rtnl_link_set_ifindex(orig.get(), _impl->require_index(name, what));
    auto c = owned(rtnl_link_alloc());
    rtnl_link_set_name(c.get(), new_name.c_str());
    _impl->begin();
    _impl->check(rtnl_link_change(_impl->sock.get(), orig.get(), c.get(), 0), what);
}

void socket::set_master(const std::string& ifname, const std::string& bridge) {
    std::string what = "adding " + ifname + " to bridge " + bridge;
    auto c = change_by_name(ifname);
    rtnl_link_set_master(c.get(), _impl->require_index(bridge, what));
    apply_change(*_impl, c.get(), what);
}

void socket::clear_master(const std::string& ifname) {
    auto c = change_by_name(ifname);
    rtnl_link_set_master(c.get(), 0);
    apply_change(*_impl, c.get(), "removing " + ifname + " from its bridge");
}

void socket::move_link(const std::string& name, int netns_fd) {
    auto c = change_by_name(name);
    rtnl_link_set_ns_fd(c.get(), netns_fd);
    apply_change(*_impl, c.get(), "moving link " + name + " to another network namespace");
}

bool socket::delete_link(const std::string& name) {
    validate_ifname(name);
    auto l = owned(rtnl_link_alloc());
    rtnl_link_set_name(l.get(), name.c_str());
    _impl->begin();
    return _impl->check_missing_ok(rtnl_link_delete(_impl->sock.get(), l.get()), "deleting link " + name);
}

void socket::set_alias(const std::string& name, const std::string& alias) {
    auto c = change_by_name(name);
    rtnl_link_set_ifalias(c.get(), alias.c_str());
    apply_change(*_impl, c.get(), "marking link " + name + " as moat's (alias " + alias + ")");
}

owned_deletion socket::delete_link_if_owned(const std::string& name, const std::string& instance, bool legacy) {
    owned_deletion out;
    auto l = link(name);
    if (!l) {
        return out;
    }
    auto owner = parse_owner_alias(l->alias);
    bool ours = owner ? owner->instance == instance : l->alias.empty() && legacy;
    if (!ours) {
        out.what = owned_deletion::result::kept;
        out.alias = l->alias;
        if (owner) {
            out.reason = "link " + name + " belongs to moat instance " + owner->instance + " (" + owner->what + ")";
        } else {
            out.reason = "link " + name + " was not made by this moat instance" +
                         (l->alias.empty() ? std::string() : " (alias \"" + l->alias + "\")");
        }
        return out;
    }
    // By the index just looked at, not by name: if the name changed hands
    // in between, the link that was checked is gone (ENODEV) and the new
    // one is not touched.
    auto del = owned(rtnl_link_alloc());
    rtnl_link_set_ifindex(del.get(), l->index);
    _impl->begin();
    bool gone = _impl->check_missing_ok(rtnl_link_delete(_impl->sock.get(), del.get()), "deleting link " + name);
    out.what = gone ? owned_deletion::result::deleted : owned_deletion::result::absent;
    return out;
}

std::vector<link_info> socket::links() {
    auto cache = _impl->link_cache();
    std::vector<link_info> out;
    for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
        out.push_back(to_info(reinterpret_cast<rtnl_link*>(o)));
    }
    return out;
}

}  // namespace moat::netlink
