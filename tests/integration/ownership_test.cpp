// Ownership (issue 13): `up` touches only what its own file made, the state
// lock holds across `down`, read-only commands create nothing, a state dir
// someone else could write is refused, and a failed `up` rolls back.
#include "residue.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

using namespace moat::test;

namespace {

std::string container(const std::string& name, int net, const std::string& extra = "") {
    return "[containers." + name + "]\nprivateNetwork = true\nhostAddress = \"10.171." + std::to_string(net) +
           ".1\"\nlocalAddress = \"10.171." + std::to_string(net) + ".2\"\n" + extra + "[containers." + name +
           ".services.idle]\nexec = [\"/bin/sleep\", \"100000\"]\n";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(Ownership, TwoFilesInOneStateDirKeepEachOthersContainers) {
    lab l;
    auto a = l.write("a.toml", container("one", 20));
    auto b = l.write("b.toml", container("two", 21));
    ASSERT_EQ(l.moat("up -f " + a).code, 0);
    int one = pid_of(l, "one");
    ASSERT_GT(one, 0);
    auto r = l.moat("up -f " + b);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_FALSE(contains(r.out, "removed")) << r.out;
    EXPECT_EQ(pid_of(l, "one"), one) << "up -f b.toml removed a.toml's container";
    int two = pid_of(l, "two");
    ASSERT_GT(two, 0);
    r = l.moat("up -f " + a);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "no changes")) << r.out;
    EXPECT_EQ(pid_of(l, "two"), two) << "up -f a.toml removed b.toml's container";
    EXPECT_EQ(pid_of(l, "one"), one);
    // A third file declaring a name b.toml's container has: refused, nothing changed.
    auto c = l.write("c.toml", container("two", 22));
    r = l.moat("up -f " + c);
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, b)) << r.err;
    EXPECT_EQ(pid_of(l, "two"), two);
    auto m = snapshot(l);
    r = l.moat("down -f " + a);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(pid_of(l, "two"), two);
    ASSERT_EQ(l.moat("down -f " + b).code, 0);
    EXPECT_EQ(residue(l, m), "");
}

TEST(Ownership, ContainerStartedByNameStaysUntilDownOrNoLongerDeclared) {
    lab l;
    std::string both = container("base", 23) + container("web", 24, "autoStart = false\n");
    auto file = l.write("a.toml", both);
    ASSERT_EQ(l.moat("up -f " + file).code, 0);
    EXPECT_EQ(pid_of(l, "web"), 0);
    ASSERT_EQ(l.moat("up -f " + file + " web").code, 0);
    int web = pid_of(l, "web");
    ASSERT_GT(web, 0);
    auto r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "no changes")) << r.out;
    EXPECT_EQ(pid_of(l, "web"), web) << "a plain up removed a container started by name: " << r.out;
    // Once the file no longer declares it, a plain `up` removes it and says why.
    l.write("a.toml", container("base", 23));
    r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "removed (no longer in " + file + ")")) << r.out;
    EXPECT_EQ(pid_of(l, "web"), 0);
    EXPECT_NE(l.in("ip link show ve-web").code, 0);
    made m = snapshot(l);
    m.pids.push_back(web);
    ASSERT_EQ(l.moat("down").code, 0);
    EXPECT_EQ(residue(l, m), "");
}

// `down` removes the state dir at its end; an `up` waiting for the lock must
// then start from a fresh one instead of writing into the removed directory.
TEST(Ownership, UpDuringDownSucceedsAndLeavesAConsistentState) {
    lab l;
    auto file = l.write("moat.toml", container("p", 25) + container("q", 26));
    std::string moat = enter(l.host_ns()) + moat_binary() + " --state-dir " + l.state_dir();
    made all;
    int up_second = 0;  // tries in which `up` waited for `down`: the case this test is about
    for (int i = 0; i < 10; ++i) {
        SCOPED_TRACE("try " + std::to_string(i));
        auto r = l.moat("up -q -f " + file);
        ASSERT_EQ(r.code, 0) << r.err;
        auto before = snapshot(l);
        all.pids.insert(all.pids.end(), before.pids.begin(), before.pids.end());
        all.cgroups.insert(all.cgroups.end(), before.cgroups.begin(), before.cgroups.end());
        auto both = sh("(" + moat + " down -q 2>" + l.dir() + "/down.err; echo $? >" + l.dir() + "/down.rc) & " +
                       "sleep 0.02; " + moat + " up -q -f " + file + "; u=$?; wait; echo \"$u $(cat " + l.dir() +
                       "/down.rc)\"");
        EXPECT_EQ(both.out, "0 0\n") << both.err << sh("cat " + l.dir() + "/down.err").out;
        // Consistent: either everything is running and recorded (up came
        // second), or nothing is left (down came second).
        auto st = status_json(l);
        auto containers = st.value("containers", nlohmann::json::array());
        if (containers.empty()) {
            EXPECT_EQ(residue(l, before), "");
            continue;
        }
        ASSERT_EQ(containers.size(), 2u) << st.dump();
        ++up_second;
        for (const auto& c : containers) {
            EXPECT_EQ(c["state"], "running") << st.dump();
            EXPECT_EQ(l.in("ip link show " + c["host_interface"].get<std::string>()).code, 0);
        }
        auto again = l.moat("up -f " + file);
        EXPECT_EQ(again.code, 0) << again.err;
        EXPECT_TRUE(contains(again.out, "no changes")) << again.out;
    }
    EXPECT_GT(up_second, 0) << "`up` never started while `down` held the lock: the race was not exercised";
    auto last = snapshot(l);
    all.pids.insert(all.pids.end(), last.pids.begin(), last.pids.end());
    ASSERT_EQ(l.moat("down").code, 0);
    EXPECT_EQ(residue(l, all), "");
}

