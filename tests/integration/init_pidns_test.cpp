// moat's init as what it is in a container: PID 1 of a new PID namespace.
#include "init_harness.hpp"

#include <sstream>

namespace moat::test {
namespace {

using config::restart_policy;

std::vector<pid_t> children_of(pid_t pid) {
    std::vector<pid_t> out;
    try {
        std::istringstream in(sys::read_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) +
                                             "/children"));
        for (pid_t c; in >> c;) {
            out.push_back(c);
        }
    } catch (const std::exception&) {
    }
    return out;
}

class InitPidNamespace : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "needs root";
        }
    }
};

TEST_F(InitPidNamespace, ServicesSeeInitAsPid1AndOrphansAreReaped) {
    init_harness h;
    init::spec s;
    // The service reports its parent's PID (init = 1), then leaves an orphan
    // behind that exits later: only PID 1 can reap it.
    s.services = {sh_service("svc", "echo ppid=$PPID; (sleep 0.3; echo orphan-done) & exit 0")};
    h.start(s, {}, true);
    ASSERT_TRUE(init_harness::eventually([&] { return h.text("svc.log") == "ppid=1\norphan-done\n"; }))
        << h.read("svc.log");
    EXPECT_TRUE(init_harness::eventually([&] { return children_of(h.pid()).empty(); }, 3000ms))
        << "init keeps " << children_of(h.pid()).size() << " children (zombies?)";
    h.signal(SIGTERM);
    EXPECT_EQ(h.wait(5000ms), 0);
}

TEST_F(InitPidNamespace, StopKillsEveryProcessOfTheNamespace) {
    init_harness h;
    init::spec s;
    s.grace = 300ms;
    // A daemon in its own session, ignoring SIGTERM: no process group of a
    // service reaches it, only kill(-1) from PID 1 does.
    s.services = {sh_service("svc", "(setsid sh -c 'trap \"\" TERM; while :; do sleep 1; done' &); "
                                    "echo started; exec sleep 30")};
    h.start(s, {}, true);
    ASSERT_TRUE(init_harness::eventually([&] { return h.text("svc.log") == "started\n"; }));
    ASSERT_TRUE(init_harness::eventually([&] { return children_of(h.pid()).size() >= 2; }));
    auto daemons = children_of(h.pid());
    h.signal(SIGTERM);
    EXPECT_EQ(h.wait(5000ms), 0);
    for (pid_t p : daemons) {
        EXPECT_TRUE(::kill(p, 0) < 0 && errno == ESRCH) << "host pid " << p << " survived";
    }
    EXPECT_NE(h.read("init.log").find("SIGKILL to every process"), std::string::npos) << h.read("init.log");
}

TEST_F(InitPidNamespace, ExitWithKilledBySigkillReturns137) {
    init_harness h;
    init::spec s;
    s.services = {sh_service("cmd", "kill -KILL $$"), sh_service("bg", "exec sleep 30", restart_policy::always)};
    s.exit_with = "cmd";
    h.start(s, {}, true);
    EXPECT_EQ(h.wait(5000ms), 137);
}

}  // namespace
}  // namespace moat::test
