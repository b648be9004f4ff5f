// moat as a CNI plugin, driven exactly as libcni drives a plugin: a clean
// environment with the CNI_* variables, the request configuration on
// stdin, the result or error object on stdout and the exit status — run
// in a lab's host namespace against pod namespaces of the lab (LAB.md).
#include "cni_driver.hpp"
#include "network_lab.hpp"
#include "residue.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <cstdlib>

namespace moat::test {
namespace {

using nlohmann::json;

using invocation = cni_invocation;

class cni_lab {
public:
    cni_lab() : w(l) {}

    std::string conf(const std::string& version, const std::string& egress, const std::string& extra = "") const {
        return R"({"cniVersion":")" + version + R"(","name":"pods","type":"moat","subnet":"10.89.0.0/24",)" +
               R"("egress":")" + egress + R"(","stateDir":")" + l.state_dir() + "\"" + extra + "}";
    }

    // One plugin execution; `netns` "" leaves CNI_NETNS unset.
    invocation run(const std::string& command, const std::string& config, const std::string& id = "",
                   const std::string& netns = "", const std::string& ifname = "eth0") {
        return cni_exec(l, command, config, id, netns, ifname);
    }

    lab l;
    wan w;
};

std::string body_from(lab& l, const std::string& ns, const std::string& url) {
    return l.in("curl -s -m 3 " + url + " || true", ns).out;
}

TEST(Cni, VersionAnswersEverySupportedVersion) {
    cni_lab c;
    auto v = c.run("VERSION", R"({"cniVersion":"1.1.0"})");
    ASSERT_EQ(v.code, 0) << v.raw;
    EXPECT_EQ(v.out["cniVersion"], "1.1.0");
    EXPECT_EQ(v.out["supportedVersions"], json({"0.4.0", "1.0.0", "1.1.0"}));
}

TEST(Cni, NatPodLeavesAsTheUplinkAndNonePodReachesNothing) {
    cni_lab c;
    auto nat_ns = c.l.add_ns("pa");
    auto none_ns = c.l.add_ns("pb");
    auto a = c.run("ADD", c.conf("1.0.0", "nat"), "podA", nat_ns);
    ASSERT_EQ(a.code, 0) << a.raw;
    auto addr = a.out["ips"][0]["address"].get<std::string>();
    EXPECT_EQ(addr.rfind("10.89.0.", 0), 0u) << addr;
    EXPECT_EQ(a.out["ips"][0]["gateway"], "10.89.0.1");
    EXPECT_EQ(a.out["interfaces"][1]["sandbox"], "/run/netns/" + nat_ns);
    // The web server answers with the source it sees: the uplink's, NAT'ed.
    EXPECT_EQ(body_from(c.l, nat_ns, "http://" + web4 + "/"), uplink4 + "\n");

    auto b = c.run("ADD", c.conf("1.0.0", "none"), "podB", none_ns);
    ASSERT_EQ(b.code, 0) << b.raw;
    EXPECT_EQ(body_from(c.l, none_ns, "http://" + web4 + "/"), "");
    // Positive control in the same lab and moment: the NAT pod still gets out.
    EXPECT_EQ(body_from(c.l, nat_ns, "http://" + web4 + "/"), uplink4 + "\n");
    EXPECT_EQ(c.run("DEL", c.conf("1.0.0", "none"), "podB", none_ns).code, 0);
    EXPECT_EQ(c.run("DEL", c.conf("1.0.0", "nat"), "podA", nat_ns).code, 0);
}

// moat as a second network (a Multus extra network, `--network a,b`): the
// pod keeps the default route it has; moat's attachment adds its subnet
// only. Control: the first attachment set the default route itself.
TEST(Cni, SecondAttachmentKeepsThePodsDefaultRoute) {
    cni_lab c;
    auto before = snapshot(c.l);
    auto ns = c.l.add_ns("p");
    auto first = c.run("ADD", c.conf("1.0.0", "nat"), "pod", ns);
    ASSERT_EQ(first.code, 0) << first.raw;
    EXPECT_EQ(first.out["routes"].size(), 1u) << first.raw;
    const std::string extra = R"({"cniVersion":"1.0.0","name":"extra","type":"moat","subnet":"10.90.0.0/24",)"
                              R"("egress":"none","stateDir":")" + c.l.state_dir() + "\"}";
    auto second = c.run("ADD", extra, "pod", ns, "net1");
    ASSERT_EQ(second.code, 0) << second.raw;
    EXPECT_FALSE(second.out.contains("routes")) << second.raw;
    EXPECT_EQ(c.l.in("ip -4 route show default | grep -c .", ns).out, "1\n");
    EXPECT_EQ(c.l.in("ip -4 route show default", ns).out.rfind("default via 10.89.0.1 dev eth0 ", 0), 0u);
    EXPECT_NE(c.l.in("ip -4 route show 10.90.0.0/24", ns).out.find("dev net1"), std::string::npos);
    EXPECT_EQ(body_from(c.l, ns, "http://" + web4 + "/"), uplink4 + "\n");  // still out through the first
    EXPECT_EQ(c.run("CHECK", extra, "pod", ns, "net1").code, 0);
    EXPECT_EQ(c.run("DEL", extra, "pod", ns, "net1").code, 0);
    EXPECT_EQ(c.run("DEL", c.conf("1.0.0", "nat"), "pod", ns).code, 0);
    EXPECT_EQ(residue(c.l, before, c.w.uplink()), "");
}

