// Instances: a second state directory in a network namespace that another
// one manages is refused before it touches anything, never deletes what the
// first made, and `moat gc` removes an instance's objects when its state
// directory is gone (converge/claim.hpp, converge/gc.hpp). Leaks are
// counted on the lab's wan link (network_lab.hpp draws the lab).
#include "network_lab.hpp"
#include "state/store.hpp"

#include <gtest/gtest.h>

#include <sstream>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;

// The second instance: the same lab host, its own state directory.
struct other_instance {
    lab& l;
    std::string dir = l.dir() + "/state-b";
    result moat(const std::string& args) {
        return sh(enter(l.host_ns()) + moat_binary() + " --state-dir " + dir + " " + args);
    }
    ~other_instance() { moat("down -q"); }
};

const char* config_a = R"(
[networks.lan]
subnet = "10.172.61.0/24"
egress = "nat"

[containers.member]
privateNetwork = true
hostBridge = "lan"
[containers.member.services.idle]
exec = ["/bin/sleep", "100000"]

[containers.quiet]
privateNetwork = true
hostAddress = "10.171.61.1"
localAddress = "10.171.61.2"
egress = "none"
[containers.quiet.services.idle]
exec = ["/bin/sleep", "100000"]
)";

// B wants a container of its own on a network of the same name.
const char* config_b = R"(
[networks.lan]
subnet = "10.172.62.0/24"
egress = "nat"

[containers.other]
privateNetwork = true
hostBridge = "lan"
)";

// UDP, ICMP and TCP towards the wan from inside a container, in parallel.
std::string escape_attempts(const std::string& port) {
    return "for i in 1 2 3; do echo x | nc -u -w1 " + web4 + " " + port + " & ping -c1 -W1 " + web4 +
           " >/dev/null & curl --noproxy '*' -s -m1 http://" + web4 + "/ & wait; done";
}

// The links and table of the lab host, for before/after comparisons (ifindex
// included: a deleted and recreated link is not the same link).
std::string kernel_view(lab& l) {
    return l.in("ip -o link show | sed 's/ state [A-Z]*//' | grep -v ': lo:'").out + "\n" +
           l.in("nft list table inet moat").out;
}

}  // namespace

TEST(Instances, SecondInstanceIsRefusedAndWeakensNothing) {
    lab l;
    wan w(l);
    other_instance b{l};
    auto fa = l.write("a.toml", config_a);
    auto fb = l.write("b.toml", config_b);
    auto up = l.moat("up -f " + fa);
    ASSERT_EQ(up.code, 0) << up.err;
    auto table = l.in("nft list table inet moat").out;
    EXPECT_NE(table.find("comment \"moat:"), npos) << table;
    EXPECT_NE(l.in("ip -d link show ve-quiet").out.find("alias moat:"), npos);
    auto before = kernel_view(l);

    capture cap(l, w.uplink());
    auto refused = b.moat("up -f " + fb);
    EXPECT_EQ(refused.code, 2) << refused.out << refused.err;
    EXPECT_NE(refused.err.find("network namespace already managed by moat instance"), npos) << refused.err;
    EXPECT_NE(refused.err.find(l.state_dir()), npos) << refused.err;
    auto run = b.moat("run --network private -- true");
    EXPECT_EQ(run.code, 2) << run.out << run.err;
    // A's container is still confined: nothing of it reaches the wan.
    l.moat("exec quiet -- sh -c " + shq(escape_attempts("9999")));
    // B's down removes nothing of A's.
    auto down = b.moat("down");
    EXPECT_EQ(down.code, 0) << down.err;
    l.moat("exec quiet -- sh -c " + shq(escape_attempts("9999")));
    EXPECT_EQ(kernel_view(l), before);
    EXPECT_GT(container_status(l, "quiet").value("pid", 0), 0);

    cap.stop();
    EXPECT_EQ(cap.count("udp port 9999 or src host 10.171.61.2"), 0) << cap.packets("");
    // Positive control of the capture: without A's table the same attempts leave.
    capture control(l, w.uplink());
    ASSERT_EQ(l.in("nft delete table inet moat").code, 0);
    l.moat("exec quiet -- sh -c " + shq(escape_attempts("9998")));
    control.stop();
    EXPECT_GT(control.count("udp port 9998 and src host 10.171.61.2"), 0) << control.packets("");

    // Positive control of the refusal: once A is gone, B may come.
    ASSERT_EQ(l.moat("down").code, 0);
    up = b.moat("up -f " + fb);
    ASSERT_EQ(up.code, 0) << up.err;
    EXPECT_NE(l.in("nft list table inet moat").out.find(b.dir), npos);
    EXPECT_EQ(b.moat("down").code, 0);
    EXPECT_EQ(l.in("nft list tables").out, "");
}

