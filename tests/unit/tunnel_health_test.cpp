// Reading a tunnel's evidence (tunnel/health.hpp): wireguard-go's UAPI
// `get=1` answer, openvpn's bytecount lines and the runner's record, and
// the judgement of each — pure, no daemon needed.
#include "tunnel/health.hpp"
#include "tunnel/tunnel.hpp"

#include <gtest/gtest.h>

using namespace moat::tunnel;

namespace {

// As wireguard-go 0.0.20220316 answers get=1 (ipc/uapi.go IpcGetOperation).
const std::string uapi_answer =
    "private_key=a8dac1d8a70a751f0f699fb14ba1cff7b79cf4fbd8f09f44c6e6a90d0369604d\n"
    "listen_port=51820\n"
    "public_key=25123c5dcd3328ff645e4f2a3fce0d754400d3887a0cb7c56f0267e20fbf3c5b\n"
    "endpoint=203.0.113.2:51820\n"
    "last_handshake_time_sec=1796277080\n"
    "last_handshake_time_nsec=123456789\n"
    "tx_bytes=38333\n"
    "rx_bytes=2224\n"
    "persistent_keepalive_interval=25\n"
    "allowed_ip=0.0.0.0/0\n"
    "errno=0\n\n";

}  // namespace

TEST(TunnelHealth, ParsesUapiGet) {
    auto peers = parse_uapi_get(uapi_answer);
    ASSERT_EQ(peers.size(), 1u);
    EXPECT_EQ(peers[0].public_key, "25123c5dcd3328ff645e4f2a3fce0d754400d3887a0cb7c56f0267e20fbf3c5b");
    EXPECT_EQ(peers[0].last_handshake, 1796277080);
    EXPECT_EQ(peers[0].rx_bytes, 2224u);
    EXPECT_EQ(peers[0].tx_bytes, 38333u);
    // A peer that never handshook has 0; the interface's own keys are no peer.
    auto never = parse_uapi_get("private_key=00\npublic_key=01\nlast_handshake_time_sec=0\nerrno=0\n\n");
    ASSERT_EQ(never.size(), 1u);
    EXPECT_EQ(never[0].last_handshake, 0);
    EXPECT_TRUE(parse_uapi_get("private_key=00\nerrno=0\n\n").empty());
    EXPECT_THROW(parse_uapi_get("errno=22\n\n"), std::exception);
    EXPECT_THROW(parse_uapi_get("public_key=01\n"), std::exception);  // cut short: no errno
}

// wireguard-go is untrusted (docs/SECURITY.md, layer 7): the endpoint it
// reports is shown by `up` and `status` on the operator's terminal.
TEST(TunnelHealth, AnEndpointWithControlBytesIsShownEscaped) {
    auto peers = parse_uapi_get("public_key=01\nendpoint=203.0.113.2:51820\x1b]52;c;eA==\x07\nerrno=0\n\n");
    ASSERT_EQ(peers.size(), 1u);
    EXPECT_EQ(peers[0].endpoint, "203.0.113.2:51820\\x1b]52;c;eA==\\x07");
}

TEST(TunnelHealth, JudgesWireGuardByItsNewestHandshake) {
    auto peers = parse_uapi_get(uapi_answer);
    auto fresh = judge_wireguard(peers, 1796277080 + 30, 180);
    EXPECT_TRUE(fresh.ok());
    EXPECT_EQ(fresh.evidence, "last handshake 30 s ago");
    EXPECT_EQ(fresh.last_handshake, 1796277080);
    auto stale = judge_wireguard(peers, 1796277080 + 240, 180);
    EXPECT_FALSE(stale.ok());
    EXPECT_EQ(stale.state, "down");
    EXPECT_EQ(stale.evidence, "no handshake for 240 s");
    peers[0].last_handshake = 0;
    auto never = judge_wireguard(peers, 1796277080, 180);
    EXPECT_EQ(never.state, "connecting");
    EXPECT_EQ(never.evidence, "no handshake since wireguard-go started");
    EXPECT_FALSE(judge_wireguard({}, 0, 180).ok());
}

TEST(TunnelHealth, ParsesOpenVpnByteCounts) {
    auto b = parse_ovpn_bytecount(">BYTECOUNT:12345,678\r");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->first, 12345u);
    EXPECT_EQ(b->second, 678u);
    for (const char* other : {">BYTECOUNT_CLI:1,2,3", ">BYTECOUNT:1", ">BYTECOUNT:a,2", ">STATE:1,CONNECTED", "1,2"}) {
        EXPECT_FALSE(parse_ovpn_bytecount(other)) << other;
    }
    auto st = parse_ovpn_state(">STATE:1796277096,RECONNECTING,ping-restart,,,,,");
    ASSERT_TRUE(st);
    EXPECT_EQ(st->detail, "ping-restart");
}

TEST(TunnelHealth, OpenVpnRecordRoundTripsAndIsJudged) {
    ovpn_record r{"CONNECTED", "SUCCESS", 1000, 1100, 5000, 700};
    auto back = parse_ovpn_record(format_ovpn_record(r));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->state, "CONNECTED");
    EXPECT_EQ(back->detail, "SUCCESS");
    EXPECT_EQ(back->since, 1000);
    EXPECT_EQ(back->last_received, 1100);
    EXPECT_EQ(back->bytes_in, 5000u);
    EXPECT_EQ(back->bytes_out, 700u);
    EXPECT_FALSE(parse_ovpn_record(""));

    auto up = judge_openvpn(r, 1110, 180);
    EXPECT_TRUE(up.ok()) << up.evidence;
    EXPECT_EQ(up.evidence, "openvpn CONNECTED for 110 s, last received from the server 10 s ago");
    EXPECT_EQ(up.since, 1000);
    auto quiet = judge_openvpn(r, 1100 + 200, 180);
    EXPECT_FALSE(quiet.ok());
    EXPECT_EQ(quiet.evidence, "openvpn CONNECTED for 300 s, but nothing received from the server for 200 s");
    auto reconnecting = judge_openvpn(ovpn_record{"RECONNECTING", "ping-restart", 1200, 1100, 5000, 700}, 1212, 180);
    EXPECT_FALSE(reconnecting.ok());
    EXPECT_EQ(reconnecting.state, "connecting");
    EXPECT_EQ(reconnecting.evidence, "openvpn state RECONNECTING (ping-restart) for 12 s");
    EXPECT_EQ(reconnecting.last_error, "ping-restart");
    EXPECT_EQ(judge_openvpn(std::nullopt, 0, 180).state, "connecting");
}
