// NAT-PMP messages (tunnel/natpmp.hpp) against RFC 6886's layouts, byte
// for byte; the bytes natpmpc 20150609 sends for `-a 1 0 udp 60` (Proton's
// documented request) are the first case.
#include "tunnel/natpmp.hpp"

#include <gtest/gtest.h>

using namespace moat::tunnel::natpmp;
using bytes = std::vector<std::uint8_t>;

TEST(TunnelNatpmp, EncodesProtonsRequestAsNatpmpcDoes) {
    // natpmpc -a <public> <private> udp 60: version 0, opcode 1, reserved,
    // internal port 0, suggested public port 1, lifetime 60.
    EXPECT_EQ(encode(mapping_request{protocol::udp, 0, 1, 60}), (bytes{0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 60}));
    EXPECT_EQ(encode(mapping_request{protocol::tcp, 51413, 51413, 7200}),
              (bytes{0, 2, 0, 0, 0xc8, 0xd5, 0xc8, 0xd5, 0, 0, 0x1c, 0x20}));
    EXPECT_EQ(encode_address_request(), (bytes{0, 0}));
}

TEST(TunnelNatpmp, DecodesAMappingAnswer) {
    bytes tcp{0, 130, 0, 0, 0, 0, 0x01, 0x00, 0, 0, 0xb1, 0x9c, 0, 0, 0, 60};
    auto a = decode_mapping_answer(tcp.data(), tcp.size(), protocol::tcp);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->result, 0);
    EXPECT_EQ(a->epoch, 256u);
    EXPECT_EQ(a->internal_port, 0);
    EXPECT_EQ(a->public_port, 45468);
    EXPECT_EQ(a->lifetime, 60u);
    // The answer to another opcode (the UDP request's, 129) is not this one's.
    EXPECT_FALSE(decode_mapping_answer(tcp.data(), tcp.size(), protocol::udp));
    // Version 1 (PCP) or a short datagram: ignored, RFC 6886 3.1.
    bytes pcp = tcp;
    pcp[0] = 2;
    EXPECT_FALSE(decode_mapping_answer(pcp.data(), pcp.size(), protocol::tcp));
    EXPECT_FALSE(decode_mapping_answer(tcp.data(), 12, protocol::tcp));
}

TEST(TunnelNatpmp, DecodesARefusalWithOnlyItsHeader) {
    bytes refused{0, 129, 0, 2, 0, 0, 0, 9};
    auto a = decode_mapping_answer(refused.data(), refused.size(), protocol::udp);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->result, 2);
    EXPECT_EQ(a->public_port, 0);
    EXPECT_EQ(result_text(a->result), "Not Authorized/Refused");
    EXPECT_EQ(result_text(3), "Network Failure");
    EXPECT_EQ(result_text(77), "result code 77");
}

TEST(TunnelNatpmp, DecodesTheExternalAddress) {
    bytes ok{0, 128, 0, 0, 0, 0, 0, 5, 203, 0, 113, 2};
    auto a = decode_address_answer(ok.data(), ok.size());
    ASSERT_TRUE(a);
    EXPECT_EQ(a->address.str(), "203.0.113.2");
    EXPECT_EQ(a->epoch, 5u);
    EXPECT_FALSE(decode_address_answer(ok.data(), 11));
}

TEST(TunnelNatpmp, RetriesOnTheRfcSchedule) {
    // RFC 6886 3.1: 250 ms, then doubling.
    EXPECT_EQ(retry_delay(0).count(), 250);
    EXPECT_EQ(retry_delay(1).count(), 500);
    EXPECT_EQ(retry_delay(3).count(), 2000);
    EXPECT_EQ(retry_delay(8).count(), 64000);
}
