// Exit 2 means "nothing changed" (issue 13): bad input of every kind is
// refused before the first kernel object is touched — exit 2, the file:line:col
// of the cause when a file is involved, and no state directory (if there was
// none), no link, no cgroup, no change to the nftables table, no new record.
// Each refusal has a positive control next to it. The lab's host has an
// uplink and default routes (network_lab.hpp) for the host-dependent checks.
#include "network_lab.hpp"
#include "sandbox/cgroup.hpp"
#include "sys/hash.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

using namespace moat::test;

namespace {

constexpr auto npos = std::string::npos;

// What a refused command must leave exactly as it was.
struct host_state {
    bool state_dir = false;
    std::string records;  // the state directory's files
    std::string links;    // `ip -o link` of the lab's host, names only
    std::string ruleset;  // `nft list ruleset`
    std::string cgroups;  // the instance's cgroup directory
    std::string routes;
};

std::string instance_cgroups(lab& l) {
    auto mount = moat::sandbox::cgroup_mount();
    if (!mount) {
        return "";
    }
    std::error_code ec;
    std::string canon = std::filesystem::weakly_canonical(l.state_dir(), ec).string();
    std::string dir = *mount + "/moat/" + moat::sys::fnv1a_hex(canon).substr(0, 12);
    return sh("test -d " + dir + " && find " + dir + " -maxdepth 1 -type d | sort || echo none").out;
}

host_state snapshot(lab& l) {
    host_state s;
    s.state_dir = std::filesystem::exists(l.state_dir());
    s.records = sh("find " + l.state_dir() + " 2>/dev/null | sort").out;
    s.links = l.in("ip -o link show | awk -F': ' '{print $2}'").out;
    s.ruleset = l.in("nft list ruleset").out;
    // Without IPv6 link-local routes: the kernel adds those on its own time
    // after a link comes up (addrconf), racing a snapshot taken just after a
    // successful `up`; a new link shows in `links` anyway.
    s.routes = l.in("{ ip route show table all; ip -6 route show table all; } | grep -v fe80::").out;
    s.cgroups = instance_cgroups(l);
    return s;
}

void expect_untouched(lab& l, const host_state& before) {
    auto now = snapshot(l);
    EXPECT_EQ(now.state_dir, before.state_dir) << "the state directory appeared or went";
    EXPECT_EQ(now.records, before.records);
    EXPECT_EQ(now.links, before.links);
    EXPECT_EQ(now.ruleset, before.ruleset);
    EXPECT_EQ(now.routes, before.routes);
    EXPECT_EQ(now.cgroups, before.cgroups);
}

// `moat up` of `file` (with `args`) is refused: exit 2, the message names
// `where` ("b.toml:4:1"), and the host is as it was.
void refused(lab& l, const std::string& file, const std::string& where, const std::string& says,
             const std::string& args = "") {
    auto before = snapshot(l);
    auto r = l.moat("up -q -f " + file + args);
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find(where), npos) << "expected " << where << " in: " << r.err;
    EXPECT_NE(r.err.find(says), npos) << "expected '" << says << "' in: " << r.err;
    expect_untouched(l, before);
}

std::string p2p(const std::string& name, const std::string& host, const std::string& local, const std::string& more = "") {
    return "[containers." + name + "]\nprivateNetwork = true\nhostAddress = \"" + host + "\"\nlocalAddress = \"" + local +
           "\"\n" + more;
}

}  // namespace

