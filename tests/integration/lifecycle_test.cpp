// Lifecycle guarantees: idempotent `up`, convergence, `down` leaves nothing
// (also after a kill -9 at any point of `up`), bad config changes nothing.
#include "lab.hpp"
#include "residue.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>
#include <sstream>

using moat::test::lab;
using moat::test::made;
using moat::test::pid_of;
using moat::test::residue;
using moat::test::sh;
using moat::test::snapshot;

namespace {

const char* config_v1 = R"(
[containers.alpha]
privateNetwork = true
hostAddress = "10.171.2.1"
localAddress = "10.171.2.2"
hostAddress6 = "fc00:172::1"
localAddress6 = "fc00:172::2"
firewall.allowedTCPPorts = [80]
[containers.alpha.services.web]
script = 'while true; do echo alpha | nc -l -p 80; done'
restart = "always"

[containers.beta]
privateNetwork = true
hostAddress = "10.171.3.1"
localAddress = "10.171.3.2"
[containers.beta.services.idle]
exec = ["/bin/sleep", "100000"]
)";

}  // namespace

TEST(Lifecycle, SecondUpChangesNothing) {
    lab l;
    auto file = l.write("moat.toml", config_v1);
    auto first = l.moat("up -f " + file);
    ASSERT_EQ(first.code, 0) << first.err;
    int alpha = pid_of(l, "alpha");
    auto table_before = l.in("nft list table inet moat").out;
    auto second = l.moat("up -f " + file);
    ASSERT_EQ(second.code, 0) << second.err;
    EXPECT_NE(second.out.find("no changes"), std::string::npos) << second.out;
    EXPECT_NE(second.out.find("alpha                unchanged"), std::string::npos) << second.out;
    EXPECT_EQ(pid_of(l, "alpha"), alpha);
    EXPECT_EQ(l.in("nft list table inet moat").out, table_before);
}

TEST(Lifecycle, EditingTheFileConverges) {
    lab l;
    auto file = l.write("moat.toml", config_v1);
    ASSERT_EQ(l.moat("up -f " + file).code, 0);
    int alpha = pid_of(l, "alpha"), beta = pid_of(l, "beta");
    // Change beta, drop nothing: alpha keeps running untouched.
    std::string v2 = config_v1;
    v2.replace(v2.find("100000"), 6, "200000");
    l.write("moat.toml", v2);
    // plan and up say what changed (issue 15), plan each address's family.
    auto planned = l.moat("plan -f " + file);
    EXPECT_NE(planned.out.find("container beta: recreate (changed: services.idle.exec)"), std::string::npos)
        << planned.out;
    EXPECT_NE(planned.out.find("container alpha: unchanged"), std::string::npos) << planned.out;
    EXPECT_NE(planned.out.find("  address IPv4: 10.171.2.2/"), std::string::npos) << planned.out;
    EXPECT_NE(planned.out.find("  address IPv6: fc00:172::2/"), std::string::npos) << planned.out;
    EXPECT_NE(planned.out.find("  route IPv6: default via fc00:172::1 dev eth0"), std::string::npos) << planned.out;
    auto r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("beta                 recreated (changed: services.idle.exec)"), std::string::npos) << r.out;
    EXPECT_EQ(pid_of(l, "alpha"), alpha);
    EXPECT_NE(pid_of(l, "beta"), beta);
    // Remove beta from the file: `up` removes it and its link.
    std::string v3 = v2.substr(0, v2.find("[containers.beta]"));
    l.write("moat.toml", v3);
    r = l.moat("up -f " + file);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("beta                 removed"), std::string::npos) << r.out;
    EXPECT_EQ(l.in("ip link show ve-beta").code, 1);
    EXPECT_EQ(pid_of(l, "alpha"), alpha);
    // Drift: someone deletes moat's table; `up` puts it back.
    ASSERT_EQ(l.in("nft delete table inet moat").code, 0);
    r = l.moat("up -f " + file);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(l.in("nft list table inet moat").code, 0);
    // Drift: someone deletes the container's veth; `up` repairs it.
    ASSERT_EQ(l.in("ip link del ve-alpha").code, 0);
    r = l.moat("up -f " + file);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("alpha                repaired"), std::string::npos) << r.out;
    std::string line;
    for (int i = 0; i < 30 && line.empty(); ++i) {
        line = l.read_line("10.171.2.2", 80);
    }
    EXPECT_EQ(line, "alpha\n");
}