TEST(Instances, ANameAnotherInstanceHoldsIsNeverDeleted) {
    lab l;
    other_instance b{l};
    const std::string file = "[containers.alpha]\nprivateNetwork = true\n"
                             "hostAddress = \"10.171.64.1\"\nlocalAddress = \"10.171.64.2\"\n"
                             "[containers.alpha.services.idle]\nexec = [\"/bin/sleep\", \"100000\"]\n";
    auto fa = l.write("a.toml", file);
    ASSERT_EQ(l.moat("up -f " + fa).code, 0);
    // Someone removes A's table (drift): B's up is no longer refused, and
    // finds A's ve-alpha, the name its own alpha would have.
    ASSERT_EQ(l.in("nft delete table inet moat").code, 0);
    auto index = ifindex(l, "ve-alpha");
    ASSERT_GT(index, 0);
    auto up = b.moat("up -f " + fa);
    EXPECT_NE(up.code, 0);
    EXPECT_NE(up.err.find("ve-alpha exists: it belongs to moat instance"), npos) << up.err;
    EXPECT_EQ(b.moat("down").code, 0);
    EXPECT_EQ(ifindex(l, "ve-alpha"), index);  // A's veth, untouched
    // The host's own link of a name moat would use: the same.
    ASSERT_EQ(l.in("ip link add ve-gamma type veth peer name gp-peer").code, 0);
    auto gamma = l.write("g.toml", "[containers.gamma]\nprivateNetwork = true\n"
                                   "hostAddress = \"10.171.65.1\"\nlocalAddress = \"10.171.65.2\"\n");
    up = b.moat("up -f " + gamma);
    EXPECT_NE(up.code, 0);
    EXPECT_NE(up.err.find("ve-gamma exists: moat did not create it"), npos) << up.err;
    EXPECT_EQ(b.moat("down").code, 0);
    EXPECT_GT(ifindex(l, "ve-gamma"), 0);
    // Positive control: A's own down does remove A's veth.
    ASSERT_EQ(l.moat("down").code, 0);
    EXPECT_EQ(ifindex(l, "ve-alpha"), -1);
    l.in("ip link del ve-gamma");
}