// The reproduction: a second file forwarding a port the first one forwards
// had its container cloned and wired, then failed with exit 2 and no file
// or line. Now every clash with what runs is found before the lock's holder
// touches anything, whole file or named containers alike.
TEST(Validate, SecondFileClashingWithARunningOneChangesNothing) {
    lab l;
    wan w(l);
    auto a = l.write("a.toml", p2p("a", "10.171.60.1", "10.171.60.2",
                                   "forwardPorts = [{ hostPort = 8080, containerPort = 80 }]\n") +
                                   "[networks.lab]\nsubnet = \"10.172.60.0/24\"\n"
                                   "[containers.a2]\nprivateNetwork = true\nhostBridge = \"lab\"\n");
    auto up = l.moat("up -q -f " + a);
    ASSERT_EQ(up.code, 0) << up.err;
    int pid = container_status(l, "a")["pid"].get<int>();
    auto port = l.write("port.toml", p2p("b", "10.171.61.1", "10.171.61.2", "forwardPorts = [{ hostPort = 8080 }]\n"));
    refused(l, port, "port.toml:5:19", "hostPort 8080/tcp of container 'b' is already forwarded to running container 'a'", " b");
    refused(l, port, "port.toml:5:19", "already forwarded");
    auto address = l.write("address.toml", p2p("b", "10.171.61.1", "10.171.60.2"));
    refused(l, address, "address.toml:4:1", "is already used by running container 'a'");
    auto subnet = l.write("subnet.toml", "[networks.other]\nsubnet = \"10.172.0.0/16\"\n"
                                         "[containers.b]\nprivateNetwork = true\nhostBridge = \"other\"\n");
    refused(l, subnet, "subnet.toml:2:1", "overlaps 10.172.60.0/24, the subnet of running container 'a2'");
    auto moved = l.write("moved.toml", "[networks.lab]\nsubnet = \"10.172.61.0/24\"\n"
                                       "[containers.b]\nprivateNetwork = true\nhostBridge = \"lab\"\n");
    refused(l, moved, "moved.toml:2:1", "network 'lab' is running with subnet 10.172.60.0/24");
    auto name = l.write("name.toml", p2p("a", "10.171.62.1", "10.171.62.2"));
    refused(l, name, "name.toml:1:13", "container 'a' is already running, from " + a);
    EXPECT_EQ(container_status(l, "a")["pid"].get<int>(), pid);
    // Positive control: another port, address and the same network by name
    // and subnet come up next to a, which keeps running.
    auto fine = l.write("fine.toml", p2p("b", "10.171.61.1", "10.171.61.2", "forwardPorts = [{ hostPort = 8081 }]\n") +
                                         "[networks.lab]\nsubnet = \"10.172.60.0/24\"\n"
                                         "[containers.b2]\nprivateNetwork = true\nhostBridge = \"lab\"\n");
    auto ok = l.moat("up -q -f " + fine + " b b2");
    ASSERT_EQ(ok.code, 0) << ok.err;
    EXPECT_EQ(container_status(l, "a")["pid"].get<int>(), pid);
    EXPECT_NE(address_of(l, "b2"), address_of(l, "a2"));
    EXPECT_EQ(l.in("ip -o link show dev ve-b").code, 0);
}

TEST(Validate, AddressesThatClashWithTheHost) {
    lab l;
    wan w(l);  // uplink 203.0.113.10/24 and 2001:db8:113::10/64, default via .1 and ::1
    refused(l, l.write("gw.toml", p2p("c", "10.171.63.1", "203.0.113.1")), "gw.toml:4:1",
            "localAddress 203.0.113.1 of container 'c' is a gateway the host routes through");
    refused(l, l.write("own.toml", p2p("c", "203.0.113.10", "10.171.63.2")), "own.toml:3:1",
            "hostAddress 203.0.113.10 of container 'c' is an address of the host (on " + w.uplink() + ")");
    refused(l, l.write("lan.toml", p2p("c", "10.171.63.1", "203.0.113.50")), "lan.toml:4:1",
            "lies in 203.0.113.0/24, which the host routes via " + w.uplink());
    refused(l, l.write("any.toml", p2p("c", "10.171.63.1", "0.0.0.0")), "any.toml:4:1", "is the unspecified address");
    refused(l, l.write("bcast.toml", p2p("c", "10.171.63.1", "255.255.255.255")), "bcast.toml:4:1",
            "is the limited broadcast address");
    refused(l, l.write("mcast.toml", p2p("c", "10.171.63.1", "224.0.0.5")), "mcast.toml:4:1", "multicast");
    refused(l, l.write("lo.toml", p2p("c", "127.0.0.5", "10.171.63.2")), "lo.toml:3:1", "loopback");
    refused(l, l.write("v6.toml", "[containers.c]\nprivateNetwork = true\nhostAddress6 = \"fd00:63::1\"\n"
                                  "localAddress6 = \"2001:db8:113::10\"\n"),
            "v6.toml:4:1", "is an address of the host");
    // Positive control.
    auto ok = l.moat("up -q -f " + l.write("ok.toml", p2p("c", "10.171.63.1", "10.171.63.2")));
    EXPECT_EQ(ok.code, 0) << ok.err;
}

