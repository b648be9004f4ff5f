// The pure half of `up`'s wait (tunnel/wait_judge.hpp): what one look at a
// tunnel means, and which of its daemon's log lines are its reason.
#include "tunnel/wait_judge.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace moat::tunnel;

namespace {

tunnel_sample sample(const std::string& type, const std::string& state, const std::string& daemon_state = "") {
    tunnel_sample s;
    s.type = type;
    s.service_state = "running";
    s.h.state = state;
    s.h.daemon_state = daemon_state;
    return s;
}

}  // namespace

TEST(TunnelWait, UpNeedsEvidenceAndTheRoute) {
    auto s = sample("openvpn", "up", "CONNECTED");
    EXPECT_EQ(judge_wait(s, 0).phase, wait_phase::waiting);
    EXPECT_EQ(judge_wait(s, 0).state, "connected, waiting for its route");
    s.routed = true;
    EXPECT_EQ(judge_wait(s, 0).phase, wait_phase::up);
    // A route without evidence (a device up, no far end) is not up.
    auto w = sample("wireguard", "connecting");
    w.routed = true;
    w.h.endpoint = "203.0.113.2:51820";
    EXPECT_EQ(judge_wait(w, 0).phase, wait_phase::waiting);
    EXPECT_EQ(judge_wait(w, 0).state, "waiting for a handshake with 203.0.113.2:51820");
}

TEST(TunnelWait, LabelsCarryNoRunningSeconds) {
    // The label is what progress prints on change: the same state twice is
    // the same label, whatever the evidence's seconds say.
    auto a = sample("openvpn", "connecting", "WAIT");
    a.h.evidence = "openvpn state WAIT for 1 s";
    auto b = a;
    b.h.evidence = "openvpn state WAIT for 2 s";
    EXPECT_EQ(judge_wait(a, 0).state, "connecting (WAIT: no answer from the server yet)");
    EXPECT_EQ(judge_wait(a, 0).state, judge_wait(b, 0).state);
    EXPECT_EQ(judge_wait(sample("openvpn", "connecting"), 0).state, "starting");
    EXPECT_EQ(judge_wait(sample("openvpn", "connecting", "NEW_STATE"), 0).state, "connecting (NEW_STATE)");
    EXPECT_EQ(judge_wait(sample("openvpn", "unknown"), 0).state, "starting");
    EXPECT_EQ(judge_wait(sample("openvpn", "down", "CONNECTED"), 0).state,
              "connected, but nothing received from the server");
}

TEST(TunnelWait, ADeadDaemonFailsAtOnce) {
    auto s = sample("openvpn", "connecting", "AUTH");
    EXPECT_EQ(judge_wait(s, -1).phase, wait_phase::waiting);
    // Seen running (restart count 0), then in back-off: its daemon died.
    s.service_state = "restarting";
    EXPECT_EQ(judge_wait(s, 0).phase, wait_phase::failed);
    EXPECT_EQ(judge_wait(s, 0).state, "openvpn exited; restarting with back-off");
    // Restarted between two looks.
    s.service_state = "running";
    s.restarts = 2;
    EXPECT_EQ(judge_wait(s, 1).phase, wait_phase::failed);
    EXPECT_EQ(judge_wait(s, 2).phase, wait_phase::waiting);
    s.service_state = "exited";
    EXPECT_EQ(judge_wait(s, -1).phase, wait_phase::failed);
    s.service_state = "gone";
    EXPECT_EQ(judge_wait(s, -1).phase, wait_phase::failed);
    s.service_state = "";
    EXPECT_EQ(judge_wait(s, -1).state, "starting");
    // services.json lost or damaged (the runner not listed): the evidence decides.
    auto listed_nowhere = sample("wireguard", "up");
    listed_nowhere.service_state = "";
    listed_nowhere.routed = true;
    EXPECT_EQ(judge_wait(listed_nowhere, -1).phase, wait_phase::up);
}

TEST(TunnelWait, BackOffBeforeTheWaitJudgesTheNextRun) {
    // In back-off at the first look (killed by someone, failing since
    // before): not yet a failure; its next run is watched.
    auto s = sample("wireguard", "connecting");
    s.service_state = "restarting";
    s.restarts = 3;
    EXPECT_EQ(judge_wait(s, -1).phase, wait_phase::waiting);
    EXPECT_EQ(judge_wait(s, -1).state, "restarting (wireguard-go had exited before the wait)");
    s.service_state = "running";
    s.restarts = 4;
    EXPECT_EQ(judge_wait(s, -1).phase, wait_phase::waiting);
    s.service_state = "restarting";
    EXPECT_EQ(judge_wait(s, 4).phase, wait_phase::failed);
}

