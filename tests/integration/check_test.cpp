// `moat check` against the real kernel in the network lab: a healthy host
// passes with the expected exit address, and each injected fault is found,
// named, and makes the exit code 1.
#include "network_lab.hpp"

#include <gtest/gtest.h>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;

const char* config = R"(
[check]
probe = "http://198.51.100.10/"

[networks.lab]
subnet = "10.172.20.0/24"
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
[containers.z.services.s]
exec = ["/bin/sleep", "infinity"]
)";

nlohmann::json check_json(lab& l) {
    auto r = l.moat("check --json", std::chrono::seconds(30));
    auto j = nlohmann::json::parse(r.out.empty() ? "{}" : r.out, nullptr, false);
    j["exit"] = r.code;
    return j;
}

// The findings that failed, as "container/check" words.
std::string failures(const nlohmann::json& j) {
    std::string out;
    for (const auto& c : j.value("checks", nlohmann::json::array())) {
        if (!c["ok"].get<bool>()) {
            out += c["container"].get<std::string>() + "/" + c["check"].get<std::string>() + " ";
        }
    }
    return out;
}

std::string evidence(const nlohmann::json& j, const std::string& container, const std::string& check) {
    for (const auto& c : j.value("checks", nlohmann::json::array())) {
        if (c["container"] == container && c["check"] == check) {
            return c["evidence"];
        }
    }
    return "";
}

struct check_lab {
    lab l;
    wan w{l};
    check_lab() {
        auto r = l.moat("up -f " + l.write("moat.toml", config));
        EXPECT_EQ(r.code, 0) << r.err;
    }
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
    EXPECT_NE(evidence(j, "z", "egress").find("blocked"), npos) << j.dump(2);
    EXPECT_NE(evidence(j, "z", "leak").find(c.w.uplink() + ": 0"), npos) << j.dump(2);
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
    EXPECT_NE(f.find("z/leak"), npos) << j.dump(2);  // egress none, and its SYN left by the uplink
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

TEST(Check, NoFalseAlarmInRepeatedRuns) {
    check_lab c;
    ASSERT_TRUE(eventually([&] { return check_json(c.l)["exit"] == 0; }));
    for (int i = 0; i < 10; ++i) {
        auto j = check_json(c.l);
        ASSERT_EQ(j["exit"], 0) << "run " << i << ": " << failures(j);
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