// keepWhenIdle: the network's bridge stays after its last pod (control: it
// goes without the key), the next pod gets it as it was, and `moat down`
// removes it.
TEST(Cni, KeepWhenIdleKeepsTheBridgeUntilDown) {
    cni_lab c;
    auto before = snapshot(c.l);
    auto ns = c.l.add_ns("p");
    auto bridge = [&] { return c.l.in("ip -o link show mb-cni-pods 2>/dev/null || true").out; };
    ASSERT_EQ(c.run("ADD", c.conf("1.0.0", "nat"), "pod", ns).code, 0);
    ASSERT_EQ(c.run("DEL", c.conf("1.0.0", "nat"), "pod", ns).code, 0);
    EXPECT_EQ(bridge(), "") << "control: without keepWhenIdle the bridge goes with the last pod";
    const std::string keep = c.conf("1.0.0", "nat", R"(,"keepWhenIdle":true)");
    ASSERT_EQ(c.run("ADD", keep, "pod", ns).code, 0);
    auto index = bridge().substr(0, bridge().find(':'));
    ASSERT_EQ(c.run("DEL", keep, "pod", ns).code, 0);
    EXPECT_NE(bridge(), "") << "kept when idle";
    EXPECT_EQ(c.l.in("ip -o link show | grep -c ve-p || true").out, "0\n");
    auto again = c.run("ADD", keep, "pod", ns);
    ASSERT_EQ(again.code, 0) << again.raw;
    EXPECT_EQ(bridge().substr(0, bridge().find(':')), index) << "the same bridge, not a new one";
    EXPECT_EQ(body_from(c.l, ns, "http://" + web4 + "/"), uplink4 + "\n");
    ASSERT_EQ(c.run("DEL", keep, "pod", ns).code, 0);
    EXPECT_EQ(c.run("ADD", c.conf("1.0.0", "nat", R"(,"keepWhenIdle":"yes")"), "pod", ns).out.value("code", 0), 7);
    EXPECT_EQ(c.l.moat("down").code, 0);
    EXPECT_EQ(residue(c.l, before, c.w.uplink()), "");
}