TEST(Instances, GcRemovesEverythingWhenTheStateDirectoryIsGone) {
    lab l;
    wan w(l);
    auto file = l.write("moat.toml", std::string(config_a) + R"(
[containers.second]
privateNetwork = true
hostBridge = "lan"

[containers.third]
privateNetwork = true
hostBridge = "lan"

[containers.natted]
privateNetwork = true
hostAddress = "10.171.63.1"
localAddress = "10.171.63.2"
egress = "nat"
[containers.natted.services.idle]
exec = ["/bin/sleep", "100000"]

[containers.onhost]
[containers.onhost.services.idle]
exec = ["/bin/sleep", "100000"]
)");
    auto up = l.moat("up -f " + file);
    ASSERT_EQ(up.code, 0) << up.err;
    std::vector<int> pids;
    std::vector<std::string> cgroups;
    auto st = status(l);  // not status(l)["..."] in the loop: the temporary would dangle
    for (const auto& c : st["containers"]) {
        pids.push_back(c.value("pid", 0));
        cgroups.push_back(c.value("cgroup", ""));
    }
    ASSERT_EQ(pids.size(), 6u);
    // quiet keeps trying to get out, from inside, through all of what follows.
    auto loop = "while :; do " + escape_attempts("9999") + "; done";
    ASSERT_EQ(l.moat("exec quiet -- sh -c " + shq("setsid sh -c " + shq(loop) + " >/dev/null 2>&1 &")).code, 0);
    capture cap(l, w.uplink());
    // Positive control of the capture: NAT'ed traffic is seen.
    l.moat("exec natted -- sh -c " + shq("echo x | nc -u -w1 " + web4 + " 9998"));

    ASSERT_EQ(sh("rm -rf " + l.state_dir()).code, 0);
    auto down = l.moat("down");
    EXPECT_EQ(down.code, 0) << down.err;
    EXPECT_NE(down.out.find("nothing to remove"), npos) << down.out;  // it has no records: gc's job
    EXPECT_NE(down.err.find("does not record still run"), npos) << down.err;
    auto refused = l.moat("up -f " + file);
    EXPECT_EQ(refused.code, 2) << refused.err;
    EXPECT_NE(refused.err.find(" gc`"), npos) << refused.err;

    auto gc = l.moat("gc");
    EXPECT_EQ(gc.code, 0) << gc.out << gc.err;
    EXPECT_NE(gc.out.find("removed table inet moat"), npos) << gc.out;
    EXPECT_NE(gc.out.find("removed link mb-lan"), npos) << gc.out;
    cap.stop();
    EXPECT_EQ(cap.count("udp port 9999 or src host 10.171.61.2"), 0) << cap.packets("");
    EXPECT_GT(cap.count("udp port 9998"), 0) << cap.packets("");

    // Zero residue: links, table, rules, processes, cgroups, the state dir.
    std::ostringstream residue;
    residue << l.in("ip -o link show | grep -v ': lo:' | grep -v ' " + w.uplink() + "[@:]' || true").out;
    residue << l.in("nft list tables").out;
    residue << l.in("ip rule show | grep -vE 'lookup (local|main|default)' || true").out;
    for (int pid : pids) {
        auto st = sh("awk '{print $3}' /proc/" + std::to_string(pid) + "/stat 2>/dev/null");
        if (pid > 0 && !st.out.empty() && st.out != "Z\n") residue << "process " << pid << "\n";
    }
    for (const auto& cg : cgroups) {
        if (!cg.empty() && sh("test -e " + cg).code == 0) residue << "cgroup " << cg << "\n";
        if (!cg.empty() && sh("test -e $(dirname " + cg + ")").code == 0) residue << "cgroup parent of " << cg << "\n";
    }
    residue << sh("test -e " + l.state_dir() + " && find " + l.state_dir() + " || true").out;
    EXPECT_EQ(residue.str(), "");
    // Once more: nothing left to do.
    gc = l.moat("gc");
    EXPECT_EQ(gc.code, 0) << gc.err;
    EXPECT_NE(gc.out.find("nothing to remove"), npos) << gc.out;
    EXPECT_EQ(sh("test -e " + l.state_dir()).code, 1);
}

TEST(Instances, GcLeavesAnotherInstanceAlone) {
    lab l;
    other_instance b{l};
    auto fa = l.write("a.toml", config_a);
    ASSERT_EQ(l.moat("up -f " + fa).code, 0);
    auto before = kernel_view(l);
    auto gc = b.moat("gc");
    EXPECT_EQ(gc.code, 0) << gc.err;
    EXPECT_NE(gc.out.find("nothing to remove"), npos) << gc.out;
    EXPECT_NE(gc.err.find("left alone: table inet moat"), npos) << gc.err;
    EXPECT_EQ(kernel_view(l), before);
    EXPECT_GT(container_status(l, "quiet").value("pid", 0), 0);
}