// A `down` killed right after it signalled every init leaves them alive but
// on their way out (here for the init's 5 s grace: the service ignores
// SIGTERM). The next `up` must repair them; it kept them as "unchanged"
// and returned while they exited (the chaos test's "down killed after 7 ms"
// round, which left `_tunnels` dead). Control: the record says "stopping".
TEST(Lifecycle, UpAfterADownKilledMidwayRepairsWhatWasStopping) {
    lab l;
    auto file = l.write("moat.toml", R"(
[containers.stubborn]
privateNetwork = true
hostAddress = "10.171.4.1"
localAddress = "10.171.4.2"
[containers.stubborn.services.svc]
script = "trap '' TERM; while :; do sleep 0.1; done"
)");
    ASSERT_EQ(l.moat("up -f " + file).code, 0);
    const int before = pid_of(l, "stubborn");
    auto killed = sh("MOAT_FAILPOINT=after-stop-requests " + moat::test::enter(l.host_ns()) +
                     moat::test::moat_binary() + " --state-dir " + l.state_dir() + " down -q; echo rc=$?");
    EXPECT_EQ(killed.out, "rc=137\n");
    auto rec = nlohmann::json::parse(sh("cat " + l.state_dir() + "/containers/stubborn/record.json").out);
    EXPECT_EQ(rec["status"], "stopping");
    EXPECT_EQ(pid_of(l, "stubborn"), before) << "its init should still be in its grace period";
    auto up = l.moat("up -f " + file);
    ASSERT_EQ(up.code, 0) << up.err;
    EXPECT_NE(up.out.find("stubborn             repaired"), std::string::npos) << up.out;
    // A new init, still there after the old one's grace period has passed.
    const int after = pid_of(l, "stubborn");
    EXPECT_NE(after, before);
    std::this_thread::sleep_for(std::chrono::seconds(6));
    EXPECT_EQ(pid_of(l, "stubborn"), after);
    auto st = nlohmann::json::parse(l.moat("status --json").out);
    EXPECT_EQ(st["containers"][0]["state"], "running") << st;
}

TEST(Lifecycle, DownLeavesNothing) {
    lab l;
    auto file = l.write("moat.toml", config_v1);
    ASSERT_EQ(l.moat("up -f " + file).code, 0);
    auto m = snapshot(l);
    ASSERT_EQ(m.pids.size(), 2u);
    ASSERT_GT(m.pids[0], 0);
    EXPECT_EQ(l.moat("exec alpha -- true").code, 0);
    auto r = l.moat("down");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(residue(l, m), "");
    // down again: nothing to do, still fine.
    EXPECT_EQ(l.moat("down").code, 0);
}

// `ip netns exec` mounts a fresh /sys without the cgroup2 file system. A
// `down` run there stopped the inits and dropped the records, left their
// cgroups behind and said nothing; a `gc` there found no cgroup, stopped
// no init (stop() refuses there) and still dropped the records. Both now
// fail with the reason before they change anything, host.json's repair
// included (it is damaged first); the same `down` through nsenter (the
// control) then repairs it and leaves nothing.
TEST(Lifecycle, DownAndGcWhereCgroupsAreHiddenFailAndChangeNothing) {
    lab l;
    auto file = l.write("moat.toml", config_v1);
    ASSERT_EQ(l.moat("up -f " + file).code, 0);
    auto m = snapshot(l);
    ASSERT_EQ(m.cgroups.size(), 2u);
    ASSERT_FALSE(m.cgroups[0].empty());
    int alpha = pid_of(l, "alpha");
    const std::string host_json = l.state_dir() + "/host.json";
    ASSERT_EQ(sh("truncate -s 40 " + host_json).code, 0);
    auto state_before = sh("cd " + l.state_dir() + " && find . -type f -name '*.json' | sort | xargs sha256sum");
    for (const char* cmd : {"down -q", "gc -q"}) {
        SCOPED_TRACE(cmd);
        auto hidden = sh("ip netns exec " + l.host_ns() + " " + moat::test::moat_binary() + " --state-dir " +
                         l.state_dir() + " " + cmd);
        EXPECT_EQ(hidden.code, 1) << hidden.out << hidden.err;
        EXPECT_NE(hidden.err.find("no cgroup2 file system"), std::string::npos) << hidden.err;
        EXPECT_EQ(hidden.err.find("host.json is damaged"), std::string::npos) << hidden.err;
        EXPECT_EQ(pid_of(l, "alpha"), alpha);  // still recorded
        EXPECT_EQ(sh("test -d /proc/" + std::to_string(alpha)).code, 0) << "alpha's init was stopped";
        for (const auto& cg : m.cgroups) {
            EXPECT_EQ(sh("test -d " + cg).code, 0) << cg;
        }
        EXPECT_EQ(sh("cd " + l.state_dir() + " && find . -type f -name '*.json' | sort | xargs sha256sum").out,
                  state_before.out);
    }
    auto r = l.moat("down");
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.err.find("host.json is damaged"), std::string::npos) << r.err;  // the damage was there
    EXPECT_EQ(residue(l, m), "");
}

