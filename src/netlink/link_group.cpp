// Deleting many links in one request, through a device group.
//
// Theory of operation: unregistering a network device waits for RCU grace
// periods (synchronize_net() in unregister_netdevice_many()), and a request
// that deletes one veth pays that wait alone: 10-20 ms a pair on this
// machine, most of a container's teardown. The kernel batches the wait for
// every device unregistered by one unregister_netdevice_many() call, which
// RTM_DELLINK reaches for a whole device group: with ifi_index 0, no name
// and IFLA_GROUP set, rtnl_group_dellink() queues every device of the group
// (refusing all if one has no dellink, EOPNOTSUPP) and unregisters them
// together. So the links to delete — only those whose owner mark is this
// instance's, looked up by name as delete_link_if_owned() does — are first
// moved into a group that no link of the namespace is in (IFLA_GROUP set by
// index, which costs no grace period), and then that group is deleted.
//
// A group is a 32-bit tag with no meaning to the kernel beyond this;
// moat sets no other. A run that dies between the two steps leaves its links
// in the group, still marked as moat's; the next teardown finds them by name.
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/random.h>

#include <set>

#include "netlink/detail.hpp"
#include "netlink/owner.hpp"
#include "sys/error.hpp"

namespace moat::netlink {

using detail::owned;

namespace {

struct msg_deleter {
    void operator()(nl_msg* m) const noexcept { nlmsg_free(m); }
};

// A group number no link of the namespace is in (0 is every link's default).
std::uint32_t unused_group(socket::impl& s) {
    std::set<std::uint32_t> taken{0};
    auto cache = s.link_cache();
    for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
        taken.insert(rtnl_link_get_group(reinterpret_cast<rtnl_link*>(o)));
    }
    for (;;) {
        std::uint32_t g = 0;
        if (::getrandom(&g, sizeof g, 0) != static_cast<ssize_t>(sizeof g)) {
            throw sys::errno_error("picking a device group");
        }
        if (!taken.count(g)) {
            return g;
        }
    }
}

void set_group(socket::impl& s, int index, std::uint32_t group, const std::string& name) {
    auto orig = owned(rtnl_link_alloc());
    rtnl_link_set_ifindex(orig.get(), index);
    auto changes = owned(rtnl_link_alloc());
    rtnl_link_set_group(changes.get(), group);
    s.begin();
    s.check(rtnl_link_change(s.sock.get(), orig.get(), changes.get(), 0), "grouping link " + name + " for deletion");
}

// RTM_DELLINK of a whole group; false when the group was empty (every link
// in it already gone).
bool delete_group(socket::impl& s, std::uint32_t group) {
    std::unique_ptr<nl_msg, msg_deleter> msg(nlmsg_alloc_simple(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK));
    if (!msg) {
        throw std::bad_alloc();
    }
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    if (nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 || nla_put_u32(msg.get(), IFLA_GROUP, group) < 0) {
        throw std::bad_alloc();
    }
    const std::string what = "deleting device group " + std::to_string(group);
    s.begin();
    int rc = nl_send_auto(s.sock.get(), msg.get());
    s.check(rc < 0 ? rc : 0, what);
    return s.check_missing_ok(nl_wait_for_ack(s.sock.get()), what);
}

}  // namespace

std::vector<owned_deletion> socket::delete_links_if_owned(const std::vector<std::string>& names,
                                                          const std::string& instance, bool legacy) {
    std::vector<owned_deletion> out(names.size());
    std::vector<std::size_t> grouped;
    std::uint32_t group = 0;
    for (std::size_t i = 0; i < names.size(); ++i) {
        auto l = link(names[i]);
        if (!l) {
            continue;  // absent
        }
        auto owner = parse_owner_alias(l->alias);
        bool ours = owner ? owner->instance == instance : l->alias.empty() && legacy;
        if (!ours) {
            out[i] = delete_link_if_owned(names[i], instance, legacy);  // kept, with its reason
            continue;
        }
        if (grouped.empty()) {
            group = unused_group(*_impl);
        }
        try {
            set_group(*_impl, l->index, group, names[i]);
        } catch (const error& e) {
            if (!e.not_found()) {
                throw;
            }
            continue;  // gone meanwhile (its namespace was dismantled)
        }
        grouped.push_back(i);
    }
    if (grouped.empty()) {
        return out;
    }
    try {
        delete_group(*_impl, group);
    } catch (const error&) {
        // One by one, as before; each by its own lookup.
        for (auto i : grouped) {
            out[i] = delete_link_if_owned(names[i], instance, legacy);
        }
        return out;
    }
    for (auto i : grouped) {
        out[i].what = owned_deletion::result::deleted;
    }
    return out;
}

}  // namespace moat::netlink
