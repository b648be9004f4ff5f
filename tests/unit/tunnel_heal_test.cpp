// When the runner heals a tunnel (tunnel/heal.hpp): the judge's decisions
// over a timeline of samples — pure, no daemon needed. Each failure has
// its control: the same timeline with an answer, or healAfter = 0.
#include "tunnel/heal.hpp"

#include "plan/tunnel.hpp"

#include <gtest/gtest.h>

using namespace moat::tunnel;
using namespace std::chrono_literals;

namespace {

using tp = heal_judge::clock::time_point;
const tp t0{};

heal_sample wg(std::uint64_t rx, std::uint64_t tx) { return {true, "", rx, tx}; }
heal_sample ovpn(const std::string& state, std::uint64_t rx, std::uint64_t tx) {
    return {state == "CONNECTED", state, rx, tx};
}

}  // namespace

TEST(TunnelHeal, SendingWithNothingBackHealsAfterTheLimit) {
    heal_judge j(4s, "wireguard-go");
    j.daemon_started(t0);
    EXPECT_EQ(j.observe(wg(100, 100), t0 + 1s), "");  // handshake answered
    EXPECT_EQ(j.observe(wg(100, 200), t0 + 2s), "");  // sent; unanswered since 2 s
    EXPECT_EQ(j.observe(wg(100, 300), t0 + 5s), "");
    EXPECT_EQ(j.observe(wg(100, 400), t0 + 6s),
              "nothing received from the server for 4 s while sending to it");
}

TEST(TunnelHeal, AnAnswerOrAnIdleTunnelIsNoFailure) {
    heal_judge j(4s, "wireguard-go");
    j.daemon_started(t0);
    EXPECT_EQ(j.observe(wg(100, 100), t0 + 1s), "");
    EXPECT_EQ(j.observe(wg(100, 200), t0 + 2s), "");
    EXPECT_EQ(j.observe(wg(150, 200), t0 + 5s), "");  // the passive keepalive came back
    EXPECT_EQ(j.observe(wg(150, 300), t0 + 6s), "");  // sent again: a new 4 s
    EXPECT_EQ(j.observe(wg(200, 300), t0 + 9s), "");
    // Idle for a long time: nothing sent, nothing expected.
    EXPECT_EQ(j.observe(wg(200, 300), t0 + 1000s), "");
}

TEST(TunnelHeal, ZeroNeverHeals) {
    heal_judge j(0s, "openvpn");
    j.daemon_started(t0);
    EXPECT_EQ(j.observe(ovpn("RECONNECTING", 0, 500), t0 + 100000s), "");
    EXPECT_EQ(j.observe(ovpn("CONNECTED", 10, 500), t0 + 100001s), "");
    EXPECT_EQ(j.observe(ovpn("CONNECTED", 10, 900), t0 + 200000s), "");
}

TEST(TunnelHeal, OpenVpnNotConnectedSinceStartOrSinceItLeft) {
    heal_judge j(4s, "openvpn");
    j.daemon_started(t0);
    EXPECT_EQ(j.observe(ovpn("", 0, 0), t0 + 1s), "");  // no state yet
    EXPECT_EQ(j.observe(ovpn("WAIT", 0, 300), t0 + 3s), "");
    EXPECT_EQ(j.observe(ovpn("WAIT", 0, 600), t0 + 4s), "openvpn not connected (WAIT) for 4 s");

    heal_judge k(4s, "openvpn");
    k.daemon_started(t0);
    EXPECT_EQ(k.observe(ovpn("CONNECTED", 1000, 1000), t0 + 1s), "");
    EXPECT_EQ(k.observe(ovpn("CONNECTED", 1100, 1100), t0 + 10s), "");
    EXPECT_EQ(k.observe(ovpn("RECONNECTING", 1100, 1100), t0 + 11s), "");
    EXPECT_EQ(k.observe(ovpn("RESOLVE", 0, 0), t0 + 14s), "");
    EXPECT_EQ(k.observe(ovpn("RESOLVE", 0, 0), t0 + 15s), "openvpn not connected (RESOLVE) for 4 s");
}