// `moat check` during an ADD (the plugin stopped by a failpoint before its
// firewall commit) says the ADD has not completed, not that the pod's
// namespace is gone (it is there); afterwards the pod passes.
TEST(Cni, CheckDuringAnAddSaysItHasNotCompleted) {
    cni_lab c;
    auto ns = c.l.add_ns("p");
    auto out_file = c.l.dir() + "/add.out";
    auto started = c.l.in("printf '%s' " + shq(c.conf("1.0.0", "nat")) +
                          " | env -i MOAT_FAILPOINT=stop:cni-before-firewall CNI_COMMAND=ADD CNI_PATH=/usr/lib/cni "
                          "CNI_CONTAINERID=pod CNI_IFNAME=eth0 CNI_NETNS=/run/netns/" + ns + " " + moat_binary() +
                          " >" + out_file + " 2>&1 & echo $!");
    int pid = std::atoi(started.out.c_str());
    ASSERT_GT(pid, 0);
    auto state = [&] { return sh("awk '{print $3}' /proc/" + std::to_string(pid) + "/stat 2>/dev/null").out; };
    ASSERT_TRUE(eventually([&] { return state() == "T\n"; }, std::chrono::seconds(20))) << sh("cat " + out_file).out;
    auto during = c.l.moat("check --json");
    ::kill(pid, SIGCONT);
    EXPECT_NE(during.out.find("its ADD has not completed"), std::string::npos) << during.out;
    EXPECT_EQ(during.out.find("namespace gone"), std::string::npos) << during.out;
    ASSERT_TRUE(eventually([&] { return state().empty(); }, std::chrono::seconds(20)));
    auto after = c.l.moat("check --json");
    EXPECT_EQ(after.out.find("its ADD has not completed"), std::string::npos) << after.out;
    EXPECT_EQ(c.run("DEL", c.conf("1.0.0", "nat"), "pod", ns).code, 0);
}

TEST(Cni, ResultShapeFollowsTheRequestVersion) {
    cni_lab c;
    auto ns = c.l.add_ns("p");
    for (const char* v : {"0.4.0", "1.0.0", "1.1.0"}) {
        auto a = c.run("ADD", c.conf(v, "nat"), "pod", ns);
        ASSERT_EQ(a.code, 0) << v << ": " << a.raw;
        EXPECT_EQ(a.out["cniVersion"], v);
        EXPECT_EQ(a.out["ips"][0].contains("version"), std::string(v) == "0.4.0") << a.raw;
        ASSERT_EQ(c.run("DEL", c.conf(v, "nat"), "pod", ns).code, 0);
    }
}

TEST(Cni, DelIsIdempotentAndLeavesNothing) {
    cni_lab c;
    auto before = snapshot(c.l);
    auto ns = c.l.add_ns("p");
    ASSERT_EQ(c.run("ADD", c.conf("1.0.0", "nat"), "pod", ns).code, 0);
    ASSERT_NE(c.l.in("ip -o link show").out.find("mb-cni-pods"), std::string::npos);  // control: it made things
    EXPECT_EQ(c.run("DEL", c.conf("1.0.0", "nat"), "pod", ns).code, 0);
    EXPECT_EQ(c.run("DEL", c.conf("1.0.0", "nat"), "pod", ns).code, 0);       // again
    EXPECT_EQ(c.run("DEL", c.conf("1.0.0", "nat"), "unknown", ns).code, 0);   // never added
    EXPECT_EQ(c.run("DEL", c.conf("1.0.0", "nat"), "pod").code, 0);           // no CNI_NETNS
    EXPECT_EQ(residue(c.l, before, c.w.uplink()), "");
    EXPECT_EQ(c.l.in("ip -o addr show", ns).out.find("10.89."), std::string::npos);
}

TEST(Cni, DelAfterThePodsNamespaceIsGone) {
    cni_lab c;
    auto before = snapshot(c.l);
    auto ns = c.l.add_ns("p");
    ASSERT_EQ(c.run("ADD", c.conf("1.0.0", "nat"), "pod", ns).code, 0);
    sh("ip netns del " + ns);
    auto d = c.run("DEL", c.conf("1.0.0", "nat"), "pod", ns);
    EXPECT_EQ(d.code, 0) << d.raw;
    EXPECT_EQ(residue(c.l, before, c.w.uplink()), "");
}

