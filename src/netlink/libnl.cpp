// libnl-3, libnl-route-3 and libnl-nf-3, opened when netlink is first used
// (sys/shared_library.hpp).
//
// Loading the three at every start, with the constructors libnl-route runs
// to register its link, qdisc and classifier types and its read of
// /etc/libnl/classid, cost every moat process about 1.2 ms on the
// benchmark machine (docs/BENCHMARKS.md, issue 17). `status`, `exec`,
// `logs` and `run --network none` (whose loopback is raised without libnl,
// loopback.cpp) never touch it. The functions this folder calls are
// defined here under libnl's own names, hidden (never exported, so never
// interposed on the libraries' calls among themselves), and forward to the
// system's shared copies, found once by SONAME: their security updates
// still apply. A libnl function used elsewhere without a line here is an
// undefined symbol at link time, never a silent fallback.
#include "netlink/netlink.hpp"
#include "sys/shared_library.hpp"

#include <cstddef>
#include <tuple>

#pragma GCC visibility push(hidden)
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <netlink/socket.h>

namespace {

// The SONAMEs moat was built against (CMakeLists.txt). libnl-route-3 and
// libnl-nf-3 need libnl-3 themselves, so all three share one libnl-3.
constexpr moat::sys::shared_library libnl_core(MOAT_LIBNL_SONAME, "libnl-3-200");
constexpr moat::sys::shared_library libnl_route(MOAT_LIBNL_ROUTE_SONAME, "libnl-route-3-200");
constexpr moat::sys::shared_library libnl_nf(MOAT_LIBNL_NF_SONAME, "libnl-nf-3-200");

// A forwarder's parameter and result types are read off libnl's own
// declaration, so a line below names only the function and its arity; a
// wrong arity or a changed header fails to compile.
template <typename F>
struct signature;
template <typename R, typename... A>
struct signature<R (*)(A...)> {
    using result = R;
    template <std::size_t I>
    using arg = std::tuple_element_t<I, std::tuple<A...>>;
};

template <typename F>
F resolve(const moat::sys::shared_library& lib, const char* name) {
    return reinterpret_cast<F>(lib.symbol(name));
}

}  // namespace

namespace moat::netlink {

void load_libnl() {
    libnl_core.handle();
    libnl_route.handle();
    libnl_nf.handle();
}

}  // namespace moat::netlink

// The real function is looked up on the first call (a function-local
// static: thread-safe), then called directly.
#define MOAT_RESULT(name) signature<decltype(&name)>::result
#define MOAT_ARG(name, i) signature<decltype(&name)>::arg<i>
#define MOAT_REAL(lib, name) static const auto real = resolve<decltype(&name)>(lib, #name)
#define MOAT_FORWARD0(lib, name)                                                                        \
    extern "C" MOAT_RESULT(name) name() {                                                               \
        MOAT_REAL(lib, name);                                                                           \
        return real();                                                                                  \
    }
#define MOAT_FORWARD1(lib, name)                                                                        \
    extern "C" MOAT_RESULT(name) name(MOAT_ARG(name, 0) a) {                                            \
        MOAT_REAL(lib, name);                                                                           \
        return real(a);                                                                                 \
    }
#define MOAT_FORWARD2(lib, name)                                                                        \
    extern "C" MOAT_RESULT(name) name(MOAT_ARG(name, 0) a, MOAT_ARG(name, 1) b) {                       \
        MOAT_REAL(lib, name);                                                                           \
        return real(a, b);                                                                              \
    }
#define MOAT_FORWARD3(lib, name)                                                                        \
    extern "C" MOAT_RESULT(name) name(MOAT_ARG(name, 0) a, MOAT_ARG(name, 1) b, MOAT_ARG(name, 2) c) {  \
        MOAT_REAL(lib, name);                                                                           \
        return real(a, b, c);                                                                           \
    }
