// moat::netlink::change_watch — a descriptor that becomes readable when the
// kernel announces a change of links or addresses (rtnetlink multicast
// groups RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR) in one
// network namespace.
//
// Why: a supervisor that keeps state in step with a device (the tunnel
// runner routes a tunnel as soon as it has an address) would otherwise poll.
// The announcements are only a wake-up: their content is discarded and the
// caller reads what it needs through netlink::socket, so a missed message
// (the kernel drops them when the socket's buffer is full, ENOBUFS) costs
// nothing but is reported as a change too.
#pragma once

#include <memory>

namespace moat::netlink {

class change_watch {
public:
    // In the calling thread's namespace, or in the one `netns_fd` refers to
    // (as socket::open_in). Throws netlink::error.
    explicit change_watch(int netns_fd = -1);
    change_watch(change_watch&&) noexcept;
    change_watch& operator=(change_watch&&) noexcept;
    ~change_watch();

    // Non-blocking; poll it for POLLIN.
    int fd() const;
    // Reads every pending announcement; true if there was any (or some were lost).
    bool drain();

    struct impl;

private:
    std::unique_ptr<impl> _impl;
};

}  // namespace moat::netlink
