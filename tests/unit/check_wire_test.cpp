// The wire formats of `moat check`: the DNS query/response and the leak
// capture's BPF program, which is run here by an interpreter (no root).
#include "cbpf_interpreter.hpp"
#include "check/dns.hpp"
#include "check/leak_filter.hpp"

#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using moat::sys::ip_address;
namespace dns = moat::check::dns;

namespace {

ip_address ip(const char* text) {
    auto a = ip_address::parse(text);
    if (!a) {
        throw std::invalid_argument(text);
    }
    return *a;
}

std::string u16(std::uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string u32(std::uint32_t v) { return u16(static_cast<std::uint16_t>(v >> 16)) + u16(static_cast<std::uint16_t>(v)); }
std::string addr_bytes(const ip_address& a) {
    return {reinterpret_cast<const char*>(a.bytes.data()), a.is_v4() ? 4u : 16u};
}
std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

// ---- DNS ----

std::string header(std::uint16_t id, std::uint16_t flags, std::uint16_t qd, std::uint16_t an) {
    return u16(id) + u16(flags) + u16(qd) + u16(an) + u16(0) + u16(0);
}
// The question "example.com" A, IN; its name sits at offset 12 (pointer 0xc00c).
const std::string question = std::string("\7example\3com\0", 13) + u16(dns::type_a) + u16(1);
const std::string to_question = "\xc0\x0c";
std::string record(const std::string& name, std::uint16_t type, const std::string& rdata, std::uint16_t cls = 1) {
    return name + u16(type) + u16(cls) + u32(300) + u16(static_cast<std::uint16_t>(rdata.size())) + rdata;
}
// A NOERROR response (QR, RD, RA) with one A and one AAAA answer.
std::string two_addresses(std::uint16_t id) {
    return header(id, 0x8180, 1, 2) + question + record(to_question, dns::type_a, addr_bytes(ip("192.0.2.7"))) +
           record(std::string("\7example\3com\0", 13), dns::type_aaaa, addr_bytes(ip("2001:db8::7")));
}

TEST(CheckDns, QueryBytes) {
    std::string want = std::string("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12) +
                       std::string("\7example\3com\0\0\x1c\0\1", 17);
    EXPECT_EQ(dns::query(0x1234, "example.com", dns::type_aaaa), want);
    EXPECT_EQ(dns::query(0x1234, "example.com.", dns::type_aaaa), want);
}

TEST(CheckDns, ReverseNames) {
    EXPECT_EQ(dns::reverse_name(ip("198.51.100.10")), "10.100.51.198.in-addr.arpa");
    EXPECT_EQ(dns::reverse_name(ip("2001:db8::567:89ab")),
              "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

TEST(CheckDns, ParsesAddresses) {
    auto p = bytes(two_addresses(0xbeef));
    auto a = dns::parse(p, 0xbeef);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->id, 0xbeef);
    EXPECT_EQ(a->rcode, 0);
    EXPECT_EQ(a->addresses, (std::vector<ip_address>{ip("192.0.2.7"), ip("2001:db8::7")}));
}

TEST(CheckDns, NxdomainHasNoAddresses) {
    auto p = bytes(header(7, 0x8183, 1, 0) + question);
    auto a = dns::parse(p, 7);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->rcode, 3);
    EXPECT_EQ(dns::rcode_name(a->rcode), "NXDOMAIN");
    EXPECT_TRUE(a->addresses.empty());
    EXPECT_EQ(dns::rcode_name(9), "rcode 9");
}

TEST(CheckDns, RejectsOtherIdsAndQueries) {
    EXPECT_FALSE(dns::parse(bytes(two_addresses(0xbeef)), 0xbeee));
    auto q = two_addresses(0xbeef);
    q[2] &= 0x7f;  // QR clear: a query, perhaps our own reflected back
    EXPECT_FALSE(dns::parse(bytes(q), 0xbeef));
    EXPECT_FALSE(dns::parse(bytes(dns::query(0xbeef, "example.com", dns::type_a)), 0xbeef));
}

TEST(CheckDns, EveryTruncationIsRejected) {
    auto full = bytes(two_addresses(42));
    for (std::size_t n = 0; n < full.size(); ++n) {
        // An exactly sized copy, so that ASan sees any read past the end.
        std::vector<std::uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_FALSE(dns::parse(prefix, 42)) << n << " bytes";
    }
    auto a = dns::parse(full, 42);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->addresses, (std::vector<ip_address>{ip("192.0.2.7"), ip("2001:db8::7")}));
}

TEST(CheckDns, RejectsReservedLabelTypes) {
    for (std::uint8_t bits : {0x40, 0x80}) {
        // Whole if the label byte were read as a plain length: only the
        // check of the top bits can reject it.
        std::string name = static_cast<char>(bits) + std::string(bits, 'a') + '\0';
        auto in_question = header(1, 0x8180, 1, 0) + name + u16(dns::type_a) + u16(1);
        EXPECT_FALSE(dns::parse(bytes(in_question), 1)) << int(bits);
        auto in_answer = header(1, 0x8180, 1, 1) + question + record(name, dns::type_a, addr_bytes(ip("192.0.2.7")));
        EXPECT_FALSE(dns::parse(bytes(in_answer), 1)) << int(bits);
    }
}

TEST(CheckDns, OnlyAddressRecordsCount) {
    auto p = header(9, 0x8180, 1, 4) + question +
             record(to_question, 5, std::string("\3www\xc0\x0c", 6)) +             // CNAME www.example.com
             record(std::string("\3www\xc0\x0c", 6), dns::type_a, addr_bytes(ip("192.0.2.8"))) +
             record(to_question, dns::type_a, addr_bytes(ip("192.0.2.9")), 3) +  // class CH
             record(to_question, dns::type_a, std::string(5, '\1'));             // a malformed length
    auto a = dns::parse(bytes(p), 9);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->addresses, (std::vector<ip_address>{ip("192.0.2.8")}));
}

// ---- the leak filter ----

using moat::check::leak_filter;
using moat::check::leak_selector;
using moat::test::cbpf_ancillary;

std::string ipv4(const ip_address& src, const ip_address& dst, std::uint8_t proto, const std::string& l4,
                 bool options = false) {
    std::string h = std::string(1, options ? '\x46' : '\x45') + '\0' +
                    u16(static_cast<std::uint16_t>((options ? 24 : 20) + l4.size())) + u32(0x12344000) + '\x40' +
                    static_cast<char>(proto) + u16(0) + addr_bytes(src) + addr_bytes(dst);
    return h + (options ? std::string("\1\1\1\0", 4) : "") + l4;  // NOPs, then end of options
}
std::string ipv6(const ip_address& src, const ip_address& dst, std::uint8_t next, const std::string& l4) {
    return u32(0x60000000) + u16(static_cast<std::uint16_t>(l4.size())) + static_cast<char>(next) + '\x40' +
           addr_bytes(src) + addr_bytes(dst) + l4;
}
std::string tcp(std::uint16_t sport) { return u16(sport) + u16(443) + std::string(16, '\0'); }
std::string udp(std::uint16_t sport) { return u16(sport) + u16(53) + u16(8) + u16(0); }
std::string echo(std::uint8_t type, std::uint16_t id, std::uint32_t payload) {
    return std::string(1, static_cast<char>(type)) + '\0' + u16(0) + u16(id) + u16(1) + u32(payload) + "padding!";
}

constexpr std::uint32_t nonce = 0x6d6f6174;
constexpr int up = 2;  // an interface that is watched

leak_selector selector() {
    leak_selector s;
    s.ignored_ifindexes = {1, 7};
    s.sources = {ip("10.99.0.2"), ip("fd00:99::2")};
    s.destinations = {ip("198.51.100.7"), ip("2001:db8::7")};
    s.first_port = 40000;
    s.last_port = 40099;
    s.icmp_nonce = nonce;
    return s;
}

struct LeakFilter : ::testing::Test {
    std::vector<sock_filter> prog = leak_filter(selector());

