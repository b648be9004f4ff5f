// The socket itself: connecting (in this or another namespace), the error
// callback that keeps the kernel's real errno, and address conversions.
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <sys/socket.h>

#include <cstring>

#include "netlink/detail.hpp"
#include "netlink/netns.hpp"
#include "sys/error.hpp"

namespace moat::netlink {

error::error(int err, const std::string& what_arg)
    : std::system_error(err, std::generic_category(), what_arg), _what(what_arg) {}

namespace {

bool is_not_found(int e) noexcept { return e == ENODEV || e == ENOENT || e == ESRCH || e == EADDRNOTAVAIL; }

}  // namespace

bool error::not_found() const noexcept { return is_not_found(code().value()); }

void validate_ifname(const std::string& name) {
    // IFNAMSIZ is 16 including the NUL; the kernel's dev_valid_name() also
    // refuses '/', ':' and whitespace, and "." / "..".
    if (name.empty() || name.size() > 15) {
        throw moat::error("interface name '" + name + "' must be 1 to 15 bytes long");
    }
    if (name == "." || name == ".." || name.find_first_of("/: \t\n\r\v\f") != std::string::npos) {
        throw moat::error("interface name '" + name + "' contains '/', ':' or whitespace");
    }
}

namespace detail {

// libnl-internal failures (no kernel errno) → the nearest errno.
int nle_to_errno(int nle) {
    switch (nle) {
    case NLE_NOMEM: return ENOMEM;
    case NLE_EXIST: return EEXIST;
    case NLE_OBJ_NOTFOUND: return ENOENT;
    case NLE_NODEV: return ENODEV;
    case NLE_INVAL: return EINVAL;
    case NLE_RANGE: return ERANGE;
    case NLE_PERM: return EPERM;
    case NLE_NOACCESS: return EACCES;
    case NLE_BUSY: return EBUSY;
    case NLE_AGAIN: return EAGAIN;
    case NLE_MSGSIZE: return EMSGSIZE;
    case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
    case NLE_OPNOTSUPP: return EOPNOTSUPP;
    case NLE_NOADDR: return EADDRNOTAVAIL;
    case NLE_AF_MISMATCH: return EAFNOSUPPORT;
    default: return EIO;
    }
}

}  // namespace detail

namespace {

// The extended ACK text (NLMSGERR_ATTR_MSG) that follows an nlmsgerr when
// the request set NETLINK_EXT_ACK. libnl hands us only the nlmsgerr, which
// is the payload of the NLMSG_ERROR message, so the header precedes it.
std::string ext_ack_message(const nlmsgerr* e) {
    auto* hdr = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(e) - NLMSG_HDRLEN);
    if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) {
        return "";
    }
    std::size_t payload = sizeof(nlmsgerr);
    if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) {
        payload += e->msg.nlmsg_len - NLMSG_HDRLEN;  // the echoed request
    }
    std::size_t offset = NLMSG_HDRLEN + NLMSG_ALIGN(payload);
    if (offset >= hdr->nlmsg_len) {
        return "";
    }
    nlattr* tb[NLMSGERR_ATTR_MAX + 1] = {};
    auto* start = reinterpret_cast<nlattr*>(const_cast<char*>(reinterpret_cast<const char*>(hdr) + offset));
    if (nla_parse(tb, NLMSGERR_ATTR_MAX, start, static_cast<int>(hdr->nlmsg_len - offset), nullptr) < 0 ||
        !tb[NLMSGERR_ATTR_MSG]) {
        return "";
    }
    return std::string(static_cast<const char*>(nla_data(tb[NLMSGERR_ATTR_MSG])),
                       strnlen(static_cast<const char*>(nla_data(tb[NLMSGERR_ATTR_MSG])),
                               static_cast<std::size_t>(nla_len(tb[NLMSGERR_ATTR_MSG]))));
}

