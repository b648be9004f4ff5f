// `moat check` against the real kernel in the network lab: a healthy host
// passes with the expected exit address, and each injected fault is found,
// named, and makes the exit code 1.
#include "check_util.hpp"
#include "network_lab.hpp"

#include <gtest/gtest.h>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;

const char* config = R"(
[check]
probe = ["http://198.51.100.10/", "http://[2001:db8:51::10]/", "198.51.100.10:80"]

[networks.lab]
subnet = "10.172.20.0/24"
subnet6 = "fd00:172:20::/64"
egress = "nat"

[containers.n]
privateNetwork = true
hostBridge = "lab"
[containers.n.services.s]
exec = ["/bin/sleep", "infinity"]

[containers.z]
privateNetwork = true
hostAddress = "10.171.20.1"
localAddress = "10.171.20.2"
hostAddress6 = "fd00:171:20::1"
localAddress6 = "fd00:171:20::2"
[containers.z.services.s]
exec = ["/bin/sleep", "infinity"]
)";

struct check_lab {
    lab l;
    wan w{l};
    check_lab() {
        auto r = l.moat("up -f " + l.write("moat.toml", config));
        EXPECT_EQ(r.code, 0) << r.err;
    }
};

struct scope_exit {
    std::function<void()> f;
    ~scope_exit() { f(); }
};

}  // namespace

TEST(Check, HealthyHostPassesWithTheUplinkAsExit) {
    check_lab c;
    nlohmann::json j;
    // Services may still be starting right after `up`.
    eventually([&] { return (j = check_json(c.l))["exit"] == 0; });
    EXPECT_EQ(j["exit"], 0) << j.dump(2);
    EXPECT_EQ(j["ok"], true);
    EXPECT_NE(evidence(j, "n", "egress").find("seen as " + uplink4), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "n", "egress6").find("seen as " + uplink6), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "z", "egress").find("blocked"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "z", "egress6").find("blocked"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "z", "leak").find(c.w.uplink() + ": 0"), npos) << j.dump(2);
    EXPECT_EQ(evidence(j, "", "firewall rules"), "table inet moat as committed") << j.dump(2);
    // No residue: no socket of the probes left in the containers (not even
    // in TIME_WAIT), no packet socket left on the host.
    for (const char* name : {"n", "z"}) {
        auto pid = std::to_string(container_status(c.l, name)["pid"].get<int>());
        EXPECT_EQ(c.l.in("nsenter -t " + pid + " -n ss -Htuwan | grep -v ' \\*:\\*\\| \\[::\\]:\\*' || true").out, "") << name;
    }
    EXPECT_EQ(c.l.in("ss -H -0 -a | grep -c . || true").out, "0\n");
    auto human = c.l.moat("check", std::chrono::seconds(30));
    EXPECT_EQ(human.code, 0);
    EXPECT_NE(human.out.find("all checks passed"), npos) << human.out;
    EXPECT_EQ(c.l.moat("check --quiet", std::chrono::seconds(30)).out, "");
}

TEST(Check, DeletedTableIsFoundAndALeakIsCounted) {
    check_lab c;
    ASSERT_TRUE(eventually([&] { return check_json(c.l)["exit"] == 0; }));
    c.l.in("nft delete table inet moat");
    auto j = check_json(c.l);
    EXPECT_EQ(j["exit"], 1);
    auto f = failures(j);
    EXPECT_NE(f.find("n/firewall"), npos) << f;
    EXPECT_NE(f.find("z/firewall"), npos) << f;
    EXPECT_NE(f.find("n/egress"), npos) << f;  // no masquerade: no answer
    EXPECT_NE(f.find("/firewall rules"), npos) << f;
    // egress none, and every kind of its probes left by the uplink
    EXPECT_NE(f.find("z/leak"), npos) << j.dump(2);
    for (const std::string& kind : {"tcp to " + web4, "udp to " + web4, "icmp to " + web4, "tcp to " + web6,
                                   "udp to " + web6, "icmp6 to " + web6}) {
        EXPECT_NE(evidence(j, "z", "leak").find(kind), npos) << kind << "\n" << j.dump(2);
    }
    ASSERT_EQ(c.l.moat("up -f " + c.l.dir() + "/moat.toml").code, 0);
    EXPECT_TRUE(eventually([&] { return check_json(c.l)["exit"] == 0; }));
}

TEST(Check, MissingPiecesAreNamed) {
    check_lab c;
    ASSERT_TRUE(eventually([&] { return check_json(c.l)["exit"] == 0; }));
    // A service killed (its restart policy is "no"), a route changed inside,
    // the masquerade's sysctl turned off.
    auto st = container_status(c.l, "n");
    int svc = st["services"]["s"]["pid"];
    c.l.moat("exec n -- kill -9 " + std::to_string(svc));
    c.l.moat("exec z -- true");
    c.l.in("nsenter -t " + std::to_string(container_status(c.l, "z")["pid"].get<int>()) + " -n ip route del default");
    c.l.in("sysctl -qw net.ipv4.conf." + c.w.uplink() + ".forwarding=0");
    nlohmann::json j;
    eventually([&] { return failures(j = check_json(c.l)).find("n/services") != npos; });
    auto f = failures(j);
    EXPECT_NE(f.find("n/services"), npos) << j.dump(2);
    EXPECT_NE(f.find("z/route"), npos) << j.dump(2);
    EXPECT_NE(f.find("n/sysctl"), npos) << j.dump(2);
    EXPECT_EQ(j["exit"], 1);
}

