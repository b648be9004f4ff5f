// Routes: unicast via gateway and/or device, and the "no fall-through" types
// (unreachable, blackhole, prohibit) that the VPN kill switch relies on.
#include <linux/rtnetlink.h>

#include "netlink/detail.hpp"
#include "sys/error.hpp"

namespace moat::netlink {

using detail::nl_ptr;
using detail::owned;

namespace {

std::string type_name(route_type t) {
    switch (t) {
    case route_type::unicast: return "";
    case route_type::local: return "local ";
    case route_type::broadcast: return "broadcast ";
    case route_type::anycast: return "anycast ";
    case route_type::multicast: return "multicast ";
    case route_type::blackhole: return "blackhole ";
    case route_type::unreachable: return "unreachable ";
    case route_type::prohibit: return "prohibit ";
    case route_type::throw_route: return "throw ";
    }
    return "type " + std::to_string(static_cast<int>(t)) + " ";
}

int route_family(const route& r) {
    int family = r.family;
    for (const sys::ip_address* a : {r.destination ? &r.destination->address : nullptr,
                                     r.gateway ? &*r.gateway : nullptr, r.source ? &*r.source : nullptr}) {
        if (!a) {
            continue;
        }
        if (family && a->family != family) {
            throw moat::error("route " + r.str() + ": mixes IPv4 and IPv6");
        }
        family = a->family;
    }
    if (family != AF_INET && family != AF_INET6) {
        throw moat::error("route " + r.str() + ": needs a family (AF_INET or AF_INET6)");
    }
    return family;
}

// The scope `ip route` would choose, set explicitly because libnl's guess
// makes unreachable/blackhole routes link-scoped, and a delete must match
// the scope of routes made by either.
std::uint8_t route_scope(const route& r) {
    switch (r.type) {
    case route_type::local: return RT_SCOPE_HOST;
    case route_type::broadcast:
    case route_type::anycast:
    case route_type::multicast: return RT_SCOPE_LINK;
    case route_type::unicast: return r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
    default: return RT_SCOPE_UNIVERSE;
    }
}

nl_ptr<rtnl_route> make_route(socket::impl& s, const route& r, bool for_delete, const std::string& what) {
    int family = route_family(r);
    auto rt = owned(rtnl_route_alloc());
    s.check(rtnl_route_set_family(rt.get(), static_cast<std::uint8_t>(family)), what);
    rtnl_route_set_table(rt.get(), r.table);
    s.check(rtnl_route_set_type(rt.get(), static_cast<std::uint8_t>(r.type)), what);
    rtnl_route_set_scope(rt.get(), route_scope(r));
    rtnl_route_set_priority(rt.get(), r.metric);
    if (!for_delete) {
        // On delete, leave the protocol out so that any route with these
        // keys matches, whoever made it.
        rtnl_route_set_protocol(rt.get(), r.protocol);
    }
    auto dst = r.destination ? detail::to_nl(r.destination->network()) : detail::any_nl(family);
    s.check(rtnl_route_set_dst(rt.get(), dst.get()), what);
    if (r.source) {
        s.check(rtnl_route_set_pref_src(rt.get(), detail::to_nl(*r.source).get()), what);
    }
    if (r.gateway || !r.dev.empty()) {
        auto nh = owned(rtnl_route_nh_alloc());
        if (r.gateway) {
            rtnl_route_nh_set_gateway(nh.get(), detail::to_nl(*r.gateway).get());
        }
        if (!r.dev.empty()) {
            rtnl_route_nh_set_ifindex(nh.get(), s.require_index(r.dev, what));
        }
        rtnl_route_add_nexthop(rt.get(), nh.release());  // the route owns it now
    }
    return rt;
}

route to_route(rtnl_route* rt, nl_cache* links) {
    route out;
    out.family = rtnl_route_get_family(rt);
    auto dst = detail::prefix_from_nl(rtnl_route_get_dst(rt));
    if (dst && dst->length > 0) {
        out.destination = dst;
    }
    out.source = detail::from_nl(rtnl_route_get_pref_src(rt));
    out.table = rtnl_route_get_table(rt);
    out.metric = rtnl_route_get_priority(rt);
    out.type = static_cast<route_type>(rtnl_route_get_type(rt));
    out.protocol = rtnl_route_get_protocol(rt);
    if (rtnl_route_get_nnexthops(rt) > 0) {
        rtnl_nexthop* nh = rtnl_route_nexthop_n(rt, 0);
        out.gateway = detail::from_nl(rtnl_route_nh_get_gateway(nh));
        char buf[IFNAMSIZ] = {};
        int index = rtnl_route_nh_get_ifindex(nh);
        if (index > 0 && rtnl_link_i2name(links, index, buf, sizeof buf)) {
            out.dev = buf;
        }
    }
    return out;
}

// True when the kernel took it; false for EEXIST when exists_ok.
bool send_route(socket::impl& s, const route& r, int flags, const char* verb, bool exists_ok = false) {
    std::string what = std::string(verb) + " route " + r.str();
    auto rt = make_route(s, r, false, what);
    s.begin();
    int rc = rtnl_route_add(s.sock.get(), rt.get(), flags);
    if (exists_ok) {
        return s.check_exists_ok(rc, what);
    }
    s.check(rc, what);
    return true;
}

}  // namespace

std::string route::str() const {
    std::string s = type_name(type) + (destination ? destination->network().str() : std::string("default"));
    if (gateway) {
        s += " via " + gateway->str();
    }
    if (!dev.empty()) {
        s += " dev " + dev;
    }
    if (source) {
        s += " src " + source->str();
    }
    return s + " table " + std::to_string(table) + " metric " + std::to_string(metric);
}

void socket::add_route(const route& r) { send_route(*_impl, r, NLM_F_EXCL, "adding"); }

bool socket::add_route_if_new(const route& r) { return send_route(*_impl, r, NLM_F_EXCL, "adding", true); }

void socket::replace_route(const route& r) { send_route(*_impl, r, NLM_F_REPLACE, "replacing"); }

bool socket::delete_route(const route& r) {
    std::string what = "deleting route " + r.str();
    if (!r.dev.empty() && !link_index(r.dev)) {
        return false;  // its device is gone, and the kernel removed it with it
    }
    auto rt = make_route(*_impl, r, true, what);
    _impl->begin();
    return _impl->check_missing_ok(rtnl_route_delete(_impl->sock.get(), rt.get(), 0), what);
}

std::vector<route> socket::routes(std::uint32_t table, int family) {
    auto links = _impl->link_cache();
    nl_cache* c = nullptr;
    _impl->begin();
    int rc = rtnl_route_alloc_cache(_impl->sock.get(), family, 0, &c);
    nl_ptr<nl_cache> cache(c);
    _impl->check(rc, "listing routes");

    std::vector<route> out;
    for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
        auto* rt = reinterpret_cast<rtnl_route*>(o);
        int f = rtnl_route_get_family(rt);
        if ((f != AF_INET && f != AF_INET6) || (table && rtnl_route_get_table(rt) != table)) {
            continue;
        }
        out.push_back(to_route(rt, links.get()));
    }
    return out;
}