    void SetUp() override { ASSERT_EQ(moat::test::cbpf_structure_error(prog), ""); }

    bool accepts(const std::string& pkt, int ifindex = up) const {
        std::uint16_t proto = pkt.empty() ? 0 : pkt[0] >> 4 == 4 ? ETH_P_IP : pkt[0] >> 4 == 6 ? ETH_P_IPV6 : 0;
        return accepts_as(pkt, proto, ifindex);
    }
    bool accepts_as(const std::string& pkt, std::uint16_t proto, int ifindex = up) const {
        auto p = bytes(pkt);
        return moat::test::cbpf_run(prog, p, cbpf_ancillary{static_cast<std::uint32_t>(ifindex), proto}) != 0;
    }
};

const ip_address src4 = ip("10.99.0.2"), src6 = ip("fd00:99::2");
const ip_address dst4 = ip("198.51.100.7"), dst6 = ip("2001:db8::7");
const ip_address other4 = ip("203.0.113.1"), other6 = ip("2001:db8::99");

TEST_F(LeakFilter, IgnoredInterfacesSeeNothing) {
    for (int ifindex : {1, 7}) {
        EXPECT_FALSE(accepts(ipv4(src4, other4, IPPROTO_TCP, tcp(1234)), ifindex));
        EXPECT_FALSE(accepts(ipv6(dst6, dst6, IPPROTO_UDP, udp(40000)), ifindex));
    }
    auto p = bytes(ipv4(src4, other4, IPPROTO_TCP, tcp(1234)));
    EXPECT_EQ(moat::test::cbpf_run(prog, p, {up, ETH_P_IP}), moat::check::leak_snaplen);
}

TEST_F(LeakFilter, AnythingFromASourceIsALeak) {
    for (bool options : {false, true}) {
        EXPECT_TRUE(accepts(ipv4(src4, other4, IPPROTO_TCP, tcp(1234), options)));
        EXPECT_TRUE(accepts(ipv4(src4, other4, IPPROTO_UDP, udp(53), options)));
        EXPECT_TRUE(accepts(ipv4(src4, other4, IPPROTO_ICMP, echo(0, 1, 0), options)));
        EXPECT_TRUE(accepts(ipv4(src4, other4, IPPROTO_GRE, "", options)));
    }
    EXPECT_TRUE(accepts(ipv6(src6, other6, IPPROTO_TCP, tcp(1234))));
    EXPECT_TRUE(accepts(ipv6(src6, other6, IPPROTO_ICMPV6, echo(129, 1, 0))));
    EXPECT_TRUE(accepts(ipv6(src6, other6, IPPROTO_FRAGMENT, "")));
    EXPECT_FALSE(accepts(ipv4(other4, other4, IPPROTO_TCP, tcp(1234))));
    EXPECT_FALSE(accepts(ipv6(other6, other6, IPPROTO_TCP, tcp(1234))));
}

TEST_F(LeakFilter, MarkedPortsToADestination) {
    for (bool options : {false, true}) {
        for (std::uint16_t port : {40000, 40050, 40099}) {
            EXPECT_TRUE(accepts(ipv4(other4, dst4, IPPROTO_TCP, tcp(port), options))) << port;
            EXPECT_TRUE(accepts(ipv4(other4, dst4, IPPROTO_UDP, udp(port), options))) << port;
        }
        for (std::uint16_t port : {39999, 40100, 0, 65535}) {
            EXPECT_FALSE(accepts(ipv4(other4, dst4, IPPROTO_TCP, tcp(port), options))) << port;
            EXPECT_FALSE(accepts(ipv4(other4, dst4, IPPROTO_UDP, udp(port), options))) << port;
        }
        EXPECT_FALSE(accepts(ipv4(other4, other4, IPPROTO_TCP, tcp(40000), options)));
    }
    for (std::uint16_t port : {40000, 40099}) {
        EXPECT_TRUE(accepts(ipv6(other6, dst6, IPPROTO_TCP, tcp(port))));
        EXPECT_TRUE(accepts(ipv6(other6, dst6, IPPROTO_UDP, udp(port))));
    }
    for (std::uint16_t port : {39999, 40100}) {
        EXPECT_FALSE(accepts(ipv6(other6, dst6, IPPROTO_TCP, tcp(port))));
        EXPECT_FALSE(accepts(ipv6(other6, dst6, IPPROTO_UDP, udp(port))));
    }
    EXPECT_FALSE(accepts(ipv6(other6, other6, IPPROTO_UDP, udp(40000))));
    EXPECT_FALSE(accepts(ipv6(other6, dst6, IPPROTO_GRE, udp(40000))));
    // cut before the port: the kernel's out-of-bounds load rejects
    EXPECT_FALSE(accepts(ipv4(other4, dst4, IPPROTO_TCP, "\x9c")));
}

// A later IPv4 fragment has no transport header: the bytes where a port
// would be are payload, and must not be read as a mark. The first fragment
// (offset 0, more-fragments set) has the header and counts.
TEST_F(LeakFilter, LaterIpv4FragmentsAreNotReadAsMarked) {
    auto with_frag = [](std::string pkt, std::uint16_t flags_offset) {
        pkt[6] = static_cast<char>(flags_offset >> 8);
        pkt[7] = static_cast<char>(flags_offset & 0xff);
        return pkt;
    };
    const std::string marked = ipv4(other4, dst4, IPPROTO_UDP, udp(40000));
    EXPECT_TRUE(accepts(with_frag(marked, 0x2000)));   // first fragment
    EXPECT_FALSE(accepts(with_frag(marked, 0x00b9)));  // offset 185, last
    EXPECT_FALSE(accepts(with_frag(marked, 0x2001)));  // offset 1, more follow
    EXPECT_FALSE(accepts(with_frag(ipv4(other4, dst4, IPPROTO_ICMP, echo(8, 40000, nonce)), 0x0010)));
    // From a container's address any fragment is a leak.
    EXPECT_TRUE(accepts(with_frag(ipv4(src4, other4, IPPROTO_UDP, udp(1)), 0x00b9)));
}

TEST_F(LeakFilter, MarkedEchoRequests) {
    for (bool options : {false, true}) {
        EXPECT_TRUE(accepts(ipv4(other4, dst4, IPPROTO_ICMP, echo(8, 40000, nonce), options)));
        EXPECT_TRUE(accepts(ipv4(other4, dst4, IPPROTO_ICMP, echo(8, 40099, nonce), options)));
        EXPECT_FALSE(accepts(ipv4(other4, dst4, IPPROTO_ICMP, echo(8, 40000, nonce + 1), options)));
        EXPECT_FALSE(accepts(ipv4(other4, dst4, IPPROTO_ICMP, echo(0, 40000, nonce), options)));  // reply
        EXPECT_FALSE(accepts(ipv4(other4, dst4, IPPROTO_ICMP, echo(8, 39999, nonce), options)));
        EXPECT_FALSE(accepts(ipv4(other4, dst4, IPPROTO_ICMP, echo(8, 40100, nonce), options)));
        EXPECT_FALSE(accepts(ipv4(other4, other4, IPPROTO_ICMP, echo(8, 40000, nonce), options)));
    }
    EXPECT_TRUE(accepts(ipv6(other6, dst6, IPPROTO_ICMPV6, echo(128, 40000, nonce))));
    EXPECT_TRUE(accepts(ipv6(other6, dst6, IPPROTO_ICMPV6, echo(128, 40099, nonce))));
    EXPECT_FALSE(accepts(ipv6(other6, dst6, IPPROTO_ICMPV6, echo(128, 40000, ~nonce))));
    EXPECT_FALSE(accepts(ipv6(other6, dst6, IPPROTO_ICMPV6, echo(129, 40000, nonce))));  // reply
    EXPECT_FALSE(accepts(ipv6(other6, dst6, IPPROTO_ICMPV6, echo(128, 39999, nonce))));
    EXPECT_FALSE(accepts(ipv6(other6, dst6, IPPROTO_ICMPV6, echo(128, 40100, nonce))));
    EXPECT_FALSE(accepts(ipv6(other6, dst6, IPPROTO_ICMP, echo(8, 40000, nonce))));  // ICMPv4 in IPv6
    EXPECT_FALSE(accepts(ipv6(other6, other6, IPPROTO_ICMPV6, echo(128, 40000, nonce))));
}

TEST_F(LeakFilter, OnlyIp) {
    // An ARP request whose bytes would match at the IPv4 offsets.
    auto p = ipv4(src4, dst4, IPPROTO_UDP, udp(40000));
    EXPECT_FALSE(accepts_as(p, ETH_P_ARP));
    EXPECT_FALSE(accepts_as(p, 0x88cc));
    // the protocol, not the version nibble, picks the offsets
    EXPECT_FALSE(accepts_as(ipv6(other6, dst6, IPPROTO_UDP, udp(40000)), ETH_P_IP));
}

TEST_F(LeakFilter, LongListsKeepTheirJumps) {
    leak_selector s = selector();
    s.sources.clear();
    s.destinations.clear();
    auto v4 = [](int base, int i) { return ip(("10." + std::to_string(base) + "." + std::to_string(i / 256) + "." +
                                               std::to_string(i % 256)).c_str()); };
    auto v6 = [](int base, int i) { return ip(("fd00:" + std::to_string(base) + "::" + std::to_string(i)).c_str()); };
    for (int i = 0; i < 300; ++i) {
        s.sources.push_back(v4(1, i));
        s.sources.push_back(v6(1, i));
        s.destinations.push_back(v4(2, i));
        s.destinations.push_back(v6(2, i));
    }
    prog = leak_filter(s);
    // Longer than the kernel takes, but every jump must still land inside.
    EXPECT_GT(prog.size(), std::size_t{BPF_MAXINSNS});
    EXPECT_EQ(moat::test::cbpf_structure_error(prog, prog.size()), "");
    auto run = [&](const std::string& pkt, std::uint16_t proto) {
        auto p = bytes(pkt);
        return moat::test::cbpf_run(prog, p, {up, proto}) != 0;
    };
    const ip_address o4 = ip("203.0.113.1"), o6 = ip("2001:db8::99");
    for (int i : {0, 1, 150, 298, 299}) {
        EXPECT_TRUE(run(ipv4(v4(1, i), o4, IPPROTO_TCP, tcp(1)), ETH_P_IP)) << i;
        EXPECT_TRUE(run(ipv6(v6(1, i), o6, IPPROTO_TCP, tcp(1)), ETH_P_IPV6)) << i;
        EXPECT_TRUE(run(ipv4(o4, v4(2, i), IPPROTO_UDP, udp(40000), true), ETH_P_IP)) << i;
        EXPECT_TRUE(run(ipv6(o6, v6(2, i), IPPROTO_ICMPV6, echo(128, 40099, nonce)), ETH_P_IPV6)) << i;
        EXPECT_FALSE(run(ipv4(o4, v4(2, i), IPPROTO_UDP, udp(1)), ETH_P_IP)) << i;
        EXPECT_FALSE(run(ipv6(o6, v6(2, i), IPPROTO_UDP, udp(40100)), ETH_P_IPV6)) << i;
    }
    EXPECT_FALSE(run(ipv4(v4(1, 300), o4, IPPROTO_TCP, tcp(1)), ETH_P_IP));
    EXPECT_FALSE(run(ipv6(v6(1, 300), o6, IPPROTO_TCP, tcp(1)), ETH_P_IPV6));
    EXPECT_FALSE(run(ipv4(o4, v4(2, 300), IPPROTO_UDP, udp(40000)), ETH_P_IP));
    EXPECT_FALSE(run(ipv6(o6, v6(2, 300), IPPROTO_UDP, udp(40000)), ETH_P_IPV6));

    // IPv6 is the costly family (four compares an address): 200 sources and
    // 200 destinations of it must still load into the kernel.
    s.sources.clear();
    s.destinations.clear();
    for (int i = 0; i < 200; ++i) {
        s.sources.push_back(v6(1, i));
        s.destinations.push_back(v6(2, i));
    }
    prog = leak_filter(s);
    EXPECT_LT(prog.size(), std::size_t{BPF_MAXINSNS});
    EXPECT_EQ(moat::test::cbpf_structure_error(prog), "");
}

// ---- summarize() ----

using moat::check::summarize;

TEST(LeakSummary, ReadsHeaders) {
    struct row {
        std::string pkt;
        ip_address src, dst;
        int protocol;
        std::uint16_t port;
    };
    const ip_address a4 = ip("10.99.0.2"), b4 = ip("198.51.100.7"), a6 = ip("fd00:99::2"), b6 = ip("2001:db8::7");
    for (const auto& r : std::vector<row>{
             {ipv4(a4, b4, IPPROTO_TCP, tcp(40001)), a4, b4, IPPROTO_TCP, 40001},
             {ipv4(a4, b4, IPPROTO_UDP, udp(40002), true), a4, b4, IPPROTO_UDP, 40002},
             {ipv4(a4, b4, IPPROTO_ICMP, echo(8, 40003, nonce)), a4, b4, IPPROTO_ICMP, 40003},
             {ipv4(a4, b4, IPPROTO_ICMP, echo(8, 40004, nonce), true), a4, b4, IPPROTO_ICMP, 40004},
             {ipv6(a6, b6, IPPROTO_TCP, tcp(40005)), a6, b6, IPPROTO_TCP, 40005},
             {ipv6(a6, b6, IPPROTO_ICMPV6, echo(128, 40006, nonce)), a6, b6, IPPROTO_ICMPV6, 40006},
             {ipv4(a4, b4, IPPROTO_TCP, ""), a4, b4, IPPROTO_TCP, 0},  // headers only: no port
         }) {
        auto s = summarize(bytes(r.pkt));
        ASSERT_TRUE(s) << r.port;
        EXPECT_EQ(s->source, r.src);
        EXPECT_EQ(s->destination, r.dst);
        EXPECT_EQ(s->protocol, r.protocol);
        EXPECT_EQ(s->port, r.port);
    }
}

TEST(LeakSummary, TooShortOrNotIp) {
    auto v4 = ipv4(ip("10.99.0.2"), ip("198.51.100.7"), IPPROTO_TCP, tcp(1));
    auto v6 = ipv6(ip("fd00:99::2"), ip("2001:db8::7"), IPPROTO_TCP, tcp(1));
    EXPECT_FALSE(summarize({}));
    EXPECT_FALSE(summarize(bytes(v4.substr(0, 19))));
    EXPECT_FALSE(summarize(bytes(v6.substr(0, 39))));
    EXPECT_FALSE(summarize(bytes("\x50" + v4.substr(1))));
    // every prefix, exactly sized so that ASan sees a read past the end
    for (const auto& p : {v4, v6, ipv4(ip("10.0.0.1"), ip("10.0.0.2"), IPPROTO_ICMP, echo(8, 1, 2), true)}) {
        for (std::size_t n = 0; n <= p.size(); ++n) {
            auto s = summarize(bytes(p.substr(0, n)));
            EXPECT_EQ(bool(s), n >= (p[0] == '\x60' ? 40u : 20u)) << n;
        }
    }
}

}  // namespace