#define MOAT_FORWARD4(lib, name)                                                                        \
    extern "C" MOAT_RESULT(name)                                                                        \
        name(MOAT_ARG(name, 0) a, MOAT_ARG(name, 1) b, MOAT_ARG(name, 2) c, MOAT_ARG(name, 3) d) {      \
        MOAT_REAL(lib, name);                                                                           \
        return real(a, b, c, d);                                                                        \
    }
#define MOAT_FORWARD5(lib, name)                                                                        \
    extern "C" MOAT_RESULT(name) name(MOAT_ARG(name, 0) a, MOAT_ARG(name, 1) b, MOAT_ARG(name, 2) c,    \
                                      MOAT_ARG(name, 3) d, MOAT_ARG(name, 4) e) {                       \
        MOAT_REAL(lib, name);                                                                           \
        return real(a, b, c, d, e);                                                                     \
    }

MOAT_FORWARD3(libnl_core, nl_addr_build)
MOAT_FORWARD1(libnl_core, nl_addr_get_binary_addr)
MOAT_FORWARD1(libnl_core, nl_addr_get_family)
MOAT_FORWARD1(libnl_core, nl_addr_get_len)
MOAT_FORWARD1(libnl_core, nl_addr_get_prefixlen)
MOAT_FORWARD1(libnl_core, nl_addr_put)
MOAT_FORWARD2(libnl_core, nl_addr_set_prefixlen)
MOAT_FORWARD1(libnl_core, nl_cache_free)
MOAT_FORWARD1(libnl_core, nl_cache_get_first)
MOAT_FORWARD1(libnl_core, nl_cache_get_next)
MOAT_FORWARD2(libnl_core, nl_connect)
MOAT_FORWARD1(libnl_core, nl_geterror)
MOAT_FORWARD1(libnl_core, nl_recvmsgs_default)
MOAT_FORWARD2(libnl_core, nl_send_auto)
MOAT_FORWARD2(libnl_core, nl_socket_add_membership)
MOAT_FORWARD0(libnl_core, nl_socket_alloc)
MOAT_FORWARD1(libnl_core, nl_socket_disable_seq_check)
MOAT_FORWARD1(libnl_core, nl_socket_enable_msg_peek)
MOAT_FORWARD1(libnl_core, nl_socket_free)
MOAT_FORWARD1(libnl_core, nl_socket_get_fd)
MOAT_FORWARD5(libnl_core, nl_socket_modify_cb)
MOAT_FORWARD4(libnl_core, nl_socket_modify_err_cb)
MOAT_FORWARD1(libnl_core, nl_socket_set_nonblocking)
MOAT_FORWARD1(libnl_core, nl_wait_for_ack)
MOAT_FORWARD1(libnl_core, nla_data)
MOAT_FORWARD1(libnl_core, nla_len)
MOAT_FORWARD5(libnl_core, nla_parse)
MOAT_FORWARD3(libnl_core, nla_put_u32)
MOAT_FORWARD2(libnl_core, nlmsg_alloc_simple)
MOAT_FORWARD4(libnl_core, nlmsg_append)
MOAT_FORWARD1(libnl_core, nlmsg_free)
MOAT_FORWARD1(libnl_core, nlmsg_hdr)

