#include "netlink/loopback.hpp"

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace moat::netlink {

namespace {

// RTM_NEWLINK for "lo" by name (index 0): IFF_UP set, no other flag touched.
struct up_request {
    nlmsghdr header;
    ifinfomsg link;
    rtattr name_attr;
    char name[4];  // "lo\0", padded to RTA_ALIGN
};

up_request make_request() {
    up_request r{};
    r.header.nlmsg_len = sizeof r;
    r.header.nlmsg_type = RTM_NEWLINK;
    r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    r.header.nlmsg_seq = 1;
    r.link.ifi_family = AF_UNSPEC;
    r.link.ifi_flags = IFF_UP;
    r.link.ifi_change = IFF_UP;
    r.name_attr.rta_type = IFLA_IFNAME;
    r.name_attr.rta_len = RTA_LENGTH(3);
    std::memcpy(r.name, "lo", 3);
    return r;
}

// The kernel's answer to sequence 1: 0, or the errno it refused with.
int read_ack(int fd) {
    alignas(nlmsghdr) char buf[1024];
    while (true) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw sys::errno_error("reading the answer to raising lo");
        }
        auto len = static_cast<unsigned>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq == 1 && h->nlmsg_type == NLMSG_ERROR &&
                h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))) {
                return -static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
            }
        }
    }
}

// The request on `fd`, a NETLINK_ROUTE socket.
void raise_on(const sys::unique_fd& fd, int socket_errno) {
    if (!fd) {
        throw sys::errno_error("opening rtnetlink socket to raise lo", socket_errno);
    }
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    auto request = make_request();
    if (::sendto(fd.get(), &request, sizeof request, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
        throw sys::errno_error("asking the kernel to raise lo");
    }
    if (int refused = read_ack(fd.get())) {
        throw sys::errno_error("raising lo", refused);
    }
}

}  // namespace

void raise_own_loopback() {
    sys::unique_fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
    const int socket_errno = errno;
    raise_on(fd, socket_errno);
}

}  // namespace moat::netlink
