// CNI DEL and GC leave no connection tracking entry of the pod they remove
// (netlink/conntrack.hpp): its masqueraded egress (UDP, and a TCP
// connection it holds open) and a UDP port mapping's DNAT'ed flow are gone
// from the host's table, while another pod's flows and the host's own stay.
// The plugin runs as libcni runs it (cni_driver.hpp); the table is read with
// conntrack(8) in the lab's host (LAB.md).
#include "cni_driver.hpp"
#include "conntrack_lab.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace moat::test {
namespace {

constexpr auto npos = std::string::npos;

class cni_ct_lab {
public:
    cni_ct_lab() : w(l) { serve_udp_echo(l, w.ns()); }

    std::string conf(const std::string& extra = "") const {
        return R"({"cniVersion":"1.1.0","name":"pods","type":"moat","subnet":"10.89.0.0/24","egress":"nat",)"
               R"("stateDir":")" +
               l.state_dir() + "\"" + extra + "}";
    }

    cni_invocation run(const std::string& command, const std::string& config, const std::string& id = "",
                       const std::string& netns = "") {
        return cni_exec(l, command, config, id, netns);
    }

    // ADD of pod `id` in a new lab namespace; its address, "" on failure.
    std::string add(const std::string& id, const std::string& ns, const std::string& config) {
        auto a = run("ADD", config, id, ns);
        if (a.code != 0 || !a.out.is_object() || !a.out.contains("ips")) {
            ADD_FAILURE() << "ADD " << id << ": " << a.raw;
            return "";
        }
        auto addr = a.out["ips"][0]["address"].get<std::string>();
        return addr.substr(0, addr.find('/'));
    }

    // A pod's traffic to the wan, in the background for two minutes (the
    // pod's namespace dies with the lab): a UDP exchange every second and
    // one TCP connection held open.
    void chatter(const std::string& ns, bool tcp) {
        std::string udp = "while true; do echo x | nc -4 -u -w1 " + web4 + " " + std::to_string(echo_port) +
                          "; sleep 1; done";
        l.in("(setsid timeout 120 sh -c " + shq(udp) + " </dev/null >/dev/null 2>&1 &)", ns);
        if (tcp) {
            l.in("(setsid timeout 120 sh -c " + shq("sleep 120 | nc " + web4 + " 80") + " </dev/null >/dev/null 2>&1 &)",
                 ns);
        }
    }

    lab l;
    wan w;
};


// Pod a: egress and a UDP port mapping served by an echo in its namespace;
// pod b: egress only. Returns a's and b's addresses once the table shows
// every flow (the positive control).
std::pair<std::string, std::string> two_pods_talking(cni_ct_lab& c, const std::string& ns_a, const std::string& ns_b,
                                                     const std::string& conf_a) {
    auto a = c.add("podA", ns_a, conf_a);
    auto b = c.add("podB", ns_b, c.conf());
    if (a.empty() || b.empty()) return {a, b};
    c.l.in("(setsid timeout 120 python3 -c " +
               shq("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('', 5353))\n"
                   "while True:\n    d, a = s.recvfrom(100)\n    s.sendto(b'udp-' + d, a)\n") +
               " </dev/null >/dev/null 2>&1 &)",
           ns_a);
    c.chatter(ns_a, true);
    c.chatter(ns_b, false);
    std::string udp;
    EXPECT_TRUE(eventually([&] { return (udp = ns_udp(c.l, c.w.ns(), uplink4, 15353, "ping")) == "udp-ping\n"; }))
        << udp;
    EXPECT_EQ(ns_udp(c.l, "", web4, echo_port, "host"), "udp-host\n");  // the host's own flow
    EXPECT_TRUE(ct_has(c.l, "-p udp --orig-src " + a, "dport=5300"));      // masqueraded egress
    EXPECT_TRUE(ct_has(c.l, "-p tcp --orig-src " + a, "ESTABLISHED"));
    EXPECT_TRUE(ct_has(c.l, "-p udp --reply-src " + a, "dport=15353"));    // the port mapping's DNAT
    EXPECT_TRUE(ct_has(c.l, "-p udp --orig-src " + b, "dport=5300"));
    EXPECT_TRUE(ct_has(c.l, "-p udp --orig-src " + uplink4, "dport=5300"));
    return {a, b};
}

const std::string mapping =
    R"(,"allowedUDPPorts":[5353],"runtimeConfig":{"portMappings":[{"hostPort":15353,"containerPort":5353,"protocol":"udp"}]})";

TEST(CniConntrack, DelForgetsThePodsFlowsAndNothingElse) {
    cni_ct_lab c;
    auto ns_a = c.l.add_ns("pa"), ns_b = c.l.add_ns("pb");
    auto [a, b] = two_pods_talking(c, ns_a, ns_b, c.conf(mapping));
    ASSERT_FALSE(a.empty() || b.empty());
    auto d = c.run("DEL", c.conf(mapping), "podA", ns_a);
    ASSERT_EQ(d.code, 0) << d.raw;
    EXPECT_EQ(d.raw.find("warning"), npos) << d.raw;
    EXPECT_EQ(ct_naming(c.l, a), "");
    // No collateral: the other pod's flows and the host's own remain.
    EXPECT_NE(ct_entries(c.l, "-p udp --orig-src " + b), "");
    EXPECT_NE(ct_entries(c.l, "-p udp --orig-src " + uplink4 + " --dport 5300"), "");
    EXPECT_EQ(c.run("DEL", c.conf(), "podB", ns_b).code, 0);
}

TEST(CniConntrack, GcForgetsTheFlowsOfWhatItRemoves) {
    cni_ct_lab c;
    auto ns_a = c.l.add_ns("pa"), ns_b = c.l.add_ns("pb");
    auto [a, b] = two_pods_talking(c, ns_a, ns_b, c.conf(mapping));
    ASSERT_FALSE(a.empty() || b.empty());
    auto gc = c.run("GC", c.conf(R"(,"cni.dev/valid-attachments":[{"containerID":"podB","ifname":"eth0"}])"));
    ASSERT_EQ(gc.code, 0) << gc.raw;
    EXPECT_EQ(ct_naming(c.l, a), "");
    EXPECT_NE(ct_entries(c.l, "-p udp --orig-src " + b), "");
    EXPECT_EQ(c.run("DEL", c.conf(), "podB", ns_b).code, 0);
}

}  // namespace
}  // namespace moat::test
