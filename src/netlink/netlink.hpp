// moat::netlink — typed access to the kernel's routing netlink (rtnetlink)
// through libnl-route-3: links (veth, bridge), addresses, routes and policy
// rules, created and inspected in-process (PRODUCT.md: "Real parts", never by
// running `ip`).
//
// Theory of operation
//
//  * A netlink::socket is one NETLINK_ROUTE connection. The kernel binds a
//    netlink socket to the network namespace of the thread that created it,
//    for its whole life; so socket::open_in(fd) switches the calling thread
//    into the target namespace only for the socket() call and switches back
//    (netns_guard), after which every request on that socket acts there,
//    whatever namespace the caller is in later. One socket per namespace is
//    opened once and reused: a request is one message and one ACK.
//
//  * Requests address links by name where the kernel accepts it (RTM_NEWLINK
//    and RTM_DELLINK resolve IFLA_IFNAME themselves), and
//    otherwise resolve an ifindex with one RTM_GETLINK for that name — never
//    by dumping every link, because `moat up` of 100 containers would make
//    that quadratic. Only the listing functions dump.
//
//  * Errors. libnl folds the kernel's errno into its own NLE_* codes and
//    loses information on the way (several errnos become NLE_FAILURE); the
//    socket therefore installs its own error callback that records the
//    kernel's errno and the extended-ACK text (NETLINK_EXT_ACK, Linux 4.12)
//    of the last failed request. Failures throw netlink::error, a
//    std::system_error whose code() is the real errno, so callers converge
//    idempotently by testing exists() / not_found(); what() reads
//    "creating veth ve-webapp: File exists" (plus "(kernel: <ext-ack>)" when
//    the kernel explained itself). Invalid input (an interface name longer
//    than 15 bytes, a route without a family) is moat::error, thrown
//    before anything is sent.
//
//  * Deletions are idempotent: deleting what is not there returns false.
//
//  * Ownership. Every link moat creates carries an alias (IFLA_IFALIAS)
//    "moat:<instance id>:<what>" (owner.hpp), set right after the link is
//    created (the kernel ignores IFLA_IFALIAS in RTM_NEWLINK for a new
//    device: rtnl_create_link() does not read it, only do_setlink() does).
//    moat deletes a link by name only through delete_link_if_owned(), which
//    leaves a link whose alias names another instance (or anything that is
//    not moat's) alone.
//
//  * A socket is not thread-safe (libnl sockets are not); use one per thread.
//
//  * libnl is opened at the first request (libnl.cpp), not at start-up;
//    load_libnl() opens it ahead, for a parent whose forked child will make
//    requests (a child should not be the one to run the dynamic loader).
#pragma once

#include <array>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "sys/inet.hpp"