TEST(TunnelWait, ReasonLinesAreTheDaemonsErrors) {
    const std::string log =
        "2026-12-03T11:00:00.001Z moat: tunnel vpn0: started openvpn (pid 10, uid 1) on tn-vpn0, table 1\n"
        "2026-12-03T11:00:00.002Z 2026-12-03 11:00:00 old run: TLS Error: from before the last two starts\n"
        "2026-12-03T11:00:01.001Z moat: tunnel vpn0: started openvpn (pid 11, uid 1) on tn-vpn0, table 1\n"
        "2026-12-03T11:00:01.002Z 2026-12-03 11:00:01 OpenVPN 2.6.3 x86_64-pc-linux-gnu [SSL (OpenSSL)]\n"
        "2026-12-03T11:00:01.003Z 2026-12-03 11:00:01 library versions: OpenSSL 3.0.11, LZO 2.10\n"
        "2026-12-03T11:00:01.004Z 2026-12-03 11:00:01 MANAGEMENT: Connected to management server\n"
        "2026-12-03T11:00:01.004Z 2026-12-03 11:00:01 Note: --cipher is not set. ... when cipher negotiation failed\n"
        "2026-12-03T11:00:01.005Z 2026-12-03 11:00:01 UDPv4 link remote: [AF_INET]203.0.113.2:1194\n"
        "2026-12-03T11:00:02.000Z 2026-12-03 11:00:02 AUTH: Received control message: AUTH_FAILED\n"
        "2026-12-03T11:00:02.001Z 2026-12-03 11:00:02 SIGTERM[soft,auth-failure] received, process exiting\n"
        "2026-12-03T11:00:02.002Z moat: tunnel vpn0: tn-vpn0 down: EXITING\n"
        "2026-12-03T11:00:02.003Z moat: tunnel vpn0: openvpn exited with status 1\n"
        "2026-12-03T11:00:02.500Z moat: tunnel vpn0: started openvpn (pid 12, uid 1) on tn-vpn0, table 1\n"
        "2026-12-03T11:00:02.501Z 2026-12-03 11:00:02 OpenVPN 2.6.3 x86_64-pc-linux-gnu [SSL (OpenSSL)]\n"
        "2026-12-03T11:00:02.502Z 2026-12-03 11:00:02 UDPv4 link remote: [AF_INET]203.0.113.2:1194\n";
    auto r = reason_lines(log, "vpn0");
    ASSERT_EQ(r.size(), 4u) << ::testing::PrintToString(r);
    EXPECT_EQ(r[0], "AUTH: Received control message: AUTH_FAILED");
    EXPECT_EQ(r[1], "SIGTERM[soft,auth-failure] received, process exiting");
    EXPECT_EQ(r[2], "moat: tunnel vpn0: openvpn exited with status 1");
    EXPECT_EQ(r[3], "UDPv4 link remote: [AF_INET]203.0.113.2:1194");  // the repeat kept once, last
}

TEST(TunnelWait, ReasonLinesAreBoundedAndDeduplicated) {
    std::string log = "2026-12-03T11:00:00.001Z moat: tunnel vpn0: started openvpn (pid 10, uid 1)\n";
    for (int i = 0; i < 20; ++i) {
        log += "2026-12-03T11:00:0" + std::to_string(i % 10) +
               ".000Z 2026-12-03 11:00:00 read UDPv4 [EHOSTUNREACH]: No route to host (fd=5,code=113)\n";
        log += "2026-12-03T11:00:01.000Z TLS Error: TLS key negotiation failed to occur within 60 seconds " +
               std::to_string(i) + "\n";
    }
    log += "2026-12-03T11:00:09.000Z " + std::string(500, 'x') + " error\n";
    auto r = reason_lines(log, "vpn0", 5);
    ASSERT_EQ(r.size(), 5u);
    EXPECT_EQ(r[4].size(), 200u);  // a long line cut
    EXPECT_EQ(r[2], "read UDPv4 [EHOSTUNREACH]: No route to host (fd=5,code=113)");  // its last place
    EXPECT_EQ(std::count(r.begin(), r.end(), r[2]), 1);
    EXPECT_EQ(r[3], "TLS Error: TLS key negotiation failed to occur within 60 seconds 19");
    // Lines of another tunnel's marker do not bound this one; nothing meaningful is nothing.
    EXPECT_TRUE(reason_lines("2026-12-03T11:00:00.001Z Initialization Sequence Completed\n", "vpn0").empty());
    EXPECT_TRUE(reason_lines("", "vpn0").empty());
}

// A compromised daemon writes what it likes to its log; `up` prints these
// lines on the operator's terminal.
TEST(TunnelWait, ReasonLinesCarryNoControlSequence) {
    std::string log =
        "2026-12-03T11:00:00.001Z moat: tunnel vpn0: started openvpn (pid 10, uid 1) on tn-vpn0, table 1\n"
        "2026-12-03T11:00:01.000Z TLS Error: \x1b]52;c;cm0gLXJmIH4K\x07 handshake failed\x1b[2K\r\n"
        "2026-12-03T11:00:02.000Z AUTH_FAILED \x9b" "1A\xc2\x9b" "2J\n";
    auto r = reason_lines(log, "vpn0");
    ASSERT_EQ(r.size(), 2u) << ::testing::PrintToString(r);
    EXPECT_EQ(r[0], "TLS Error: \\x1b]52;c;cm0gLXJmIH4K\\x07 handshake failed\\x1b[2K");
    EXPECT_EQ(r[1], "AUTH_FAILED \\x9b1A\\xc2\\x9b2J");
}