TEST(Cni, AddTwiceIsAnErrorAndChangesNothing) {
    cni_lab c;
    auto ns = c.l.add_ns("p");
    auto first = c.run("ADD", c.conf("1.0.0", "nat"), "pod", ns);
    ASSERT_EQ(first.code, 0);
    auto second = c.run("ADD", c.conf("1.0.0", "nat"), "pod", ns);
    EXPECT_NE(second.code, 0);
    EXPECT_TRUE(second.out.contains("code") && second.out.contains("msg")) << second.raw;
    EXPECT_EQ(body_from(c.l, ns, "http://" + web4 + "/"), uplink4 + "\n");  // the first still works
    EXPECT_EQ(c.run("DEL", c.conf("1.0.0", "nat"), "pod", ns).code, 0);
}

TEST(Cni, CheckPassesAfterAddAndFailsWhenTheAddressIsGone) {
    cni_lab c;
    auto ns = c.l.add_ns("p");
    auto a = c.run("ADD", c.conf("1.0.0", "nat"), "pod", ns);
    ASSERT_EQ(a.code, 0);
    std::string with_prev = c.conf("1.0.0", "nat", R"(,"prevResult":)" + a.out.dump());
    auto ok = c.run("CHECK", with_prev, "pod", ns);
    EXPECT_EQ(ok.code, 0) << ok.raw;
    c.l.in("ip addr flush dev eth0", ns);
    auto bad = c.run("CHECK", with_prev, "pod", ns);
    EXPECT_NE(bad.code, 0);
    EXPECT_NE(bad.raw.find("missing on eth0"), std::string::npos) << bad.raw;
    EXPECT_EQ(c.run("DEL", with_prev, "pod", ns).code, 0);
    EXPECT_NE(c.run("CHECK", with_prev, "pod", ns).code, 0);  // after DEL there is nothing to check
}

TEST(Cni, GcRemovesOnlyAttachmentsNotListed) {
    cni_lab c;
    auto before = snapshot(c.l);
    auto keep = c.l.add_ns("k");
    auto stale = c.l.add_ns("s");
    ASSERT_EQ(c.run("ADD", c.conf("1.1.0", "nat"), "keep", keep).code, 0);
    ASSERT_EQ(c.run("ADD", c.conf("1.1.0", "nat"), "stale", stale).code, 0);
    auto gc = c.run("GC", c.conf("1.1.0", "nat", R"(,"cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}])"));
    EXPECT_EQ(gc.code, 0) << gc.raw;
    EXPECT_EQ(body_from(c.l, keep, "http://" + web4 + "/"), uplink4 + "\n");
    EXPECT_EQ(c.l.in("ip -o link show eth0 2>/dev/null || true", stale).out, "");
    EXPECT_EQ(c.run("GC", c.conf("1.0.0", "nat")).code, 1);  // GC needs 1.1.0
    EXPECT_EQ(c.run("DEL", c.conf("1.1.0", "nat"), "keep", keep).code, 0);
    EXPECT_EQ(residue(c.l, before, c.w.uplink()), "");
}

TEST(Cni, ProtocolErrorsAreTheSpecsObjects) {
    cni_lab c;
    auto ns = c.l.add_ns("p");
    auto missing = c.run("ADD", c.conf("1.0.0", "nat"));  // no container id, ifname, netns
    EXPECT_EQ(missing.code, 1);
    EXPECT_EQ(missing.out["code"], 4) << missing.raw;
    auto old = c.run("ADD", c.conf("0.3.1", "nat"), "pod", ns);
    EXPECT_EQ(old.out["code"], 1) << old.raw;
    auto typo = c.run("ADD", c.conf("1.0.0", "nat", R"(,"egres":"none")"), "pod", ns);
    EXPECT_EQ(typo.out["code"], 2) << typo.raw;
    auto bad = c.run("ADD", c.conf("1.0.0", "sideways"), "pod", ns);
    EXPECT_EQ(bad.out["code"], 7) << bad.raw;
    auto status = c.run("STATUS", c.conf("1.1.0", "nat"));
    EXPECT_EQ(status.code, 0) << status.raw;
    // None of the refused requests made anything.
    EXPECT_EQ(c.l.in("ip -o link show eth0 2>/dev/null || true", ns).out, "");
    EXPECT_EQ(sh("test -e " + c.l.state_dir() + "/containers && ls " + c.l.state_dir() + "/containers || true").out,
              "");
}

}  // namespace
}  // namespace moat::test

