// Issue 15's papercuts of the command line, through the real binary in a
// lab: a mistyped verb or flag is named with the nearest one, exec and run
// take a command without "--", `up` lists a container's forwards, and a
// `moat run` container kept after its command is reported as exited, with
// the command that removes it.
#include "lab.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using moat::test::lab;
using moat::test::moat_binary;
using moat::test::sh;

namespace {

constexpr auto npos = std::string::npos;

const char* loopback_only = "[containers.c]\nprivateNetwork = true\n";

}  // namespace

// Nothing is touched: no lab needed, only a state dir that is never made.
TEST(Cli, MistypedVerbsAndFlagsAreNamedWithTheNearest) {
    std::string m = moat_binary() + " --state-dir /nonexistent/moat-cli-test ";
    auto verb = sh(m + "statsu");
    EXPECT_EQ(verb.code, 2);
    EXPECT_NE(verb.err.find("unknown command 'statsu'; did you mean 'status'?"), npos) << verb.err;
    auto far = sh(m + "frobnicate");
    EXPECT_EQ(far.code, 2);
    EXPECT_NE(far.err.find("unknown command 'frobnicate'"), npos) << far.err;
    EXPECT_EQ(far.err.find("did you mean"), npos) << far.err;
    auto flag = sh(m + "status --jsno");
    EXPECT_EQ(flag.code, 2);
    EXPECT_NE(flag.err.find("status: unknown option '--jsno'; did you mean '--json'?"), npos) << flag.err;
    auto global = sh(moat_binary() + " --stat-dir /nonexistent/x status");
    EXPECT_EQ(global.code, 2);
    EXPECT_NE(global.err.find("unknown option '--stat-dir'; did you mean '--state-dir'?"), npos) << global.err;
    // run's command starts at its first word that is not an option, but a
    // mistyped option is not a command named "--netwrk".
    auto run = sh(m + "run --netwrk none true");
    EXPECT_EQ(run.code, 2);
    EXPECT_NE(run.err.find("run: unknown option '--netwrk'; did you mean '--network'?"), npos) << run.err;
    // Positive control: the right words work, and other usage errors keep CLI11's message.
    EXPECT_EQ(sh(m + "status").code, 0);
    auto missing = sh(m + "logs");
    EXPECT_EQ(missing.code, 2);
    EXPECT_NE(missing.err.find("name is required"), npos) << missing.err;
}

// As docker and nspawn: the command starts at the word after NAME (run: the
// first word that is not one of its options), and its flags are its own.
TEST(Cli, ExecAndRunTakeTheCommandWithoutDoubleDash) {
    lab l;
    ASSERT_EQ(l.moat("up -f " + l.write("c.toml", loopback_only)).code, 0);
    auto ls = l.moat("exec c ls -d /proc /");
    EXPECT_EQ(ls.code, 0) << ls.err;
    EXPECT_EQ(ls.out, "/\n/proc\n");
    auto dashes = l.moat("exec c echo -- -n x");  // echo's "--", not moat's
    EXPECT_EQ(dashes.out, "-- -n x\n") << dashes.err;
    auto with = l.moat("exec c -- echo -n x");
    EXPECT_EQ(with.out, "x") << with.err;
    auto status = l.moat("exec c sh -c 'exit 3'");
    EXPECT_EQ(status.code, 3) << status.err;
    auto run = l.moat("run --rm --network none echo hi -n");
    EXPECT_EQ(run.code, 0) << run.err;
    EXPECT_EQ(run.out, "hi -n\n");
    auto none = l.moat("exec c");
    EXPECT_EQ(none.code, 2);
    EXPECT_NE(none.err.find("missing command"), npos) << none.err;
}

TEST(Cli, UpSummaryListsForwardsAndAllowedPorts) {
    lab l;
    auto r = l.moat("up -f " + l.write("f.toml", R"(
[containers.f]
privateNetwork = true
hostAddress = "10.171.61.1"
localAddress = "10.171.61.2"
firewall.allowedUDPPorts = [53]
forwardPorts = [ { protocol = "tcp", hostPort = 18080, containerPort = 80 },
                 { protocol = "tcp", hostPort = 2222, containerPort = 22, hostAddress = "127.0.0.1" } ]
[containers.g]
privateNetwork = true
)"));
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("egress none   ports udp/53  forwards tcp/18080->80 tcp/127.0.0.1:2222->22"), npos) << r.out;
    EXPECT_NE(r.out.find("egress none   ports -"), npos) << r.out;  // g: none of either
}

// `moat run` without --rm keeps the container, as docker keeps an exited
// one: status says "exited", check passes it and names the command that
// removes it (not `moat up`, which never restarts a run container), and
// that command removes it.
TEST(Cli, AFinishedRunContainerIsReportedAsExitedAndRemovable) {
    lab l;
    auto run = l.moat("run --name once --network none -- true");
    ASSERT_EQ(run.code, 0) << run.err;
    auto status = l.moat("status --json");
    auto j = nlohmann::json::parse(status.out);
    ASSERT_EQ(j["containers"].size(), 1U) << status.out;
    EXPECT_EQ(j["containers"][0]["state"], "exited") << status.out;
    EXPECT_NE(l.moat("status").out.find("once                 exited"), npos);
    auto check = l.moat("check");
    EXPECT_EQ(check.code, 0) << check.out << check.err;
    EXPECT_NE(check.out.find("exited: its command (moat run) has ended \u2014 `moat down once` removes it"), npos)
        << check.out;
    EXPECT_EQ(check.out.find("moat up"), npos) << check.out;
    auto exec = l.moat("exec once true");
    EXPECT_EQ(exec.code, 1);
    EXPECT_NE(exec.err.find("has exited (its command ended): `moat down once` removes it"), npos) << exec.err;
    auto down = l.moat("down once");
    EXPECT_EQ(down.code, 0) << down.err;
    EXPECT_EQ(l.moat("status").out, "no containers\n");
}