// One rule deleted is named; then a leak whose source a masquerade of
// someone else's rewrote is still recognised, by the probes' marks.
TEST(Check, DeletedMasqueradeIsNamedAndAMasqueradedLeakIsCounted) {
    check_lab c;
    ASSERT_TRUE(eventually([&] { return check_json(c.l)["exit"] == 0; }));
    auto handle = c.l.in("nft -a list chain inet moat postrouting | grep 'masquerade' | grep -v 'ip saddr 127' | head -1 | sed 's/.*# handle //'").out;
    ASSERT_FALSE(handle.empty()) << c.l.in("nft list table inet moat").out;
    ASSERT_EQ(c.l.in("nft delete rule inet moat postrouting handle " + handle).code, 0);
    auto j = check_json(c.l);
    EXPECT_EQ(j["exit"], 1);
    EXPECT_NE(failures(j).find("n/egress"), npos) << j.dump(2);
    auto drift = evidence(j, "", "firewall rules");
    EXPECT_NE(drift.find("missing: "), npos) << drift;
    EXPECT_NE(drift.find("masquerade"), npos) << drift;

    ASSERT_EQ(c.l.in("nft delete table inet moat && nft add table ip leak && nft add chain ip leak post "
                     "'{ type nat hook postrouting priority 100; }' && nft add rule ip leak post oifname " +
                     c.w.uplink() + " masquerade").code, 0);
    j = check_json(c.l);
    EXPECT_EQ(j["exit"], 1);
    auto leak = evidence(j, "z", "leak");
    for (const std::string& kind : {"tcp to " + web4, "udp to " + web4, "icmp to " + web4}) {
        EXPECT_NE(leak.find(kind), npos) << kind << "\n" << j.dump(2);
    }
}

TEST(Check, NoFalseAlarmInRepeatedRuns) {
    check_lab c;
    ASSERT_TRUE(eventually([&] { return check_json(c.l)["exit"] == 0; }));
    // Meanwhile the host itself keeps talking to the probe's addresses
    // (TCP, UDP, ICMP, both families): that is not the containers' leak.
    // It runs until stopped (under `timeout`, so never for ever), and is
    // stopped only while its pid is still that `timeout`: a loop that had
    // ended would leave a pid the kernel may give to another test's process
    // (a `moat up` of a test beside this one got this SIGTERM once).
    const std::string loop = "while :; do echo x | nc -w1 " + web4 + " 80 >/dev/null; echo x | nc -6 -w1 " + web6 +
                             " 80 >/dev/null; echo x | nc -u -w0 " + web4 + " 53; ping -c1 -W1 " + web4 +
                             " >/dev/null; ping -6 -c1 -W1 " + web6 + " >/dev/null; done";
    auto chatter = c.l.in("timeout 600 sh -c " + shq(loop) + " </dev/null >/dev/null 2>&1 & echo $!");
    const std::string pid = std::to_string(std::atoi(chatter.out.c_str()));
    scope_exit stop{[&] {
        c.l.in("[ \"$(cat /proc/" + pid + "/comm 2>/dev/null)\" = timeout ] && kill " + pid + "; true");
    }};
    for (int i = 0; i < 50; ++i) {
        auto j = check_json(c.l);
        ASSERT_EQ(j["exit"], 0) << "run " << i << ": " << failures(j) << j.dump(2);
    }
}

TEST(Check, WatchReportsChangesAndRunsOnFailure) {
    lab l;
    wan w(l);
    std::string marker = l.dir() + "/alert";
    std::string file = l.write("moat.toml", std::string(config) + "");
    // [check] onFailure, appended to the top-level table of the same file.
    std::string text = config;
    text.insert(text.find("\n", text.find("probe =")) + 1, "onFailure = \"echo $MOAT_CHECK_FAILED >> " + marker + "\"\n");
    file = l.write("moat.toml", text);
    ASSERT_EQ(l.moat("up -f " + file).code, 0);
    ASSERT_TRUE(eventually([&] { return check_json(l)["exit"] == 0; }));
    auto watcher = sh("timeout 8 " + enter(l.host_ns()) + moat_binary() + " --state-dir " + l.state_dir() +
                          " check --watch 1 > " + l.dir() + "/watch.log 2>&1 & sleep 3; " + enter(l.host_ns()) +
                          "nft delete table inet moat; wait",
                      std::chrono::seconds(20));
    auto log = sh("cat " + l.dir() + "/watch.log").out;
    EXPECT_NE(log.find("\u2717 n firewall"), npos) << log;
    EXPECT_NE(log.find("onFailure: echo"), npos) << log;
    auto alert = sh("cat " + marker).out;
    EXPECT_NE(alert.find("n/firewall"), npos) << alert << log;
}