MOAT_FORWARD3(libnl_route, rtnl_addr_add)
MOAT_FORWARD0(libnl_route, rtnl_addr_alloc)
MOAT_FORWARD2(libnl_route, rtnl_addr_alloc_cache)
MOAT_FORWARD3(libnl_route, rtnl_addr_delete)
MOAT_FORWARD1(libnl_route, rtnl_addr_get_family)
MOAT_FORWARD1(libnl_route, rtnl_addr_get_flags)
MOAT_FORWARD1(libnl_route, rtnl_addr_get_ifindex)
MOAT_FORWARD1(libnl_route, rtnl_addr_get_local)
MOAT_FORWARD1(libnl_route, rtnl_addr_get_peer)
MOAT_FORWARD1(libnl_route, rtnl_addr_get_prefixlen)
MOAT_FORWARD1(libnl_route, rtnl_addr_get_scope)
MOAT_FORWARD1(libnl_route, rtnl_addr_put)
MOAT_FORWARD2(libnl_route, rtnl_addr_set_family)
MOAT_FORWARD2(libnl_route, rtnl_addr_set_flags)
MOAT_FORWARD2(libnl_route, rtnl_addr_set_ifindex)
MOAT_FORWARD2(libnl_route, rtnl_addr_set_local)
MOAT_FORWARD2(libnl_route, rtnl_addr_set_peer)
MOAT_FORWARD2(libnl_route, rtnl_addr_set_prefixlen)
MOAT_FORWARD3(libnl_route, rtnl_link_add)
MOAT_FORWARD0(libnl_route, rtnl_link_alloc)
MOAT_FORWARD3(libnl_route, rtnl_link_alloc_cache)
MOAT_FORWARD4(libnl_route, rtnl_link_change)
MOAT_FORWARD2(libnl_route, rtnl_link_delete)
MOAT_FORWARD1(libnl_route, rtnl_link_get_addr)
MOAT_FORWARD1(libnl_route, rtnl_link_get_flags)
MOAT_FORWARD1(libnl_route, rtnl_link_get_group)
MOAT_FORWARD1(libnl_route, rtnl_link_get_ifalias)
MOAT_FORWARD1(libnl_route, rtnl_link_get_ifindex)
MOAT_FORWARD4(libnl_route, rtnl_link_get_kernel)
MOAT_FORWARD1(libnl_route, rtnl_link_get_master)
MOAT_FORWARD1(libnl_route, rtnl_link_get_mtu)
MOAT_FORWARD1(libnl_route, rtnl_link_get_name)
MOAT_FORWARD1(libnl_route, rtnl_link_get_type)
MOAT_FORWARD4(libnl_route, rtnl_link_i2name)
MOAT_FORWARD1(libnl_route, rtnl_link_put)
MOAT_FORWARD2(libnl_route, rtnl_link_set_addr)
MOAT_FORWARD2(libnl_route, rtnl_link_set_flags)
MOAT_FORWARD2(libnl_route, rtnl_link_set_group)
MOAT_FORWARD2(libnl_route, rtnl_link_set_ifalias)
MOAT_FORWARD2(libnl_route, rtnl_link_set_ifindex)
MOAT_FORWARD2(libnl_route, rtnl_link_set_master)
MOAT_FORWARD2(libnl_route, rtnl_link_set_mtu)
MOAT_FORWARD2(libnl_route, rtnl_link_set_name)
MOAT_FORWARD2(libnl_route, rtnl_link_set_ns_fd)
MOAT_FORWARD2(libnl_route, rtnl_link_set_num_rx_queues)
MOAT_FORWARD2(libnl_route, rtnl_link_set_num_tx_queues)
MOAT_FORWARD2(libnl_route, rtnl_link_set_type)
MOAT_FORWARD2(libnl_route, rtnl_link_unset_flags)
MOAT_FORWARD0(libnl_route, rtnl_link_veth_alloc)
MOAT_FORWARD1(libnl_route, rtnl_link_veth_get_peer)
MOAT_FORWARD3(libnl_route, rtnl_route_add)
MOAT_FORWARD2(libnl_route, rtnl_route_add_nexthop)
MOAT_FORWARD0(libnl_route, rtnl_route_alloc)
MOAT_FORWARD4(libnl_route, rtnl_route_alloc_cache)
MOAT_FORWARD3(libnl_route, rtnl_route_delete)
MOAT_FORWARD1(libnl_route, rtnl_route_get_dst)
MOAT_FORWARD1(libnl_route, rtnl_route_get_family)
MOAT_FORWARD1(libnl_route, rtnl_route_get_nnexthops)
MOAT_FORWARD1(libnl_route, rtnl_route_get_pref_src)
MOAT_FORWARD1(libnl_route, rtnl_route_get_priority)
MOAT_FORWARD1(libnl_route, rtnl_route_get_protocol)
MOAT_FORWARD1(libnl_route, rtnl_route_get_table)
MOAT_FORWARD1(libnl_route, rtnl_route_get_type)
MOAT_FORWARD2(libnl_route, rtnl_route_nexthop_n)
MOAT_FORWARD0(libnl_route, rtnl_route_nh_alloc)
MOAT_FORWARD1(libnl_route, rtnl_route_nh_free)
MOAT_FORWARD1(libnl_route, rtnl_route_nh_get_gateway)
MOAT_FORWARD1(libnl_route, rtnl_route_nh_get_ifindex)
MOAT_FORWARD2(libnl_route, rtnl_route_nh_set_gateway)
MOAT_FORWARD2(libnl_route, rtnl_route_nh_set_ifindex)
MOAT_FORWARD1(libnl_route, rtnl_route_put)
MOAT_FORWARD2(libnl_route, rtnl_route_set_dst)
MOAT_FORWARD2(libnl_route, rtnl_route_set_family)
MOAT_FORWARD2(libnl_route, rtnl_route_set_pref_src)
MOAT_FORWARD2(libnl_route, rtnl_route_set_priority)
MOAT_FORWARD2(libnl_route, rtnl_route_set_protocol)
MOAT_FORWARD2(libnl_route, rtnl_route_set_scope)
MOAT_FORWARD2(libnl_route, rtnl_route_set_table)
MOAT_FORWARD2(libnl_route, rtnl_route_set_type)
MOAT_FORWARD3(libnl_route, rtnl_rule_add)
MOAT_FORWARD0(libnl_route, rtnl_rule_alloc)
MOAT_FORWARD3(libnl_route, rtnl_rule_alloc_cache)
MOAT_FORWARD3(libnl_route, rtnl_rule_delete)
MOAT_FORWARD1(libnl_route, rtnl_rule_get_action)
MOAT_FORWARD1(libnl_route, rtnl_rule_get_dst)
MOAT_FORWARD1(libnl_route, rtnl_rule_get_family)
MOAT_FORWARD1(libnl_route, rtnl_rule_get_iif)
MOAT_FORWARD1(libnl_route, rtnl_rule_get_mark)
MOAT_FORWARD1(libnl_route, rtnl_rule_get_mask)
MOAT_FORWARD1(libnl_route, rtnl_rule_get_oif)
MOAT_FORWARD1(libnl_route, rtnl_rule_get_prio)
MOAT_FORWARD1(libnl_route, rtnl_rule_get_src)
MOAT_FORWARD1(libnl_route, rtnl_rule_get_table)
MOAT_FORWARD1(libnl_route, rtnl_rule_put)
MOAT_FORWARD2(libnl_route, rtnl_rule_set_action)
MOAT_FORWARD2(libnl_route, rtnl_rule_set_dst)
MOAT_FORWARD2(libnl_route, rtnl_rule_set_family)
MOAT_FORWARD2(libnl_route, rtnl_rule_set_iif)
MOAT_FORWARD2(libnl_route, rtnl_rule_set_mark)
MOAT_FORWARD2(libnl_route, rtnl_rule_set_mask)
MOAT_FORWARD2(libnl_route, rtnl_rule_set_oif)
MOAT_FORWARD2(libnl_route, rtnl_rule_set_prio)
MOAT_FORWARD2(libnl_route, rtnl_rule_set_src)
MOAT_FORWARD2(libnl_route, rtnl_rule_set_table)

MOAT_FORWARD3(libnl_nf, nfnl_ct_del)
MOAT_FORWARD1(libnl_nf, nfnl_ct_dump_request)
MOAT_FORWARD2(libnl_nf, nfnl_ct_get_dst)
MOAT_FORWARD2(libnl_nf, nfnl_ct_get_src)
MOAT_FORWARD1(libnl_nf, nfnl_ct_put)
MOAT_FORWARD2(libnl_nf, nfnlmsg_ct_parse)

#pragma GCC visibility pop
