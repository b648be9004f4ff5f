// Forgetting a removed container's flows: deleting the connection tracking
// entries in which one of its addresses appears, over ctnetlink
// (NETLINK_NETFILTER, NFNL_SUBSYS_CTNETLINK) through libnl-nf-3.
//
// Why. The kernel keeps a conntrack entry until it times out (an
// established TCP flow: 5 days by default; UDP: 30 s, or 120 s once it has
// seen replies and is refreshed by every packet), and NAT is decided once per
// flow, when its entry is created: a later packet of a known flow follows the
// entry, never the nat chains. So after a container or pod is removed its
// masqueraded and DNAT'ed flows outlive it, and a container that later gets
// the same address inherits them — a peer still sending UDP to a forwarded
// port keeps hitting the old mapping (the stale-UDP-entry blackhole CNI
// plugins know from address reuse). `moat down` and CNI DEL promise that
// nothing of a container is left, so they delete these entries too.
//
// Theory of operation
//
//  * Which entries. Every entry of either family in which an address appears
//    as original source (the container's egress, masqueraded), original
//    destination (traffic routed to it), reply source (a DNAT'ed forward:
//    the reply tuple names the address the packets really went to) or reply
//    destination — so egress, forwards and traffic between containers are
//    all covered, and an entry between two other hosts never is.
//
//  * How. One dump of the table (IPCTNL_MSG_CT_GET, NLM_F_DUMP), matched in
//    user space, then one IPCTNL_MSG_CT_DELETE per match, after the dump has
//    ended (a netlink socket answers one request at a time). The kernel can
//    filter a dump by tuple (CTA_FILTER, Linux 5.8), but neither libnl-nf-3
//    nor libnetfilter_conntrack 1.0.9 (Debian 12; it filters by mark, family
//    and status only) builds that request, a filter's fields must all match
//    (so "anywhere in the entry" would be four dumps per address), and
//    kernels before 5.8 have no such filter; one dump matched here is
//    correct on every kernel. Matches are parsed objects held until
//    deleted; the rest of the table is parsed and dropped one entry at a
//    time, never cached. A delete names the entry by its original tuple,
//    zone and CTA_ID, so it can never hit a newer entry with the same tuple.
//
//  * Why libnl-nf-3 and not libnetfilter_conntrack: it is the library
//    family moat already speaks rtnetlink with (libnl-3's socket, its error
//    codes, the nl_addr conversions of detail.hpp), built from the same
//    Debian source package as libnl-3 and libnl-route-3, so it adds one
//    small library and no second netlink or error model; for this job (a
//    dump and deletes) the two offer the same.
//
//  * Races are fine. An entry that expired or was deleted between the dump
//    and the delete answers ENOENT, which counts as done. Entries created
//    while the dump runs may be missed; callers flush only after the
//    container's link is gone, so no flow of its can start; and since a
//    packet for a forward can make an entry until the forward leaves the
//    firewall, `down` flushes once more after that commit, and CNI DEL
//    flushes only then.
//
//  * No table, nothing to do. Without nf_conntrack loaded in this kernel the
//    namespace has no table and no entries (its sysctl directory
//    /proc/sys/net/netfilter/nf_conntrack_* is absent); flushing then sends
//    nothing — and so never makes the kernel autoload nf_conntrack_netlink
//    just to learn that the table is empty. Likewise an empty table: when
//    the namespace's nf_conntrack_count reads 0 there is no dump, which
//    would walk every bucket of the kernel's shared hash table (about 10 ms
//    of system time on the benchmark machine, for nothing).
//
//  * It acts on the network namespace of the calling thread, which for moat
//    is the host's; a container's own namespace has its own table, which
//    dies with the namespace.
#pragma once

#include "sys/inet.hpp"

#include <cstddef>
#include <vector>

namespace moat::netlink {

// Deletes every conntrack entry (IPv4 and IPv6) of the calling thread's
// network namespace in which one of `addresses` is the original or reply
// source or destination. Returns how many it deleted. Entries gone meanwhile
// and a namespace without a conntrack table are not errors; anything else
// throws netlink::error.
std::size_t flush_conntrack(const std::vector<sys::ip_address>& addresses);

}  // namespace moat::netlink
