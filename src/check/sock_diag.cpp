// The host's listening sockets, as the kernel lists them over
// NETLINK_SOCK_DIAG (what `ss -tuln` reads): no text parsing of
// /proc/net/{tcp,udp}, and the bound device and IPV6_V6ONLY come with each.
#include "check/host_access.hpp"

#include "sys/error.hpp"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

namespace moat::check::detail {

namespace {

host_socket from_message(const inet_diag_msg& m, int protocol, std::size_t attr_len) {
    host_socket s;
    s.protocol = protocol;
    s.port = ntohs(m.id.idiag_sport);
    s.bound_ifindex = static_cast<int>(m.id.idiag_if);
    s.address.family = m.idiag_family;
    std::memcpy(s.address.bytes.data(), m.id.idiag_src, m.idiag_family == AF_INET ? 4 : 16);
    if (m.idiag_family == AF_INET6) {
        // An IPv4-mapped bind (::ffff:a.b.c.d) serves that IPv4 address.
        static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(s.address.bytes.data(), mapped, 12) == 0) {
            std::memmove(s.address.bytes.data(), s.address.bytes.data() + 12, 4);
            std::memset(s.address.bytes.data() + 4, 0, 12);
            s.address.family = AF_INET;
        }
        const auto* attr = reinterpret_cast<const rtattr*>(&m + 1);
        for (auto len = static_cast<unsigned>(attr_len); RTA_OK(attr, len); attr = RTA_NEXT(attr, len)) {
            if (attr->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(attr) >= 1) {
                s.v6_only = *static_cast<const std::uint8_t*>(RTA_DATA(attr)) != 0;
            }
        }
    }
    return s;
}

// One dump of one (family, protocol) in the given TCP states; UDP sockets
// report TCP_CLOSE unconnected and TCP_ESTABLISHED connected.
void dump(int fd, int family, int protocol, std::uint32_t states, std::vector<host_socket>& out) {
    struct {
        nlmsghdr nlh;
        inet_diag_req_v2 req;
    } msg{};
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.req.sdiag_family = static_cast<std::uint8_t>(family);
    msg.req.sdiag_protocol = static_cast<std::uint8_t>(protocol);
    msg.req.idiag_states = states;
    if (::send(fd, &msg, sizeof msg, 0) < 0) {
        throw sys::errno_error("asking sock_diag for the host's sockets");
    }
    alignas(nlmsghdr) char buf[32768];
    while (true) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            throw sys::errno_error("reading the host's sockets from sock_diag");
        }
        auto len = static_cast<unsigned>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE) {
                return;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
                errno = -e->error;
                throw sys::errno_error("sock_diag");
            }
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) {
                continue;
            }
            const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
            auto s = from_message(*m, protocol, h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
            if (s.port != 0 && (protocol == IPPROTO_TCP || m->id.idiag_dport == 0)) {
                out.push_back(s);
            }
        }
    }
}

}  // namespace

std::vector<host_socket> host_sockets() {
    sys::unique_fd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!fd) {
        throw sys::errno_error("opening a sock_diag socket");
    }
    std::vector<host_socket> out;
    for (int family : {AF_INET, AF_INET6}) {
        dump(fd.get(), family, IPPROTO_TCP, 1u << TCP_LISTEN, out);
        dump(fd.get(), family, IPPROTO_UDP, 1u << TCP_CLOSE, out);
    }
    return out;
}

}  // namespace moat::check::detail