// `up` stops what it replaces or removes one container at a time; where
// cgroups are hidden, a container made with one is refused (above), and
// that refusal used to come after an orphan made without a cgroup had
// already been removed. Now every container `up` would stop is checked
// first. alpha is made under `ip netns exec` (no cgroup), beta through
// nsenter (one); the edited file drops alpha and changes beta.
TEST(Lifecycle, UpWhereCgroupsAreHiddenRefusesBeforeItStopsAnything) {
    lab l;
    const std::string opts = " --state-dir " + l.state_dir() + " ";
    const std::string hidden = "ip netns exec " + l.host_ns() + " " + moat::test::moat_binary() + opts;
    const std::string alpha = "[containers.alpha]\nservices.s.exec = [\"sleep\", \"1000\"]\n";
    auto beta = [](const char* secs) {
        return "[containers.beta]\nservices.s.exec = [\"sleep\", \"" + std::string(secs) + "\"]\n";
    };
    auto file = l.write("moat.toml", alpha);
    ASSERT_EQ(sh(hidden + "up -q -f " + file).code, 0);
    l.write("moat.toml", alpha + beta("1000"));
    ASSERT_EQ(l.moat("up -q -f " + file).code, 0);
    auto m = snapshot(l);
    ASSERT_EQ(m.cgroups.size(), 2u);
    const int a = pid_of(l, "alpha"), b = pid_of(l, "beta");
    l.write("moat.toml", beta("2000"));
    auto refused = sh(hidden + "up -q -f " + file);
    EXPECT_EQ(refused.code, 1) << refused.out << refused.err;
    EXPECT_NE(refused.err.find("container beta: its cgroup"), std::string::npos) << refused.err;
    EXPECT_EQ(pid_of(l, "alpha"), a) << "alpha, the orphan, was removed";
    EXPECT_EQ(pid_of(l, "beta"), b);
    EXPECT_EQ(sh("test -d /proc/" + std::to_string(a)).code, 0) << "alpha's init was stopped";
    // The control: the same `up` where the cgroups are seen does both.
    auto up = l.moat("up -f " + file);
    ASSERT_EQ(up.code, 0) << up.err;
    EXPECT_NE(up.out.find("alpha                removed"), std::string::npos) << up.out;
    EXPECT_NE(up.out.find("beta                 recreated"), std::string::npos) << up.out;
    ASSERT_EQ(l.moat("down").code, 0);
    EXPECT_EQ(residue(l, m), "");
}

TEST(Lifecycle, DownAfterKillNineAtEveryPointOfUp) {
    for (const char* point : {"after-record", "after-cgroup", "after-spawn", "after-network", "before-firewall",
                              "after-firewall", "after-release"}) {
        SCOPED_TRACE(point);
        lab l;
        auto file = l.write("moat.toml", config_v1);
        auto r = moat::test::sh("MOAT_FAILPOINT=" + std::string(point) + " " + moat::test::enter(l.host_ns()) +
                                moat::test::moat_binary() + " --state-dir " + l.state_dir() + " up -q -f " + file);
        EXPECT_EQ(r.code, 128 + 9) << r.err;  // it really died there
        auto m = snapshot(l);
        auto down = l.moat("down");
        EXPECT_EQ(down.code, 0) << down.err;
        EXPECT_EQ(residue(l, m), "");
    }
}