// Thousands of IPv6 sources: split into programs the kernel takes, each
// source accepted by exactly one, a marked probe by the first only.
TEST(CheckLeakFilter, ManySourcesAreSplitIntoProgramsTheKernelTakes) {
    leak_selector s = selector();
    s.sources.clear();
    for (int i = 0; i < 1000; ++i) {
        s.sources.push_back(ip(("fd00::" + std::to_string(i + 1)).c_str()));
    }
    auto programs = moat::check::leak_filters(s);
    ASSERT_GT(programs.size(), 1u);
    for (const auto& p : programs) {
        EXPECT_EQ(moat::test::cbpf_structure_error(p), "");
    }
    auto accepted_by = [&](const std::string& pkt) {
        int n = 0;
        for (const auto& p : programs) {
            n += moat::test::cbpf_run(p, bytes(pkt), cbpf_ancillary{up, ETH_P_IPV6}) != 0;
        }
        return n;
    };
    for (std::size_t i : {0u, 499u, 500u, 999u}) {
        EXPECT_EQ(accepted_by(ipv6(s.sources[i], ip("2001:db8::99"), IPPROTO_TCP, tcp(1234))), 1) << i;
    }
    EXPECT_EQ(accepted_by(ipv6(ip("2001:db8::1"), ip("2001:db8::7"), IPPROTO_UDP, udp(40003))), 1);
    EXPECT_EQ(accepted_by(ipv6(ip("2001:db8::1"), ip("2001:db8::99"), IPPROTO_UDP, udp(40003))), 0);
}
