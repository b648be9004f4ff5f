// Listening sockets over NETLINK_SOCK_DIAG, and the processes holding them
// (sock_diag.hpp).
#include "netlink/sock_diag.hpp"

#include "sys/error.hpp"
#include "sys/unique_fd.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>

namespace moat::netlink {

namespace {

listening_socket from_message(const inet_diag_msg& m, int protocol, std::size_t attr_len) {
    listening_socket s;
    s.protocol = protocol;
    s.inode = m.idiag_inode;
    s.uid = m.idiag_uid;
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
void dump(int fd, int family, int protocol, std::uint32_t states, std::vector<listening_socket>& out) {
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

std::vector<listening_socket> listening_sockets() {
    sys::unique_fd fd(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
    if (!fd) {
        throw sys::errno_error("opening a sock_diag socket");
    }
    std::vector<listening_socket> out;
    for (int family : {AF_INET, AF_INET6}) {
        dump(fd.get(), family, IPPROTO_TCP, 1u << TCP_LISTEN, out);
        dump(fd.get(), family, IPPROTO_UDP, 1u << TCP_CLOSE, out);
    }
    return out;
}

bool is_wildcard(const sys::ip_address& a) {
    return std::all_of(a.bytes.begin(), a.bytes.end(), [](std::uint8_t b) { return b == 0; });
}

std::string describe(const listening_socket& s) {
    std::string a = s.address.is_v6() ? "[" + s.address.str() + "]" : s.address.str();
    return std::string(s.protocol == IPPROTO_TCP ? "tcp " : "udp ") + a + ":" + std::to_string(s.port);
}

namespace {

std::string comm_of(const std::string& pid) {
    std::string comm;
    std::getline(std::ifstream("/proc/" + pid + "/comm"), comm);
    return comm;
}

// The socket inodes among the descriptors of one process: each fd's link
// reads "socket:[<inode>]" (proc(5)).
template <typename F>
void each_socket_inode(int proc_fd, const std::string& pid, F&& f) {
    sys::unique_fd dir_fd(::openat(proc_fd, (pid + "/fd").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* dir = dir_fd ? ::fdopendir(dir_fd.get()) : nullptr;
    if (!dir) {
        return;  // gone, or not ours to read
    }
    int fd = dir_fd.release();
    std::unique_ptr<DIR, int (*)(DIR*)> owner(dir, ::closedir);
    char link[64];
    while (auto* e = ::readdir(dir)) {
        ssize_t n = ::readlinkat(fd, e->d_name, link, sizeof link - 1);
        if (n > 9 && std::memcmp(link, "socket:[", 8) == 0) {
            link[n] = 0;
            f(std::strtoull(link + 8, nullptr, 10));
        }
    }
}

}  // namespace

std::vector<std::vector<socket_holder>> socket_holders(const std::vector<std::uint64_t>& inodes) {
    std::vector<std::vector<socket_holder>> out(inodes.size());
    std::map<std::uint64_t, std::vector<std::size_t>> wanted;
    for (std::size_t i = 0; i < inodes.size(); ++i) {
        if (inodes[i] != 0) {
            wanted[inodes[i]].push_back(i);
        }
    }
    std::unique_ptr<DIR, int (*)(DIR*)> proc(wanted.empty() ? nullptr : ::opendir("/proc"), ::closedir);
    while (proc) {
        auto* e = ::readdir(proc.get());
        if (!e) {
            break;
        }
        std::string pid = e->d_name;
        if (pid.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        std::string comm;  // read once per process, and only for a match
        each_socket_inode(::dirfd(proc.get()), pid, [&](std::uint64_t inode) {
            auto it = wanted.find(inode);
            if (it == wanted.end()) {
                return;
            }
            if (comm.empty()) {
                comm = comm_of(pid);
            }
            for (auto i : it->second) {
                auto& holders = out[i];
                pid_t p = static_cast<pid_t>(std::stol(pid));
                if (holders.empty() || holders.back().pid != p) {  // one entry per process, not per fd
                    holders.push_back({p, comm});
                }
            }
        });
    }
    return out;
}

}  // namespace moat::netlink