// gc finds this instance's objects by their marks alone — no state
// directory ever existed here: a link with its alias, and the policy rules
// and routes of the tunnel tables, which carry no mark and so go only while
// the namespace is not another instance's.
TEST(Instances, GcGoesByMarksAndLeavesOthersAlone) {
    lab l;
    std::string id = moat::state::store(l.state_dir()).instance_id();
    ASSERT_EQ(sh("rm -rf " + l.state_dir()).code, 0);
    const std::string table = std::to_string(0x6d740001u);  // plan::tunnel_table's range
    const std::vector<std::string> setup = {
        "ip link add mt-mine type veth peer name mt-mine-p", "ip link set mt-mine alias 'moat:" + id + ":tunnel x'",
        "ip link add mt-other type veth peer name mt-other-p", "ip link set mt-other alias 'moat:0123456789ab:tunnel y'",
        "ip link add mt-plain type veth peer name mt-plain-p", "ip rule add priority 10000 from 10.171.70.2 lookup " + table,
        // proto static: what moat makes (libnl sends RTPROT_STATIC with a delete too).
        "ip route add unreachable default proto static table " + table};
    for (const auto& cmd : setup) {
        ASSERT_EQ(l.in(cmd).code, 0) << cmd;
    }
    // Another instance owns the namespace: its rules are not told apart from
    // ours, so none goes; its link neither.
    ASSERT_EQ(l.in("nft add table inet moat '{ comment \"moat:0123456789ab:/elsewhere\"; }'").code, 0);
    auto gc = l.moat("gc");
    EXPECT_EQ(gc.code, 0) << gc.out << gc.err;
    EXPECT_EQ(ifindex(l, "mt-mine"), -1) << gc.out;
    EXPECT_GT(ifindex(l, "mt-other"), 0);
    EXPECT_GT(ifindex(l, "mt-plain"), 0);
    EXPECT_NE(l.in("ip rule show").out.find("lookup " + table), npos);
    EXPECT_NE(l.in("nft list table inet moat").out.find("/elsewhere"), npos);
    EXPECT_NE(gc.err.find("left alone: policy rules"), npos) << gc.err;
    // Positive control: with the namespace no one else's, they go.
    ASSERT_EQ(l.in("nft delete table inet moat").code, 0);
    gc = l.moat("gc");
    EXPECT_EQ(gc.code, 0) << gc.out << gc.err;
    EXPECT_EQ(l.in("ip rule show").out.find("lookup " + table), npos) << gc.out;
    EXPECT_EQ(l.in("ip route show table " + table).out, "") << gc.out;
    EXPECT_GT(ifindex(l, "mt-other"), 0);
    EXPECT_GT(ifindex(l, "mt-plain"), 0);
    EXPECT_EQ(sh("test -e " + l.state_dir()).code, 1);
}

// A uid block another instance's running container holds is never picked:
// root in each would be the same user to the host, owner of the other's
// files and sharing its per-uid limits (container/users.hpp). The
// containers share the lab host's network, so neither instance claims it.
TEST(Instances, AUidBlockAnotherInstanceRunsIsNeverPicked) {
    lab l;
    other_instance b{l};
    auto base = [](const result& r) { return r.out.substr(0, r.out.find('\n')); };
    auto a_base = [&] { return base(l.moat("exec a -- awk '{print $2}' /proc/self/uid_map")); };
    auto fa = l.write("a.toml", "[containers.a]\n");
    ASSERT_EQ(l.moat("up -f " + fa).code, 0);
    auto own = a_base();  // where a lands with nobody in the way
    ASSERT_FALSE(own.empty());
    ASSERT_NE(own, "0");
    ASSERT_EQ(l.moat("down").code, 0);

    // B runs z in that very block, given by number; the control: z reads it.
    auto fb = l.write("b.toml", "[containers.z]\nprivateUsers = " + own + "\n");
    auto up = b.moat("up -f " + fb);
    ASSERT_EQ(up.code, 0) << up.out << up.err;
    EXPECT_EQ(base(b.moat("exec z -- awk '{print $2}' /proc/self/uid_map")), own);
    ASSERT_EQ(l.moat("up -f " + fa).code, 0);
    auto moved = a_base();
    EXPECT_NE(moved, own) << "a picked the block B's running z holds";
    EXPECT_FALSE(moved.empty());

    // With z gone, a gets its own block back when it is made again.
    ASSERT_EQ(b.moat("down").code, 0);
    ASSERT_EQ(l.moat("down").code, 0);
    ASSERT_EQ(l.moat("up -f " + fa).code, 0);
    EXPECT_EQ(a_base(), own);
}
