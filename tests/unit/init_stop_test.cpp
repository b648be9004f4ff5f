// moat's init stopping its services (as a child subreaper).
#include "init_harness.hpp"

namespace moat::test {
namespace {

using config::restart_policy;

bool group_gone(pid_t pgid) { return ::kill(-pgid, 0) < 0 && errno == ESRCH; }

TEST(InitStop, SigtermStopsServicesAndReturnsZero) {
    init_harness h;
    init::spec s;
    s.services = {sh_service("a", "exec sleep 30", restart_policy::always),
                  sh_service("b", "sleep 30 & sleep 30; wait", restart_policy::always)};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return h.service("b")["state"] == "running"; }));
    pid_t a = h.service("a")["pid"], b = h.service("b")["pid"];
    auto t0 = std::chrono::steady_clock::now();
    h.signal(SIGTERM);
    EXPECT_EQ(h.wait(5000ms), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);  // did not need the 5 s grace
    auto st = h.status()["services"];
    EXPECT_EQ(st["a"]["state"], "stopped");
    EXPECT_EQ(st["a"]["last_exit"], "signal 15");
    EXPECT_EQ(st["a"]["restarts"], 0);  // no restart while stopping
    EXPECT_EQ(st["b"]["state"], "stopped");
    EXPECT_TRUE(init_harness::eventually([&] { return group_gone(a) && group_gone(b); }, 2000ms));
    EXPECT_NE(h.read("init.log").find("SIGTERM received"), std::string::npos);
}

TEST(InitStop, ServiceIgnoringSigtermIsKilledAfterGrace) {
    init_harness h;
    init::spec s;
    s.grace = 300ms;
    // The shell and its children ignore SIGTERM.
    s.services = {sh_service("stubborn", "trap '' TERM; echo ready; while :; do sleep 1; done")};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually(
        [&] { return h.text("stubborn.log") == "ready\n" && h.service("stubborn")["state"] == "running"; }));
    pid_t pgid = h.service("stubborn")["pid"];
    auto t0 = std::chrono::steady_clock::now();
    h.signal(SIGTERM);
    EXPECT_EQ(h.wait(5000ms), 0);
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(took, 280ms);
    EXPECT_LT(took, 3s);
    EXPECT_EQ(h.service("stubborn")["last_exit"], "signal 9");
    EXPECT_TRUE(init_harness::eventually([&] { return group_gone(pgid); }, 2000ms));
    auto log = h.read("init.log");
    EXPECT_NE(log.find("grace period over: SIGKILL"), std::string::npos) << log;
}

TEST(InitStop, SigintStopsLikeSigterm) {
    init_harness h;
    init::spec s;
    s.services = {sh_service("a", "exec sleep 30")};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return h.service("a")["state"] == "running"; }));
    h.signal(SIGINT);
    EXPECT_EQ(h.wait(5000ms), 0);
    EXPECT_NE(h.read("init.log").find("SIGINT received"), std::string::npos);
}

TEST(InitStop, PendingRestartIsCancelledByStop) {
    init_harness h;
    init::spec s;
    s.backoff_initial = 3000ms;  // the second restart's (the first is immediate)
    s.services = {sh_service("crash", "exit 1", restart_policy::always)};
    h.start(s);
    // Not the first exit's "restarting" (0 ms, the immediate restart pending).
    ASSERT_TRUE(init_harness::eventually([&] {
        auto crash = h.service("crash");
        return crash["state"] == "restarting" && crash["restart_in_ms"] == 3000;
    })) << h.status();
    h.signal(SIGTERM);
    EXPECT_EQ(h.wait(2000ms), 0);  // does not wait out the 3 s back-off
    EXPECT_EQ(h.service("crash")["state"], "stopped");
    EXPECT_EQ(h.service("crash")["restarts"], 1);  // the first restart is immediate
}

TEST(InitStop, SighupGoesToTheExitWithService) {
    init_harness h;
    init::spec s;
    s.services = {sh_service("cmd", "trap 'echo got-hup; exit 4' HUP; echo ready; while :; do sleep 0.05; done")};
    s.exit_with = "cmd";
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return h.text("cmd.log") == "ready\n"; }));
    h.signal(SIGHUP);
    EXPECT_EQ(h.wait(5000ms), 4);
    EXPECT_NE(h.read("cmd.log").find("got-hup"), std::string::npos);
}

TEST(InitStop, OrphansOfServicesAreReaped) {
    init_harness h;
    init::spec s;
    // The service exits at once; its background child becomes an orphan of
    // the subreaper (the init) and exits 0.3 s later.
    s.services = {sh_service("parent", "(sleep 0.3; echo orphan-done) & exit 0")};
    h.start(s);
    ASSERT_TRUE(init_harness::eventually([&] { return h.text("parent.log") == "orphan-done\n"; }));
    std::string children = "/proc/" + std::to_string(h.pid()) + "/task/" + std::to_string(h.pid()) + "/children";
    EXPECT_TRUE(init_harness::eventually([&] { return sys::read_file(children).empty(); }, 3000ms))
        << "init still has children (zombies?): " << sys::read_file(children);
    h.signal(SIGTERM);
    EXPECT_EQ(h.wait(5000ms), 0);
}

}  // namespace
}  // namespace moat::test
