// What the conntrack tests share: a UDP echo server on the wan, and the lab
// host's connection tracking table read with conntrack(8) (conntrack-tools,
// from scripts/deps.sh --test), which the tests only read.
#pragma once

#include "network_lab.hpp"

#include <stdexcept>
#include <string>

namespace moat::test {

inline constexpr int echo_port = 5300;

// A UDP server on the wan's web addresses (web4, web6), port echo_port, in
// namespace ns, that answers "udp-<datagram>"; bound to each address, so
// the answer comes from the address asked (nc -u drops any other). It ends
// by itself after `seconds` (and with the lab). Returns once it answers.
inline void serve_udp_echo(lab& l, const std::string& ns, int seconds = 120) {
    auto script = l.write("udp_echo.py", "import select, socket\n"
                                         "socks = []\n"
                                         "for fam, addr in ((socket.AF_INET, '" + web4 + "'), (socket.AF_INET6, '" +
                                             web6 + "')):\n"
                                         "    s = socket.socket(fam, socket.SOCK_DGRAM)\n"
                                         "    s.bind((addr, " + std::to_string(echo_port) + "))\n"
                                         "    socks.append(s)\n"
                                         "while True:\n"
                                         "    for s in select.select(socks, [], [])[0]:\n"
                                         "        d, a = s.recvfrom(100)\n"
                                         "        s.sendto(b'udp-' + d, a)\n");
    l.in("(setsid timeout " + std::to_string(seconds) + " python3 " + script + " </dev/null >/dev/null 2>&1 &)", ns);
    if (!eventually([&] { return ns_udp(l, ns, web4, echo_port, "x") == "udp-x\n"; })) {
        throw std::runtime_error("the UDP echo server in " + ns + " does not answer");
    }
}

// The entries of the lab host's table that `filter` selects (conntrack -L
// options), one a line; "" when there are none.
inline std::string ct_entries(lab& l, const std::string& filter) {
    return l.in("conntrack -L " + filter + " 2>/dev/null").out;
}

// Whether, within 10 s, some entry that `filter` selects contains `text`.
inline bool ct_has(lab& l, const std::string& filter, const std::string& text) {
    return eventually([&] {
        auto e = ct_entries(l, filter);
        return !e.empty() && e.find(text) != std::string::npos;
    });
}

// Every entry naming `addr` in any of the four places: original source or
// destination, reply source or destination.
inline std::string ct_naming(lab& l, const std::string& addr) {
    std::string out;
    for (const char* where : {"--orig-src", "--orig-dst", "--reply-src", "--reply-dst"}) {
        out += ct_entries(l, std::string(where) + " " + addr);
    }
    return out;
}

}  // namespace moat::test