std::string socket::default_route_device(std::uint32_t table, int family) {
    nl_cache* c = nullptr;
    _impl->begin();
    int rc = rtnl_route_alloc_cache(_impl->sock.get(), family, 0, &c);
    nl_ptr<nl_cache> cache(c);
    _impl->check(rc, "listing routes");
    for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
        auto* rt = reinterpret_cast<rtnl_route*>(o);
        nl_addr* dst = rtnl_route_get_dst(rt);
        if (rtnl_route_get_family(rt) != family || rtnl_route_get_table(rt) != table ||
            rtnl_route_get_type(rt) != RTN_UNICAST || (dst && nl_addr_get_prefixlen(dst) > 0) ||
            rtnl_route_get_nnexthops(rt) < 1) {
            continue;
        }
        int index = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(rt, 0));
        if (index <= 0) {
            continue;
        }
        // Named through this socket, in its namespace (if_indextoname()
        // would ask the caller's).
        rtnl_link* l = nullptr;
        _impl->begin();
        int lrc = rtnl_link_get_kernel(_impl->sock.get(), index, nullptr, &l);
        nl_ptr<rtnl_link> link(l);
        if (lrc == 0 && link && rtnl_link_get_name(link.get())) {
            return rtnl_link_get_name(link.get());
        }
    }
    return "";
}

}  // namespace moat::netlink