TEST(Ownership, ReadOnlyCommandsOnAMissingStateDirCreateNothing) {
    lab l;
    auto file = l.write("moat.toml", container("x", 27));
    auto missing = [&] { return sh("test -e " + l.state_dir()).code != 0; };
    auto r = l.moat("status");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "no containers")) << r.out;
    EXPECT_TRUE(missing()) << "status";
    r = l.moat("status --json");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["containers"].size(), 0u);
    EXPECT_TRUE(missing()) << "status --json";
    r = l.moat("plan -f " + file);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "container x: create")) << r.out;
    EXPECT_TRUE(missing()) << "plan";
    r = l.moat("check");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(missing()) << "check";
    for (const char* cmd : {"logs x", "exec x -- true", "login x"}) {
        r = l.moat(cmd);
        EXPECT_EQ(r.code, 1) << cmd << ": " << r.err;
        EXPECT_TRUE(contains(r.err, "no container named 'x'")) << cmd << ": " << r.err;
        EXPECT_TRUE(missing()) << cmd;
    }
    r = l.moat("down");
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_TRUE(missing()) << "down";
}

TEST(Ownership, StateDirOthersCouldWriteIsRefusedAndNeverChmodded) {
    lab l;
    auto file = l.write("moat.toml", container("x", 28));
    auto mode = [&] { return sh("stat -c %a " + l.state_dir()).out; };
    ASSERT_EQ(sh("mkdir -m 0777 " + l.state_dir() + " && chmod 0777 " + l.state_dir()).code, 0);
    for (const char* m : {"0777", "0770", "0702"}) {
        SCOPED_TRACE(m);
        ASSERT_EQ(sh(std::string("chmod ") + m + " " + l.state_dir()).code, 0);
        for (const std::string& cmd : {"up -f " + file, std::string("status"), std::string("down")}) {
            auto r = l.moat(cmd);
            EXPECT_EQ(r.code, 2) << cmd << ": " << r.out << r.err;
            EXPECT_TRUE(contains(r.err, "writable")) << cmd << ": " << r.err;
        }
        EXPECT_EQ(mode(), std::string(m).substr(1) + "\n");
        EXPECT_EQ(sh("ls -A " + l.state_dir()).out, "") << "something was created in a refused state dir";
    }
    // Owned by someone else, even with a tight mode.
    ASSERT_EQ(sh("chmod 0700 " + l.state_dir() + " && chown nobody " + l.state_dir()).code, 0);
    auto r = l.moat("up -f " + file);
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_TRUE(contains(r.err, "owned by")) << r.err;
    EXPECT_EQ(sh("ls -A " + l.state_dir()).out, "");
    // Control: root's, 0755 (an administrator's choice) is used as it is, not chmodded.
    ASSERT_EQ(sh("chown root " + l.state_dir() + " && chmod 0755 " + l.state_dir()).code, 0);
    r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(mode(), "755\n");
    auto m = snapshot(l);
    ASSERT_EQ(m.pids.size(), 1u);
    ASSERT_EQ(l.moat("down").code, 0);
    EXPECT_EQ(residue(l, m), "");
}

// A prepare() that fails half-way (record written; cgroup made; init cloned;
// network wired) is rolled back like the containers already prepared: a
// failed first `up` leaves nothing, without a `down`.
TEST(Ownership, RollBackOfAFailingPrepareLeavesNothing) {
    for (const char* point : {"after-record", "after-cgroup", "after-spawn", "after-network"}) {
        SCOPED_TRACE(point);
        lab l;
        std::string first = "rba" + l.id(), second = "rbb" + l.id();
        auto file = l.write("moat.toml", container(first, 29) + container(second, 30));
        auto r = sh("MOAT_FAILPOINT=throw:" + std::string(point) + " " + enter(l.host_ns()) + moat_binary() +
                    " --state-dir " + l.state_dir() + " up -q -f " + file);
        EXPECT_EQ(r.code, 1) << r.err;
        EXPECT_TRUE(contains(r.err, "failpoint " + std::string(point))) << r.err;
        EXPECT_EQ(residue(l, made{}), "");
        // No cgroup of either container is left (their paths contain the lab's id).
        auto cgroups = sh("find /sys/fs/cgroup -type d \\( -name " + first + " -o -name " + second + " \\) 2>/dev/null");
        EXPECT_EQ(cgroups.out, "");
        auto procs = sh("pgrep -f '[m]oat-lab-" + l.id() + "' || true");
        EXPECT_EQ(procs.out, "");
    }
}