int record_kernel_error(sockaddr_nl*, nlmsgerr* e, void* arg) {
    auto* self = static_cast<socket::impl*>(arg);
    self->kernel_errno = -e->error;
    self->kernel_msg = ext_ack_message(e);
    return NL_STOP;  // libnl then returns its NLE_* code for this errno
}

}  // namespace

void socket::impl::check(int rc, const std::string& what) const {
    if (rc >= 0) {
        return;
    }
    if (kernel_errno > 0) {
        std::string text = what + ": " + std::strerror(kernel_errno);
        if (!kernel_msg.empty()) {
            text += " (kernel: " + kernel_msg + ")";
        }
        throw error(kernel_errno, text);
    }
    throw error(detail::nle_to_errno(-rc), what + ": " + nl_geterror(rc));
}

// "Not there" is an answer, not an exception: a tunnel runner asks for its
// device before making it, `down` deletes what may be gone. The first
// exception a process throws costs about 0.3 ms (the unwinder's set-up and
// the page faults of .eh_frame), on the way to a tunnel's daemon too.
bool socket::impl::check_missing_ok(int rc, const std::string& what) const {
    if (rc >= 0) {
        return true;
    }
    if (is_not_found(kernel_errno > 0 ? kernel_errno : detail::nle_to_errno(-rc))) {
        return false;
    }
    check(rc, what);
    return true;
}

bool socket::impl::check_exists_ok(int rc, const std::string& what) const {
    if (rc >= 0) {
        return true;
    }
    if ((kernel_errno > 0 ? kernel_errno : detail::nle_to_errno(-rc)) == EEXIST) {
        return false;
    }
    check(rc, what);
    return true;
}

socket::socket(std::unique_ptr<impl> i) : _impl(std::move(i)) {}
socket::socket(socket&&) noexcept = default;
socket& socket::operator=(socket&&) noexcept = default;
socket::~socket() = default;

socket socket::open() {
    auto i = std::make_unique<impl>();
    i->sock = detail::owned(nl_socket_alloc());
    nl_socket_modify_err_cb(i->sock.get(), NL_CB_CUSTOM, record_kernel_error, i.get());
    i->check(nl_connect(i->sock.get(), NETLINK_ROUTE), "opening rtnetlink socket");
    // Best effort: kernels before 4.12 lack them, and errors still work.
    int fd = nl_socket_get_fd(i->sock.get());
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    return socket(std::move(i));
}

socket socket::open_in(int netns_fd) {
    netns_guard in(netns_fd);
    return open();
}

namespace detail {

nl_ptr<nl_addr> to_nl(const sys::ip_address& a) {
    if (a.family != AF_INET && a.family != AF_INET6) {
        throw moat::error("netlink: address without a family");
    }
    return owned(nl_addr_build(a.family, a.bytes.data(), a.is_v4() ? 4 : 16));
}

nl_ptr<nl_addr> to_nl(const sys::ip_prefix& p) {
    auto a = to_nl(p.address);
    nl_addr_set_prefixlen(a.get(), p.length);
    return a;
}

nl_ptr<nl_addr> any_nl(int family) {
    sys::ip_address zero;
    zero.family = family;
    auto a = to_nl(zero);
    nl_addr_set_prefixlen(a.get(), 0);
    return a;
}

std::optional<sys::ip_address> from_nl(const nl_addr* a) {
    if (!a) {
        return std::nullopt;
    }
    int family = nl_addr_get_family(a);
    unsigned len = nl_addr_get_len(a);
    if (!((family == AF_INET && len == 4) || (family == AF_INET6 && len == 16))) {
        return std::nullopt;
    }
    sys::ip_address out;
    out.family = family;
    std::memcpy(out.bytes.data(), nl_addr_get_binary_addr(a), len);
    return out;
}

std::optional<sys::ip_prefix> prefix_from_nl(const nl_addr* a) {
    auto addr = from_nl(a);
    if (!addr) {
        return std::nullopt;
    }
    return sys::ip_prefix{*addr, static_cast<int>(nl_addr_get_prefixlen(a))};
}

}  // namespace detail
}  // namespace moat::netlink