namespace moat::netlink {

// Opens libnl-3, libnl-route-3 and libnl-nf-3 now (see above); throws
// moat::error naming the one that is missing.
void load_libnl();

// A failed netlink request. code().value() is the kernel's errno when the
// kernel answered (EEXIST, ENODEV, ...), or the closest errno for failures
// inside libnl itself.
class error : public std::system_error {
public:
    error(int err, const std::string& what_arg);
    const char* what() const noexcept override { return _what.c_str(); }
    bool exists() const noexcept { return code().value() == EEXIST; }
    bool not_found() const noexcept;  // ENODEV, ENOENT, ESRCH, EADDRNOTAVAIL

private:
    std::string _what;
};

// Interface names: 1..15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace,
// not "." or "..". Throws moat::error naming the bad name.
void validate_ifname(const std::string& name);

using mac_address = std::array<std::uint8_t, 6>;

struct link_info {
    std::string name;
    int index = 0;
    std::string kind;  // "veth", "bridge", ... ; "" for lo and physical devices
    bool up = false;   // administratively up (IFF_UP)
    int master = 0;    // ifindex of the bridge it is enslaved to, 0 = none
    unsigned mtu = 0;
    std::string alias;  // IFLA_IFALIAS; "" when none
    std::optional<mac_address> mac;  // IFLA_ADDRESS of an Ethernet-like link
};

// What delete_link_if_owned() did.
struct owned_deletion {
    enum class result { absent, deleted, kept } what = result::absent;
    std::string alias;  // the alias of a link it kept ("" when it has none)
    // "link ve-x belongs to moat instance 0123456789ab (container x)", for a kept link.
    std::string reason;
};

struct address_info {
    std::string ifname;
    int ifindex = 0;
    sys::ip_prefix local;                  // address and prefix length
    std::optional<sys::ip_address> peer;   // point-to-point peer, if any
    bool tentative = false;                // IPv6 DAD still running (IFA_F_TENTATIVE)
    int scope = 0;                         // RT_SCOPE_*: 0 universe, 253 link, 254 host
};

// RTN_* values from <linux/rtnetlink.h> (kernel UAPI, stable).
enum class route_type : std::uint8_t {
    unicast = 1,
    local = 2,
    broadcast = 3,
    anycast = 4,
    multicast = 5,
    blackhole = 6,
    unreachable = 7,
    prohibit = 8,
    throw_route = 9,
};

constexpr std::uint32_t table_main = 254;   // RT_TABLE_MAIN
constexpr std::uint32_t table_local = 255;  // RT_TABLE_LOCAL

struct route {
    int family = 0;                              // AF_INET/AF_INET6; 0 = taken from destination/gateway
    std::optional<sys::ip_prefix> destination;   // nullopt = default route (host bits are cleared on add)
    std::optional<sys::ip_address> gateway;      // "via"
    std::string dev;                             // output interface, "" = none
    std::optional<sys::ip_address> source;       // preferred source address ("src")
    std::uint32_t table = table_main;
    std::uint32_t metric = 0;                    // 0: IPv4 keeps 0, IPv6 gets the kernel's 1024
    route_type type = route_type::unicast;
    std::uint8_t protocol = 4;                   // RTPROT_STATIC on add; as reported when listed
    std::string str() const;                     // "default via 10.0.0.1 dev eth0 table 254 metric 0"
};

// FR_ACT_* values from <linux/fib_rules.h>.
enum class rule_action : std::uint8_t {
    to_table = 1,
    goto_rule = 2,
    nop = 3,
    blackhole = 6,
    unreachable = 7,
    prohibit = 8,
};

struct rule {
    int family = 0;                          // AF_INET/AF_INET6; 0 = taken from `from`/`to`
    std::optional<std::uint32_t> priority;   // nullopt on add: the kernel picks one
    std::optional<sys::ip_prefix> from;
    std::optional<sys::ip_prefix> to;
    std::optional<std::uint32_t> fwmark;
    std::uint32_t fwmask = 0xffffffff;       // only meaningful with fwmark
    std::string iif;
    std::string oif;
    std::uint32_t table = 0;                 // for to_table
    rule_action action = rule_action::to_table;
    std::string str() const;                 // "100: from 10.0.0.0/24 fwmark 0x1/0xffffffff lookup 100"
};

class socket {
public:
    // Opens in the calling thread's current network namespace.
    static socket open();
    // Opens in the namespace `netns_fd` refers to (e.g. /run/netns/NAME,
    // /proc/PID/ns/net); the calling thread is back in its own namespace
    // when this returns or throws.
    static socket open_in(int netns_fd);

    socket(socket&&) noexcept;
    socket& operator=(socket&&) noexcept;
    ~socket();

