// netlink::flush_conntrack against the kernel's table in a lab namespace:
// entries made with conntrack(8) -I (ctnetlink, as the kernel makes them
// for real traffic), one for each place an address can take, both families,
// ICMP and a non-default zone, and neighbours that must survive.
#include <gtest/gtest.h>

#include "netlink/conntrack.hpp"
#include "netlink_lab.hpp"

#include <sstream>

namespace moat::netlink::test {
namespace {

sys::ip_address addr(const char* s) { return *sys::ip_address::parse(s); }

struct ct_lab {
    lab_ns ns;
    void insert(const std::string& args) const {
        must("ip netns exec " + ns.name() + " conntrack -I " + args + " -t 120");
    }
    // The entries, one a line (run() adds 2>&1; the count line goes to stderr).
    std::string list() const { return must("ip netns exec " + ns.name() + " sh -c 'conntrack -L 2>/dev/null'"); }
    std::size_t flush(const std::vector<sys::ip_address>& a) const {
        std::size_t n = 0;
        ns.in([&] { n = flush_conntrack(a); });
        return n;
    }
};

std::size_t lines(const std::string& s) {
    std::istringstream in(s);
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) n += !line.empty();
    return n;
}

TEST(NetlinkConntrack, FlushDeletesEveryEntryNamingTheAddressesAndNoOther) {
    ct_lab l;
    // 10.0.0.2 and fd00::2 in each place of a tuple.
    l.insert("-p udp -s 10.0.0.2 -d 192.0.2.1 --sport 1000 --dport 53");   // original source: egress
    l.insert("-p udp -s 192.0.2.1 -d 10.0.0.2 --sport 1001 --dport 53");   // original destination
    l.insert("-p tcp -s 192.0.2.5 -d 203.0.113.10 --sport 1002 --dport 80 --reply-src 10.0.0.2 --reply-dst 192.0.2.5 "
             "--reply-port-src 8080 --reply-port-dst 1002 --state ESTABLISHED");  // reply source: a DNAT'ed forward
    l.insert("-p udp -s 192.0.2.7 -d 192.0.2.8 --sport 1003 --dport 53 --reply-src 192.0.2.8 --reply-dst 10.0.0.2 "
             "--reply-port-src 53 --reply-port-dst 1003");  // reply destination
    l.insert("-p icmp -s 10.0.0.2 -d 192.0.2.1 --icmp-type 8 --icmp-code 0 --icmp-id 77");
    l.insert("-p udp -s 10.0.0.2 -d 192.0.2.1 --sport 1004 --dport 53 --zone 5");  // another zone
    l.insert("-p udp -s fd00::2 -d 2001:db8::1 --sport 1000 --dport 53");
    l.insert("-p tcp -s 2001:db8::5 -d 2001:db8::6 --sport 1002 --dport 80 --reply-src fd00::2 --reply-dst 2001:db8::5 "
             "--reply-port-src 8080 --reply-port-dst 1002 --state ESTABLISHED");
    // Neighbours: other addresses of the same subnets, one whose text
    // starts with the address, the gateway.
    l.insert("-p udp -s 10.0.0.3 -d 192.0.2.1 --sport 1000 --dport 53");
    l.insert("-p udp -s 10.0.0.20 -d 192.0.2.1 --sport 1000 --dport 53");
    l.insert("-p udp -s 10.0.0.1 -d 192.0.2.1 --sport 1000 --dport 53");
    l.insert("-p udp -s fd00::20 -d 2001:db8::1 --sport 1000 --dport 53");
    ASSERT_EQ(lines(l.list()), 12u) << l.list();  // control: all are there

    EXPECT_EQ(l.flush({addr("10.0.0.2"), addr("fd00::2")}), 8u);
    auto left = l.list();
    EXPECT_EQ(lines(left), 4u) << left;
    for (const char* gone : {"=10.0.0.2 ", "=fd00::2 "}) {
        EXPECT_EQ(left.find(gone), std::string::npos) << left;
    }
    for (const char* kept : {"src=10.0.0.3 ", "src=10.0.0.20 ", "src=10.0.0.1 ", "src=fd00::20 "}) {
        EXPECT_NE(left.find(kept), std::string::npos) << left;
    }
    // Idempotent: nothing left to delete is not an error.
    EXPECT_EQ(l.flush({addr("10.0.0.2"), addr("fd00::2")}), 0u);
    EXPECT_EQ(l.flush({}), 0u);
    EXPECT_EQ(lines(l.list()), 4u);
}

}  // namespace
}  // namespace moat::netlink::test