TEST(Validate, SubnetsThatCannotBeAContainerNetwork) {
    lab l;
    wan w(l);
    const std::string member = "[containers.m]\nprivateNetwork = true\nhostBridge = \"n\"\n";
    // 0.0.0.0/0 got as far as netlink and failed there with exit 1.
    refused(l, l.write("all.toml", "[networks.n]\nsubnet = \"0.0.0.0/0\"\n" + member), "all.toml:2:1",
            "subnet 0.0.0.0/0 of network 'n' is wider than /8");
    refused(l, l.write("uplink.toml", "[networks.n]\nsubnet = \"203.0.113.0/25\"\n" + member), "uplink.toml:2:1",
            "contains 203.0.113.10, an address of the host (on " + w.uplink() + ")");
    refused(l, l.write("route.toml", "[networks.n]\nsubnet = \"203.0.113.128/25\"\n" + member), "route.toml:2:1",
            "overlaps 203.0.113.0/24, which the host routes via " + w.uplink());
    auto ok = l.moat("up -q -f " + l.write("ok.toml", "[networks.n]\nsubnet = \"10.172.64.0/24\"\n" + member));
    EXPECT_EQ(ok.code, 0) << ok.err;
}

// A missing uplink was created, then rolled back, exit 1.
TEST(Validate, MissingUplinkIsRefusedBeforeAnythingIsMade) {
    lab l;
    wan w(l);
    const std::string file = "[networks.n]\nsubnet = \"10.172.65.0/24\"\negress = \"nat\"\nuplink = \"eth9\"\n"
                             "[containers.m]\nprivateNetwork = true\nhostBridge = \"n\"\n";
    refused(l, l.write("eth9.toml", file), "eth9.toml:4:1", "uplink 'eth9' of network 'n': the host has no such interface");
    std::string real = file;
    real.replace(real.find("eth9"), 4, w.uplink());
    auto ok = l.moat("up -q -f " + l.write("real.toml", real));
    EXPECT_EQ(ok.code, 0) << ok.err;
}

// 80 KB of dotted keys crashed the TOML parser (SIGSEGV, exit 139).
TEST(Validate, DeeplyNestedFileIsAnErrorNotACrash) {
    lab l;
    std::string key = "a";
    for (int i = 0; i < 40000; ++i) key += ".a";
    refused(l, l.write("deep.toml", key + " = 1\n"), "deep.toml:1:128", "nesting deeper than 64 levels");
    refused(l, l.write("deep.json", std::string(100000, '[')), "deep.json:1:65", "nesting deeper than 64 levels");
}

// Names reach file names under the state directory: '../../x' wrote a
// record outside it, 'x y' left one that made every later `down` fail.
TEST(Validate, NamesOnTheCommandLineGoThroughTheOneValidator) {
    lab l;
    for (const std::string& bad : std::vector<std::string>{"../../x", "x y", "x/y", std::string(65, 'n')}) {
        SCOPED_TRACE(bad);
        auto before = snapshot(l);
        for (const std::string& args : std::vector<std::string>{"run --rm --name " + shq(bad) + " -- true", "up -f /nonexistent " + shq(bad),
                                        "down " + shq(bad), "exec " + shq(bad) + " -- true", "logs " + shq(bad),
                                        "login " + shq(bad), "check " + shq(bad)}) {
            auto r = l.moat(args);
            EXPECT_EQ(r.code, 2) << args << ": " << r.out << r.err;
            EXPECT_NE(r.err.find("is not a valid name"), npos) << args << ": " << r.err;
        }
        auto svc = l.moat("logs web " + shq(bad));
        EXPECT_EQ(svc.code, 2) << svc.err;
        expect_untouched(l, before);
        EXPECT_FALSE(std::filesystem::exists(l.dir() + "/x")) << "a record outside the state directory";
    }
    // moat's own containers may be looked at by name, never taken.
    auto internal = l.moat("logs _tunnels");
    EXPECT_EQ(internal.err.find("is not a valid name"), npos) << internal.err;
    auto taken = l.moat("run --name _pipes -- true");
    EXPECT_EQ(taken.code, 2) << taken.err;
    EXPECT_NE(taken.err.find("is not a valid name"), npos) << taken.err;
    // Positive control: a valid name runs, and `down` removes it.
    auto ok = l.moat("run --name ok-1 -- true");
    EXPECT_EQ(ok.code, 0) << ok.err;
    auto down = l.moat("down");
    EXPECT_EQ(down.code, 0) << down.err;
}
