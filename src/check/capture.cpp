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

capture::capture(const leak_selector& s) {
    // Protocol 0: nothing is queued before the filter is in place; bind
    // then starts the capture with it.
    _fd.reset(::socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!_fd) {
        throw sys::errno_error("opening a packet socket");
    }
    select(s);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    if (::bind(_fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
        throw sys::errno_error("starting the leak capture");
    }
    auto nl = netlink::socket::open();
    for (const auto& l : nl.links()) {
        if (std::find(s.ignored_ifindexes.begin(), s.ignored_ifindexes.end(), l.index) == s.ignored_ifindexes.end()) {
            _interfaces.push_back(l.name);
        }
    }
}

void capture::select(const leak_selector& s) {
    auto filter = leak_filter(s);
    sock_fprog prog{static_cast<unsigned short>(filter.size()), filter.data()};
    if (::setsockopt(_fd.get(), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
        throw sys::errno_error("attaching the leak filter");
    }
}

std::vector<captured> capture::drain() {
    std::vector<captured> out;
    std::map<int, std::string> names;
    std::uint8_t buf[leak_snaplen];
    while (true) {
        sockaddr_ll from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(_fd.get(), buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &len);
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