namespace moat::test {
namespace {

TEST(Cni, MoatsOwnCommandsSeeThePod) {
    cni_lab c;
    auto before = snapshot(c.l);
    auto ns = c.l.add_ns("p");
    auto a = c.run("ADD", c.conf("1.0.0", "nat"), "pod", ns);
    ASSERT_EQ(a.code, 0) << a.raw;
    auto st = c.l.moat("status --json");
    auto j = nlohmann::json::parse(st.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << st.out << st.err;
    ASSERT_EQ(j["containers"].size(), 1u);
    auto name = j["containers"][0]["name"].get<std::string>();
    EXPECT_EQ(j["containers"][0]["origin"], "cni");
    EXPECT_EQ(j["containers"][0]["state"], "running");
    EXPECT_EQ(j["containers"][0]["cni"]["container_id"], "pod");
    EXPECT_EQ(j["containers"][0]["cni"]["netns"], "/run/netns/" + ns);
    auto text = c.l.moat("status");
    EXPECT_NE(text.out.find("cni pod/eth0"), std::string::npos) << text.out;
    // `moat check` checks the pod where it is: its namespace, its interface.
    auto ok = c.l.moat("check " + name);
    EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
    EXPECT_NE(ok.out.find("attachment"), std::string::npos) << ok.out;
    c.l.in("ip addr flush dev eth0", ns);
    auto bad = c.l.moat("check " + name);
    EXPECT_NE(bad.code, 0);
    EXPECT_NE(bad.out.find("missing on eth0"), std::string::npos) << bad.out;
    auto ex = c.l.moat("exec " + name + " -- true");
    EXPECT_NE(ex.code, 0);
    EXPECT_NE(ex.err.find("CNI attachment"), std::string::npos) << ex.err;
    // `moat down` removes it like any container: nothing left.
    EXPECT_EQ(c.l.moat("down").code, 0);
    EXPECT_EQ(residue(c.l, before, c.w.uplink()), "");
    EXPECT_EQ(c.run("DEL", c.conf("1.0.0", "nat"), "pod", ns).code, 0);  // the engine's DEL after that is fine
}

}  // namespace
}  // namespace moat::test

namespace moat::test {
namespace {

// runtimeConfig.portMappings (the portMappings capability, as the reference
// portmap plugin reads it) becomes a forward of the pod: reachable from
// the wan on the uplink's address, and gone after DEL.
TEST(Cni, PortMappingsForwardFromTheUplink) {
    cni_lab c;
    auto ns = c.l.add_ns("p");
    std::string conf = c.conf("1.0.0", "nat",
                              R"(,"allowedTCPPorts":[8080],"runtimeConfig":{"portMappings":[)"
                              R"({"hostPort":18080,"containerPort":8080,"protocol":"tcp"}]})");
    auto a = c.run("ADD", conf, "pod", ns);
    ASSERT_EQ(a.code, 0) << a.raw;
    // A web server on the pod's 8080, gone by itself after the test.
    c.l.in("(timeout 30 python3 -c 'import http.server,socketserver;socketserver.TCPServer((\"\",8080),"
           "http.server.SimpleHTTPRequestHandler).serve_forever()' >/dev/null 2>&1 &)",
           ns);
    bool served = eventually([&] { return !body_from(c.l, ns, "http://127.0.0.1:8080/").empty(); });
    ASSERT_TRUE(served);
    // From the wan, through the uplink's address and the host port.
    EXPECT_TRUE(eventually([&] { return !body_from(c.l, c.w.ns(), "http://" + uplink4 + ":18080/").empty(); },
                           std::chrono::seconds(5)));
    // Positive control the other way: a port that is not mapped answers nothing.
    EXPECT_EQ(body_from(c.l, c.w.ns(), "http://" + uplink4 + ":18081/"), "");
    ASSERT_EQ(c.run("DEL", conf, "pod", ns).code, 0);
    EXPECT_EQ(body_from(c.l, c.w.ns(), "http://" + uplink4 + ":18080/"), "");
}

}  // namespace
}  // namespace moat::test