    // --- links
    // Creates veth `name` here and its peer `peer_name` directly in
    // `opts.peer_netns_fd` (-1: in this namespace). The names live in
    // different namespaces, so the peer may be called "eth0" even if one
    // exists here. Everything in `opts` happens in the same request.
    struct veth_options {
        int peer_netns_fd = -1;
        std::string master;                  // created as a port of this bridge
        std::optional<mac_address> peer_mac; // instead of a random one
    };
    void create_veth(const std::string& name, const std::string& peer_name, const veth_options& opts);
    void create_veth(const std::string& name, const std::string& peer_name, int peer_netns_fd = -1) {
        create_veth(name, peer_name, veth_options{peer_netns_fd, {}, {}});
    }
    // With `mac`, the bridge keeps that address; otherwise the kernel gives
    // it the lowest of its ports', which changes as ports come and go and
    // leaves stale neighbour entries in every member.
    void create_bridge(const std::string& name, const std::optional<mac_address>& mac = std::nullopt);
    std::optional<int> link_index(const std::string& name);  // one RTM_GETLINK
    std::optional<link_info> link(const std::string& name);  // one RTM_GETLINK
    void set_up(const std::string& name);
    void set_down(const std::string& name);
    void set_mtu(const std::string& name, unsigned mtu);
    void rename_link(const std::string& name, const std::string& new_name);  // must be down
    void set_master(const std::string& ifname, const std::string& bridge);
    void clear_master(const std::string& ifname);
    void move_link(const std::string& name, int netns_fd);
    bool delete_link(const std::string& name);  // false: no such link
    // Deletes `name` only if it is `instance`'s: its alias names that
    // instance, or it has no alias at all and `legacy` is set (the caller's
    // records name it: a link made by a moat before aliases). Anything else
    // — another instance's link, the host's own — is kept and described.
    owned_deletion delete_link_if_owned(const std::string& name, const std::string& instance, bool legacy = true);
    // The same for many links, in one request (issue 17): the ones that are
    // `instance`'s are put in a device group no other link of the namespace
    // is in, and that group is deleted (RTM_DELLINK with IFLA_GROUP). The
    // kernel then unregisters them together, waiting for one RCU grace
    // period for all, where a request per link waits for one each (10-20 ms
    // a veth here). One result per name, in order. If the group cannot be
    // deleted, each link is deleted on its own as delete_link_if_owned() does.
    std::vector<owned_deletion> delete_links_if_owned(const std::vector<std::string>& names, const std::string& instance,
                                                      bool legacy = true);
    // Sets (or with "" clears) the link's alias, IFLA_IFALIAS.
    void set_alias(const std::string& name, const std::string& alias);
    std::vector<link_info> links();

    // --- addresses. IPv6 addresses get IFA_F_NODAD so they are usable at once
    // (no "tentative" window in which bind() fails with EADDRNOTAVAIL).
    // With `peer`, local.length is the peer's prefix length, as in
    // `ip addr add 10.0.0.1/32 peer 10.0.0.2`.
    void add_address(const std::string& ifname, const sys::ip_prefix& local,
                     std::optional<sys::ip_address> peer = {});
    bool delete_address(const std::string& ifname, const sys::ip_prefix& local);  // false: not there
    std::vector<address_info> addresses(const std::string& ifname = "");

    // --- routes
    void add_route(const route& r);      // NLM_F_EXCL: an identical route is EEXIST
    bool add_route_if_new(const route& r);  // false: an identical route is there (no exception)
    void replace_route(const route& r);  // NLM_F_REPLACE: add or overwrite
    bool delete_route(const route& r);   // false: no such route
    // table 0 = every table; family AF_UNSPEC = both.
    std::vector<route> routes(std::uint32_t table = table_main, int family = 0);
    // The device of the first unicast default route of `table` in `family`
    // that has one (the first hop's), in the kernel's order; "" if none.
    // Unlike routes(), no dump of every link to name every route's device
    // (1.5 ms with a hundred veths, on each CNI ADD): one name is wanted.
    std::string default_route_device(std::uint32_t table, int family);

    // --- policy routing rules
    void add_rule(const rule& r);        // NLM_F_EXCL: an identical rule is EEXIST
    bool add_rule_if_new(const rule& r);  // false: an identical rule is there (no exception)
    bool delete_rule(const rule& r);     // false: no such rule
    std::vector<rule> rules(int family = 0);

    struct impl;

private:
    explicit socket(std::unique_ptr<impl> i);
    std::unique_ptr<impl> _impl;
};

}  // namespace moat::netlink
