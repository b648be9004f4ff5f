// table_comment(): whether table inet moat exists, and its comment, in one
// nfnetlink request.
//
// Theory of operation. The claim check (converge/claim.hpp) runs before
// every commit and needs only the table's comment. `list table` through
// libnftables fetches and prints every chain, set, element and rule of the
// table (tens of milliseconds with a hundred CNI pods, and twice per ADD),
// to read its first line. The kernel answers NFT_MSG_GETTABLE with the
// table alone: NFTA_TABLE_USERDATA holds the comment in libnftnl's udata
// format — records of { u8 type, u8 length, value }, the comment being type
// NFTNL_UDATA_TABLE_COMMENT (0) with its NUL terminator in the value (nft's
// src/mnl.c: nftnl_udata_put_strz). ENOENT is "no table". Anything else the
// kernel says is an error: a claim that cannot be read is not "no claim".
#include "firewall/firewall.hpp"

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

namespace moat::firewall {
namespace {

constexpr std::string_view name_sv = table_name;  // firewall.hpp's, as bytes
constexpr std::size_t name_size = name_sv.size() + 1;  // NLA_STRING with its NUL, as nft sends it
constexpr unsigned char udata_table_comment = 0;  // NFTNL_UDATA_TABLE_COMMENT (libnftnl udata.h)

// The comment in a table's NFTA_TABLE_USERDATA; nullopt without one.
std::optional<std::string> udata_comment(const unsigned char* p, std::size_t len) {
    while (len >= 2) {
        unsigned char type = p[0], size = p[1];
        if (std::size_t(size) + 2 > len) {
            break;
        }
        if (type == udata_table_comment) {
            std::string s(reinterpret_cast<const char*>(p + 2), size);
            if (!s.empty() && s.back() == '\0') {
                s.pop_back();
            }
            return s;
        }
        p += 2 + size;
        len -= 2 + size;
    }
    return std::nullopt;
}

std::optional<std::string> comment_in(const nlmsghdr* h) {
    auto* at = reinterpret_cast<const unsigned char*>(NLMSG_DATA(h)) + NLMSG_ALIGN(sizeof(nfgenmsg));
    auto* end = reinterpret_cast<const unsigned char*>(h) + h->nlmsg_len;
    while (at + sizeof(nlattr) <= end) {
        auto* a = reinterpret_cast<const nlattr*>(at);
        if (a->nla_len < sizeof(nlattr) || at + a->nla_len > end) {
            break;
        }
        if ((a->nla_type & NLA_TYPE_MASK) == NFTA_TABLE_USERDATA) {
            return udata_comment(at + NLA_HDRLEN, a->nla_len - NLA_HDRLEN);
        }
        at += NLA_ALIGN(a->nla_len);
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::optional<std::string>> table_comment() {
    sys::unique_fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER));
    if (!fd) {
        throw sys::errno_error("opening an nfnetlink socket");
    }
    struct {
        nlmsghdr h;
        nfgenmsg g;
        unsigned char attr[NLA_HDRLEN + NLA_ALIGN(name_size)];
    } req{};
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = 1;
    req.g.nfgen_family = NFPROTO_INET;
    req.g.version = NFNETLINK_V0;
    nlattr name{static_cast<unsigned short>(NLA_HDRLEN + name_size), NFTA_TABLE_NAME};
    std::memcpy(req.attr, &name, sizeof name);
    std::memcpy(req.attr + NLA_HDRLEN, name_sv.data(), name_sv.size());  // the NUL: req{} zeroed it
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd.get(), &req, sizeof req, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
        throw sys::errno_error("asking nftables for table inet moat");
    }
    // The answer: the table (NEWTABLE) and then the ACK, or an error.
    std::optional<std::optional<std::string>> found;
    alignas(nlmsghdr) std::array<unsigned char, 16384> buf;
    for (;;) {
        ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            throw sys::errno_error("reading nftables' answer about table inet moat");
        }
        auto left = static_cast<unsigned int>(n);
        for (auto* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                int err = -reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
                if (err == 0) {
                    return found;  // the ACK
                }
                if (err == ENOENT) {
                    return std::nullopt;
                }
                errno = err;
                throw sys::errno_error("asking nftables for table inet moat");
            }
            if (h->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE)) {
                found = comment_in(h);
            }
        }
    }
}

}  // namespace moat::firewall
