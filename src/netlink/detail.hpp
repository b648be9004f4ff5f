// Internal to moat_netlink: owners for libnl objects, the socket's state, and
// conversions between libnl's nl_addr and sys::ip_address/ip_prefix.
#pragma once

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <netlink/socket.h>

#include <memory>
#include <string>

#include "netlink/netlink.hpp"

namespace moat::netlink::detail {

struct nl_deleter {
    void operator()(nl_sock* p) const noexcept { nl_socket_free(p); }
    void operator()(nl_cache* p) const noexcept { nl_cache_free(p); }
    void operator()(nl_addr* p) const noexcept { nl_addr_put(p); }
    void operator()(rtnl_link* p) const noexcept { rtnl_link_put(p); }
    void operator()(rtnl_addr* p) const noexcept { rtnl_addr_put(p); }
    void operator()(rtnl_route* p) const noexcept { rtnl_route_put(p); }
    void operator()(rtnl_nexthop* p) const noexcept { rtnl_route_nh_free(p); }
    void operator()(rtnl_rule* p) const noexcept { rtnl_rule_put(p); }
};
template <class T>
using nl_ptr = std::unique_ptr<T, nl_deleter>;

// Throws std::bad_alloc for a null result of a libnl allocator.
template <class T>
nl_ptr<T> owned(T* p) {
    if (!p) {
        throw std::bad_alloc();
    }
    return nl_ptr<T>(p);
}

nl_ptr<nl_addr> to_nl(const sys::ip_address& a);
nl_ptr<nl_addr> to_nl(const sys::ip_prefix& p);
// A zero address with prefix length 0: the "default" destination.
nl_ptr<nl_addr> any_nl(int family);
// nl_addr → ours; nullopt for null, empty or non-IP addresses.
std::optional<sys::ip_address> from_nl(const nl_addr* a);
std::optional<sys::ip_prefix> prefix_from_nl(const nl_addr* a);
// A libnl-internal NLE_* code (positive) → the nearest errno, for failures
// where the kernel sent none.
int nle_to_errno(int nle);

}  // namespace moat::netlink::detail

namespace moat::netlink {

// State behind a socket; lives on the heap so the error callback's pointer
// stays valid when the socket object is moved.
struct socket::impl {
    detail::nl_ptr<nl_sock> sock;
    int kernel_errno = 0;     // errno of the last NLMSG_ERROR, 0 = none
    std::string kernel_msg;   // extended ACK text of that error, if any

    // Clears the recorded kernel error before a request.
    void begin() {
        kernel_errno = 0;
        kernel_msg.clear();
    }
    // Throws netlink::error("<what>: <reason>") when rc < 0.
    void check(int rc, const std::string& what) const;
    // Like check(), but returns false instead of throwing for "not found".
    bool check_missing_ok(int rc, const std::string& what) const;
    // Like check(), but returns false instead of throwing for EEXIST.
    bool check_exists_ok(int rc, const std::string& what) const;
    // One RTM_GETLINK by name; nullptr when there is no such link.
    detail::nl_ptr<rtnl_link> get_link(const std::string& name);
    int require_index(const std::string& name, const std::string& what);
    // Dumps all links (for listing functions only).
    detail::nl_ptr<nl_cache> link_cache();
};

}  // namespace moat::netlink
