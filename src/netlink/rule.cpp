// Policy routing rules (FIB rules): "from <container subnet> lookup <vpn
// table>" is how only the containers' traffic is steered into a tunnel.
#include <linux/fib_rules.h>

#include <cstdio>

#include "netlink/detail.hpp"
#include "sys/error.hpp"

namespace moat::netlink {

using detail::nl_ptr;
using detail::owned;

namespace {

int rule_family(const rule& r) {
    int family = r.family;
    for (const auto* p : {r.from ? &*r.from : nullptr, r.to ? &*r.to : nullptr}) {
        if (!p) {
            continue;
        }
        if (family && p->address.family != family) {
            throw moat::error("rule " + r.str() + ": mixes IPv4 and IPv6");
        }
        family = p->address.family;
    }
    if (family != AF_INET && family != AF_INET6) {
        throw moat::error("rule " + r.str() + ": needs a family (AF_INET or AF_INET6)");
    }
    return family;
}

nl_ptr<rtnl_rule> make_rule(socket::impl& s, const rule& r, const std::string& what) {
    int family = rule_family(r);
    auto ru = owned(rtnl_rule_alloc());
    rtnl_rule_set_family(ru.get(), family);
    if (r.priority) {
        rtnl_rule_set_prio(ru.get(), *r.priority);
    }
    if (r.from && r.from->length > 0) {
        s.check(rtnl_rule_set_src(ru.get(), detail::to_nl(r.from->network()).get()), what);
    }
    if (r.to && r.to->length > 0) {
        s.check(rtnl_rule_set_dst(ru.get(), detail::to_nl(r.to->network()).get()), what);
    }
    if (r.fwmark) {
        rtnl_rule_set_mark(ru.get(), *r.fwmark);
        rtnl_rule_set_mask(ru.get(), r.fwmask);
    }
    if (!r.iif.empty()) {
        validate_ifname(r.iif);
        s.check(rtnl_rule_set_iif(ru.get(), r.iif.c_str()), what);
    }
    if (!r.oif.empty()) {
        validate_ifname(r.oif);
        s.check(rtnl_rule_set_oif(ru.get(), r.oif.c_str()), what);
    }
    rtnl_rule_set_action(ru.get(), static_cast<std::uint8_t>(r.action));
    if (r.table) {
        rtnl_rule_set_table(ru.get(), r.table);
    }
    return ru;
}

rule to_rule(rtnl_rule* ru) {
    rule out;
    out.family = rtnl_rule_get_family(ru);
    out.priority = rtnl_rule_get_prio(ru);
    auto from = detail::prefix_from_nl(rtnl_rule_get_src(ru));
    if (from && from->length > 0) {
        out.from = from;
    }
    auto to = detail::prefix_from_nl(rtnl_rule_get_dst(ru));
    if (to && to->length > 0) {
        out.to = to;
    }
    // The kernel reports FRA_FWMARK/FRA_FWMASK only when one is non-zero.
    std::uint32_t mark = rtnl_rule_get_mark(ru);
    std::uint32_t mask = rtnl_rule_get_mask(ru);
    if (mark || mask) {
        out.fwmark = mark;
        out.fwmask = mask;
    }
    out.iif = rtnl_rule_get_iif(ru) ? rtnl_rule_get_iif(ru) : "";
    out.oif = rtnl_rule_get_oif(ru) ? rtnl_rule_get_oif(ru) : "";
    out.table = rtnl_rule_get_table(ru);
    out.action = static_cast<rule_action>(rtnl_rule_get_action(ru));
    return out;
}

std::string hex(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}

}  // namespace

std::string rule::str() const {
    std::string s = priority ? std::to_string(*priority) + ": " : "";
    s += "from " + (from ? from->network().str() : std::string("all"));
    if (to) {
        s += " to " + to->network().str();
    }
    if (fwmark) {
        s += " fwmark " + hex(*fwmark) + "/" + hex(fwmask);
    }
    if (!iif.empty()) {
        s += " iif " + iif;
    }
    if (!oif.empty()) {
        s += " oif " + oif;
    }
    switch (action) {
    case rule_action::to_table: return s + " lookup " + std::to_string(table);
    case rule_action::goto_rule: return s + " goto";
    case rule_action::nop: return s + " nop";
    case rule_action::blackhole: return s + " blackhole";
    case rule_action::unreachable: return s + " unreachable";
    case rule_action::prohibit: return s + " prohibit";
    }
    return s + " action " + std::to_string(static_cast<int>(action));
}

void socket::add_rule(const rule& r) {
    if (!add_rule_if_new(r)) {
        _impl->check(-NLE_EXIST, "adding rule " + r.str());
    }
}

bool socket::add_rule_if_new(const rule& r) {
    std::string what = "adding rule " + r.str();
    if (r.action == rule_action::to_table && r.table == 0) {
        throw moat::error(what + ": a lookup rule needs a table");
    }
    auto ru = make_rule(*_impl, r, what);
    _impl->begin();
    return _impl->check_exists_ok(rtnl_rule_add(_impl->sock.get(), ru.get(), NLM_F_EXCL), what);
}

bool socket::delete_rule(const rule& r) {
    std::string what = "deleting rule " + r.str();
    auto ru = make_rule(*_impl, r, what);
    _impl->begin();
    return _impl->check_missing_ok(rtnl_rule_delete(_impl->sock.get(), ru.get(), 0), what);
}

std::vector<rule> socket::rules(int family) {
    nl_cache* c = nullptr;
    _impl->begin();
    int rc = rtnl_rule_alloc_cache(_impl->sock.get(), family, &c);
    nl_ptr<nl_cache> cache(c);
    _impl->check(rc, "listing rules");
    std::vector<rule> out;
    for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
        auto* ru = reinterpret_cast<rtnl_rule*>(o);
        int f = rtnl_rule_get_family(ru);
        if (f == AF_INET || f == AF_INET6) {
            out.push_back(to_rule(ru));
        }
    }
    return out;
}

}  // namespace moat::netlink
