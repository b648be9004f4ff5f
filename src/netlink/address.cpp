// Interface addresses.
#include <linux/if_addr.h>

#include "netlink/detail.hpp"
#include "sys/error.hpp"

namespace moat::netlink {

using detail::nl_ptr;
using detail::owned;

namespace {

nl_ptr<rtnl_addr> make_addr(socket::impl& s, int ifindex, const sys::ip_prefix& local,
                            const std::optional<sys::ip_address>& peer, const std::string& what) {
    auto a = owned(rtnl_addr_alloc());
    rtnl_addr_set_ifindex(a.get(), ifindex);
    rtnl_addr_set_family(a.get(), local.address.family);
    s.check(rtnl_addr_set_local(a.get(), detail::to_nl(local).get()), what);
    if (peer) {
        if (peer->family != local.address.family) {
            throw moat::error(what + ": peer " + peer->str() + " is not of the address's family");
        }
        // libnl takes the prefix length from the peer once one is set.
        s.check(rtnl_addr_set_peer(a.get(), detail::to_nl(sys::ip_prefix{*peer, local.length}).get()), what);
    }
    rtnl_addr_set_prefixlen(a.get(), local.length);
    if (local.address.is_v6()) {
        // Without NODAD the address is "tentative" for about a second and
        // bind() to it fails with EADDRNOTAVAIL. Our links are veths and
        // bridges whose every member moat addresses itself: no duplicates.
        rtnl_addr_set_flags(a.get(), IFA_F_NODAD);
    }
    return a;
}

address_info to_info(rtnl_addr* a, std::string ifname) {
    address_info out;
    out.ifname = std::move(ifname);
    out.ifindex = rtnl_addr_get_ifindex(a);
    if (auto local = detail::from_nl(rtnl_addr_get_local(a))) {
        out.local = sys::ip_prefix{*local, rtnl_addr_get_prefixlen(a)};
    }
    auto peer = detail::from_nl(rtnl_addr_get_peer(a));
    if (peer && peer != out.local.address) {
        out.peer = peer;
    }
    out.tentative = (rtnl_addr_get_flags(a) & IFA_F_TENTATIVE) != 0;
    out.scope = rtnl_addr_get_scope(a);
    return out;
}

}  // namespace

void socket::add_address(const std::string& ifname, const sys::ip_prefix& local,
                         std::optional<sys::ip_address> peer) {
    std::string what = "adding address " + local.str() + (peer ? " peer " + peer->str() : "") + " to " + ifname;
    auto a = make_addr(*_impl, _impl->require_index(ifname, what), local, peer, what);
    _impl->begin();
    _impl->check(rtnl_addr_add(_impl->sock.get(), a.get(), NLM_F_EXCL), what);
}

bool socket::delete_address(const std::string& ifname, const sys::ip_prefix& local) {
    std::string what = "deleting address " + local.str() + " from " + ifname;
    auto index = link_index(ifname);
    if (!index) {
        return false;  // the link, and so the address, is gone
    }
    auto a = make_addr(*_impl, *index, local, std::nullopt, what);
    _impl->begin();
    return _impl->check_missing_ok(rtnl_addr_delete(_impl->sock.get(), a.get(), 0), what);
}

std::vector<address_info> socket::addresses(const std::string& ifname) {
    int only = 0;
    nl_ptr<nl_cache> links;
    if (!ifname.empty()) {
        only = _impl->require_index(ifname, "listing addresses of " + ifname);
    } else {
        links = _impl->link_cache();
    }
    nl_cache* c = nullptr;
    _impl->begin();
    int rc = rtnl_addr_alloc_cache(_impl->sock.get(), &c);
    nl_ptr<nl_cache> cache(c);
    _impl->check(rc, "listing addresses");

    std::vector<address_info> out;
    for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
        auto* a = reinterpret_cast<rtnl_addr*>(o);
        int index = rtnl_addr_get_ifindex(a);
        int family = rtnl_addr_get_family(a);
        if ((only && index != only) || (family != AF_INET && family != AF_INET6)) {
            continue;
        }
        std::string name = ifname;
        if (links) {
            char buf[IFNAMSIZ] = {};
            name = rtnl_link_i2name(links.get(), index, buf, sizeof buf) ? buf : "";
        }
        out.push_back(to_info(a, std::move(name)));
    }
    return out;
}

}  // namespace moat::netlink
