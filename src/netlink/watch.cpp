#include "netlink/watch.hpp"

#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <cerrno>
#include <optional>

#include "netlink/detail.hpp"
#include "netlink/netlink.hpp"
#include "netlink/netns.hpp"

namespace moat::netlink {

struct change_watch::impl {
    detail::nl_ptr<nl_sock> sock;
};

namespace {

void check(int rc, const char* what) {
    if (rc < 0) {
        throw error(EIO, std::string(what) + ": " + nl_geterror(rc));
    }
}

}  // namespace

change_watch::change_watch(int netns_fd) : _impl(std::make_unique<impl>()) {
    _impl->sock = detail::owned(nl_socket_alloc());
    if (!_impl->sock) {
        throw error(ENOMEM, "allocating a netlink socket");
    }
    // Announcements carry sequence number 0.
    nl_socket_disable_seq_check(_impl->sock.get());
    {
        std::optional<netns_guard> in;
        if (netns_fd >= 0) {
            in.emplace(netns_fd);
        }
        check(nl_connect(_impl->sock.get(), NETLINK_ROUTE), "opening rtnetlink socket");
    }
    // One group at a time: the variadic nl_socket_add_memberships() has no
    // forwarder (libnl.cpp).
    for (int group : {RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR}) {
        check(nl_socket_add_membership(_impl->sock.get(), group), "joining rtnetlink groups");
    }
    check(nl_socket_set_nonblocking(_impl->sock.get()), "making the rtnetlink socket non-blocking");
}

change_watch::change_watch(change_watch&&) noexcept = default;
change_watch& change_watch::operator=(change_watch&&) noexcept = default;
change_watch::~change_watch() = default;

int change_watch::fd() const { return nl_socket_get_fd(_impl->sock.get()); }

bool change_watch::drain() {
    bool any = false;
    char buf[8192];
    for (;;) {
        ssize_t n = ::recv(fd(), buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            any = true;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == ENOBUFS) {
            any = true;  // announcements were dropped: something changed
        } else {
            return any;  // EAGAIN: drained
        }
    }
}

}  // namespace moat::netlink