// An init builds its root while `up` commits the firewall, but starts no
// service before the go that follows the commit (container/handoff.hpp).
// `up` is held right before the commit: beta's init has built its root
// (it sets the hostname right after; before this change it got its spec
// only after the commit) and has no child; after the commit its service
// runs.
TEST(Lifecycle, RootIsBuiltDuringTheCommitServicesStartOnlyAfterIt) {
    lab l;
    auto file = l.write("moat.toml", config_v1);
    auto started = sh("MOAT_FAILPOINT=stop:before-firewall setsid " + moat::test::enter(l.host_ns()) +
                      moat::test::moat_binary() + " --state-dir " + l.state_dir() + " up -q -f " + file +
                      " >/dev/null 2>&1 </dev/null & echo $!");
    ASSERT_EQ(started.code, 0);
    const std::string up = started.out.substr(0, started.out.find('\n'));
    struct kill_up {
        std::string pid;
        ~kill_up() { sh("[ \"$(cat /proc/" + pid + "/comm 2>/dev/null)\" = moat ] && kill -KILL " + pid + "; true"); }
    } killer{up};
    auto poll = [](const std::function<bool()>& fn) {
        for (int i = 0; i < 400; ++i) {
            if (fn()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    };
    ASSERT_TRUE(poll([&] { return sh("grep -q '^State:.*T (stopped)' /proc/" + up + "/status").code == 0; }))
        << "up never reached the failpoint";
    int beta = pid_of(l, "beta");
    ASSERT_GT(beta, 0);
    EXPECT_TRUE(poll([&] { return sh("nsenter -t " + std::to_string(beta) + " -u hostname").out == "beta\n"; }))
        << "beta's init did not build its root while up was held before the commit";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(sh("pgrep -P " + std::to_string(beta)).out, "") << "a service started before the firewall was committed";
    EXPECT_TRUE(poll([&] { return sh("kill -CONT " + up + " 2>/dev/null").code != 0; }));  // let up finish
    // Positive control: at the go, the service starts.
    EXPECT_TRUE(poll([&] { return sh("pgrep -P " + std::to_string(beta) + " -x sleep").code == 0; }));
    auto m = snapshot(l);
    EXPECT_EQ(l.moat("down").code, 0);
    EXPECT_EQ(residue(l, m), "");
}

TEST(Lifecycle, BadConfigChangesNothingAndExitsTwo) {
    lab l;
    auto file = l.write("bad.toml", "[containers.x]\nprivateNetwork = true\nhostAddress = \"10.0.0.300\"\nlocalAddress = \"10.0.0.2\"\n");
    auto r = l.moat("up -f " + file);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("bad.toml:3:"), std::string::npos) << r.err;
    EXPECT_EQ(residue(l, made{}), "");
    // Wrong only in relation to the rest (a member outside its subnet): still nothing made.
    auto outside = l.write("outside.toml", "[networks.n]\nsubnet = \"10.5.0.0/24\"\n[containers.x]\nprivateNetwork = true\nhostBridge = \"n\"\nlocalAddress = \"10.6.0.2\"\n");
    r = l.moat("up -f " + outside);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("outside.toml:6:"), std::string::npos) << r.err;
    EXPECT_EQ(residue(l, made{}), "");
    auto typo = l.write("typo.toml", "[containers.x]\nprivatenetwork = true\n");
    r = l.moat("up -f " + typo);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("typo.toml:2:1"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("privateNetwork"), std::string::npos) << r.err;
    auto unsupported = l.write("leaky.toml", "[containers.x]\nprivateNetwork = true\nhostAddress = \"10.1.0.1\"\nlocalAddress = \"10.1.0.2\"\negress = \"vpn:t\"\n"
                                             "[tunnels.t]\ntype = \"wireguard\"\nconfig = \"/nonexistent.conf\"\nkillSwitch = false\n");
    r = l.moat("up -f " + unsupported);
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("not supported yet"), std::string::npos) << r.err;
    EXPECT_EQ(residue(l, made{}), "");
}

TEST(Lifecycle, DownWithAFileRemovesOnlyThatFilesContainers) {
    lab l;
    auto first = l.write("first.toml", "[containers.one]\nprivateNetwork = true\n");
    auto second = l.write("second.toml", "[containers.two]\nprivateNetwork = true\n");
    ASSERT_EQ(l.moat("up -f " + first).code, 0);
    ASSERT_EQ(l.moat("up -f " + second + " two").code, 0);
    auto r = l.moat("down -f " + second);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("two                  removed"), std::string::npos) << r.out;
    EXPECT_GT(pid_of(l, "one"), 0);
    EXPECT_EQ(pid_of(l, "two"), 0);
}

TEST(Lifecycle, TwoInstancesDoNotInterfere) {
    lab a, b;
    auto fa = a.write("moat.toml", config_v1);
    auto fb = b.write("moat.toml", config_v1);
    ASSERT_EQ(a.moat("up -f " + fa).code, 0);
    ASSERT_EQ(b.moat("up -f " + fb).code, 0);
    int b_alpha = pid_of(b, "alpha");
    auto b_table = b.in("nft list table inet moat").out;
    ASSERT_EQ(a.moat("down").code, 0);
    EXPECT_EQ(pid_of(b, "alpha"), b_alpha);
    EXPECT_EQ(b.in("nft list table inet moat").out, b_table);
    EXPECT_EQ(b.read_line("10.171.2.2", 80), "alpha\n");
}
