// Deleting a container's conntrack entries over ctnetlink (conntrack.hpp).
#include "netlink/conntrack.hpp"

#include "netlink/detail.hpp"
#include "netlink/netlink.hpp"
#include "sys/unique_fd.hpp"

#include <linux/netlink.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace moat::netlink {

namespace {

struct ct_deleter {
    void operator()(nfnl_ct* p) const noexcept { nfnl_ct_put(p); }
};
using ct_ptr = std::unique_ptr<nfnl_ct, ct_deleter>;

// One ctnetlink socket: the matches of the dump and the kernel's errno of the
// last failed request (libnl folds ENOENT and others into its own codes).
struct flush_state {
    const std::vector<sys::ip_address>* addresses = nullptr;
    std::vector<ct_ptr> matches;
    int kernel_errno = 0;
    int parse_error = 0;  // the first NLE_* of an entry libnl could not parse
};

bool names_one_of(const nfnl_ct* ct, const std::vector<sys::ip_address>& addresses) {
    for (int reply : {0, 1}) {
        for (const nl_addr* a : {nfnl_ct_get_src(ct, reply), nfnl_ct_get_dst(ct, reply)}) {
            auto ip = detail::from_nl(a);
            if (ip && std::find(addresses.begin(), addresses.end(), *ip) != addresses.end()) {
                return true;
            }
        }
    }
    return false;
}

int on_entry(nl_msg* msg, void* arg) {
    auto* st = static_cast<flush_state*>(arg);
    nfnl_ct* raw = nullptr;
    int rc = nfnlmsg_ct_parse(nlmsg_hdr(msg), &raw);
    ct_ptr ct(raw);
    if (rc < 0) {
        // One entry libnl cannot read must not hide the others; the dump
        // goes on and the flush reports it at the end.
        st->parse_error = st->parse_error ? st->parse_error : rc;
        return NL_SKIP;
    }
    if (names_one_of(ct.get(), *st->addresses)) {
        st->matches.push_back(std::move(ct));
    }
    return NL_OK;
}

int on_error(sockaddr_nl*, nlmsgerr* e, void* arg) {
    static_cast<flush_state*>(arg)->kernel_errno = -e->error;
    return NL_STOP;
}

[[noreturn]] void fail(int rc, const flush_state& st, const std::string& what) {
    if (st.kernel_errno > 0) {
        throw error(st.kernel_errno, what + ": " + std::strerror(st.kernel_errno));
    }
    throw error(detail::nle_to_errno(-rc), what + ": " + nl_geterror(rc));
}

// Whether this namespace has a conntrack table: nf_conntrack registers its
// sysctls in every namespace when it loads (nf_conntrack_standalone.c), and
// /proc/sys/net shows the reading thread's namespace.
//
// And whether that table holds any entry at all: nf_conntrack_count is this
// namespace's own count (net->ct.count, raised when an entry is allocated,
// unconfirmed ones included). A dump walks every bucket of the kernel's one
// hash table shared by all namespaces (nf_conntrack_buckets: 262144 on the
// benchmark machine), taking each bucket's lock, whatever this namespace
// holds: about 10 ms of system time there, the largest part of a `run
// --network private` teardown in a namespace without traffic. With a count
// of 0 there is nothing it could find. The callers flush after the
// container's link is gone (conntrack.hpp), so no new entry naming its
// addresses can appear after the count is read.
bool has_conntrack_entries() {
    char buf[32] = {};
    sys::unique_fd fd(::open("/proc/sys/net/netfilter/nf_conntrack_count", O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return false;  // no nf_conntrack in this kernel or namespace: no table
    }
    auto n = ::read(fd.get(), buf, sizeof buf - 1);
    // Unreadable or unexpected: dump, as before this shortcut.
    return n <= 0 || !(buf[0] == '0' && (buf[1] == '\n' || buf[1] == '\0'));
}

detail::nl_ptr<nl_sock> connect(flush_state& st) {
    auto sock = detail::owned(nl_socket_alloc());
    if (int rc = nl_connect(sock.get(), NETLINK_NETFILTER); rc < 0) {
        fail(rc, st, "opening a ctnetlink socket");
    }
    // A dump's multipart messages may exceed a page; let libnl size its
    // buffer by peeking instead of truncating them.
    nl_socket_enable_msg_peek(sock.get());
    nl_socket_modify_cb(sock.get(), NL_CB_VALID, NL_CB_CUSTOM, on_entry, &st);
    nl_socket_modify_err_cb(sock.get(), NL_CB_CUSTOM, on_error, &st);
    return sock;
}

void dump(nl_sock* sock, flush_state& st) {
    int rc = nfnl_ct_dump_request(sock);  // family AF_UNSPEC: both tables in one dump
    if (rc >= 0) {
        rc = nl_recvmsgs_default(sock);
    }
    if (rc < 0) {
        fail(rc, st, "listing the connection tracking table");
    }
    if (st.parse_error < 0) {
        fail(st.parse_error, st, "reading an entry of the connection tracking table");
    }
}

}  // namespace

std::size_t flush_conntrack(const std::vector<sys::ip_address>& addresses) {
    if (addresses.empty() || !has_conntrack_entries()) {
        return 0;
    }
    flush_state st;
    st.addresses = &addresses;
    auto sock = connect(st);
    dump(sock.get(), st);
    std::size_t deleted = 0;
    for (const auto& ct : st.matches) {
        st.kernel_errno = 0;
        int rc = nfnl_ct_del(sock.get(), ct.get(), 0);
        if (rc >= 0) {
            ++deleted;
        } else if (st.kernel_errno != ENOENT && rc != -NLE_OBJ_NOTFOUND) {
            fail(rc, st, "deleting a connection tracking entry");
        }  // else: it expired or someone else deleted it since the dump
    }
    return deleted;
}

}  // namespace moat::netlink