TEST(TunnelHeal, ConnectingIsTheServerSpeaking) {
    heal_judge j(4s, "openvpn");
    j.daemon_started(t0);
    EXPECT_EQ(j.observe(ovpn("CONNECTED", 0, 800), t0 + 1s), "");
    EXPECT_EQ(j.observe(ovpn("CONNECTED", 0, 900), t0 + 2s), "");
    EXPECT_EQ(j.observe(ovpn("CONNECTED", 0, 950), t0 + 5s), "");
    EXPECT_EQ(j.observe(ovpn("CONNECTED", 0, 990), t0 + 6s),
              "nothing received from the server for 4 s while sending to it");
}

// Counters that shrink (openvpn counting afresh after reconnecting inside
// its process) are neither growth nor silence.
TEST(TunnelHeal, CountersStartingOverAreNoEvidence) {
    heal_judge j(4s, "openvpn");
    j.daemon_started(t0);
    EXPECT_EQ(j.observe(ovpn("CONNECTED", 5000, 5000), t0 + 1s), "");
    EXPECT_EQ(j.observe(ovpn("CONNECTED", 10, 20), t0 + 2s), "");
    EXPECT_EQ(j.observe(ovpn("CONNECTED", 10, 20), t0 + 30s), "");
}

TEST(TunnelHeal, BackOffDoublesUpToFiveMinutesAndResetsAfterWorkingAgain) {
    heal_judge j(60s, "wireguard-go");
    EXPECT_EQ(j.wait(), 60s);
    tp now = t0;
    for (auto expected : {120s, 240s, 300s, 300s}) {
        j.healed(now);
        EXPECT_EQ(j.wait(), expected);
        j.daemon_started(now);
        EXPECT_EQ(j.observe(wg(0, 0), now + 1s), "");
        now += 2s;
        // The new daemon gets the whole wait before the next heal.
        EXPECT_EQ(j.observe(wg(0, 100), now), "");
        EXPECT_EQ(j.observe(wg(0, 200), now + expected - 1s), "");
        EXPECT_NE(j.observe(wg(0, 300), now + expected), "");
        now += expected;
    }
    // Working again, but less than 5 minutes after the last heal: still backed off.
    j.healed(now);
    j.daemon_started(now);
    EXPECT_EQ(j.observe(wg(100, 100), now + 10s), "");
    EXPECT_EQ(j.wait(), 300s);
    // Carrying traffic 5 minutes after it: back to healAfter.
    EXPECT_EQ(j.observe(wg(200, 200), now + 300s), "");
    EXPECT_EQ(j.wait(), 60s);
    // A healAfter above the cap is its own cap.
    heal_judge long_wait(600s, "openvpn");
    long_wait.healed(t0);
    EXPECT_EQ(long_wait.wait(), 600s);
}

TEST(TunnelHeal, PlanCarriesHealAfter) {
    moat::plan::tunnel_plan t;
    t.name = "v";
    t.type = "wireguard";
    t.heal_after = 7;
    EXPECT_EQ(moat::plan::tunnel_from_json(moat::plan::to_json(t)).heal_after, 7u);
    auto j = moat::plan::to_json(t);
    j.erase("heal_after");  // a plan written before healAfter existed
    EXPECT_EQ(moat::plan::tunnel_from_json(j).heal_after, 120u);
}

// The runner's loop sleeps no longer than the next sample is due (every
// 500 ms): woken only once a second, a failure just short of healAfter
// waited a whole second more. Control: a tunnel that never heals lets the
// loop sleep its whole limit.
TEST(TunnelHeal, TheRunnerWakesForEachSample) {
    moat::plan::tunnel_plan t;
    t.name = "v";
    t.type = "openvpn";
    t.heal_after = 4;
    healer h(t);
    h.daemon_started();
    EXPECT_LE(h.until_next_sample(1000ms), 500ms);
    EXPECT_EQ(h.until_next_sample(100ms), 100ms) << "bounded by the caller's limit";

    t.heal_after = 0;
    healer never(t);
    never.daemon_started();
    EXPECT_EQ(never.until_next_sample(1000ms), 1000ms);
}
