// The leak capture of `moat check`: one cooked packet socket on every
// interface, with the leak filter (leak_filter.hpp) deciding in the kernel
// what is queued at all.
#include "check/detail.hpp"

#include "netlink/netlink.hpp"
#include "sys/error.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>

namespace moat::check::detail {

namespace {

void attach(int fd, std::vector<sock_filter>& filter) {
    sock_fprog prog{static_cast<unsigned short>(filter.size()), filter.data()};
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
        throw sys::errno_error("attaching the leak filter");
    }
}

// A filter that accepts nothing, for a socket whose share of the sources is gone.
std::vector<sock_filter> nothing() { return {BPF_STMT(BPF_RET | BPF_K, 0)}; }

sys::unique_fd open_capture(std::vector<sock_filter>& filter) {
    // Protocol 0: nothing is queued before the filter is in place; bind
    // then starts the capture with it.
    sys::unique_fd fd(::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw sys::errno_error("opening a packet socket");
    }
    attach(fd.get(), filter);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
        throw sys::errno_error("starting the leak capture");
    }
    return fd;
}

}  // namespace

capture::capture(const leak_selector& s) {
    for (auto& filter : leak_filters(s)) {
        _fds.push_back(open_capture(filter));
    }
    auto nl = netlink::socket::open();
    for (const auto& l : nl.links()) {
        if (std::find(s.ignored_ifindexes.begin(), s.ignored_ifindexes.end(), l.index) == s.ignored_ifindexes.end()) {
            _interfaces.push_back(l.name);
        }
    }
}

void capture::select(const leak_selector& s) {
    // More destinations make the first program longer and may move the
    // split: sockets are refilled in order, an extra program gets a socket
    // of its own, a socket left over accepts nothing.
    auto filters = leak_filters(s);
    auto none = nothing();
    for (std::size_t i = 0; i < std::max(filters.size(), _fds.size()); ++i) {
        if (i == _fds.size()) {
            _fds.push_back(open_capture(filters[i]));
        } else {
            attach(_fds[i].get(), i < filters.size() ? filters[i] : none);
        }
    }
}

std::vector<captured> capture::drain() {
    std::vector<captured> out;
    std::map<int, std::string> names;
    std::uint8_t buf[leak_snaplen];
    while (true) {
        sockaddr_ll from{};
        socklen_t len = sizeof from;
        ssize_t n = -1;
        for (const auto& fd : _fds) {
            if ((n = ::recvfrom(fd.get(), buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len)) >= 0) {
                break;
            }
        }
        if (n < 0) {
            break;
        }
        auto summary = summarize({buf, static_cast<std::size_t>(n)});
        if (!summary) {
            continue;
        }
        auto& name = names[from.sll_ifindex];
        if (name.empty()) {
            char ifname[IF_NAMESIZE] = {};
            name = ::if_indextoname(static_cast<unsigned>(from.sll_ifindex), ifname) ? ifname : "#" + std::to_string(from.sll_ifindex);
        }
        out.push_back({name, *summary});
    }
    return out;
}

}  // namespace moat::check::detail
