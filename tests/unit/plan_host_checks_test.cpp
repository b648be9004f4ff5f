// plan::check_host: a plan against the host's addresses, routes, links and
// the containers that keep running, each clash at its key (file:line:col).
// The host context is built by hand here; cli/load.cpp fills it from
// netlink and the records, and tests/integration/validate_test.cpp drives
// the whole path through the real binary.
#include "config/loader.hpp"
#include "plan/host_checks.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

using namespace moat;
using testing::ElementsAre;
using testing::IsEmpty;

namespace {

sys::ip_address ip(const char* s) { return *sys::ip_address::parse(s); }
sys::ip_prefix net(const char* s) { return *sys::ip_prefix::parse(s); }

config::model load(const std::string& toml, const std::string& file = "b.toml") {
    auto m = config::load_string(toml, file, config::format::toml);
    config::validate(m);
    return m;
}

// A host like the lab's: uplink u1 with 203.0.113.10/24, default via .1.
plan::host_context lab_host() {
    plan::host_context ctx;
    ctx.default_uplink = "u1";
    ctx.source = "/etc/b.toml";
    ctx.links = {"lo", "u1"};
    ctx.addresses = {{net("127.0.0.1/8"), "lo"}, {net("203.0.113.10/24"), "u1"}, {net("2001:db8:113::10/64"), "u1"}};
    ctx.routes = {{net("203.0.113.0/24"), "u1", "203.0.113.0/24 dev u1"}, {net("2001:db8:113::/64"), "u1", "2001:db8:113::/64 dev u1"}};
    ctx.gateways = {ip("203.0.113.1")};
    return ctx;
}

// The diagnostics check_host gives, as "line:col: message"; empty when none.
std::vector<std::string> clashes(const config::model& m, const plan::host_context& ctx) {
    try {
        plan::check_host(m, plan::plan_host(m, [](const config::container&) { return true; }, ctx), ctx);
    } catch (const config::config_error& e) {
        std::vector<std::string> out;
        for (const auto& d : e.diagnostics) {
            out.push_back(std::to_string(d.where.line) + ":" + std::to_string(d.where.column) + ": " + d.message);
        }
        return out;
    }
    return {};
}

std::string p2p(const std::string& name, const std::string& host, const std::string& local) {
    return "[containers." + name + "]\nprivateNetwork = true\nhostAddress = \"" + host + "\"\nlocalAddress = \"" + local + "\"\n";
}

// Marks the containers of `toml` as running, from `source`.
void run(plan::host_context& ctx, const std::string& toml, const std::string& source, const std::string& origin = "file") {
    auto m = load(toml, "a.toml");
    auto hp = plan::plan_host(m, [](const config::container&) { return true; }, ctx);
    for (auto& p : hp.containers) {
        ctx.moat_links.insert(p.host_if);
        ctx.running[p.name] = plan::running_container{origin, source, p};
    }
    for (auto& n : hp.networks) {
        ctx.moat_links.insert(n.bridge_if);
        ctx.networks[n.name] = n;
    }
}

TEST(plan_host_checks, addresses_of_the_host_its_gateway_and_its_subnets) {
    auto ctx = lab_host();
    EXPECT_THAT(clashes(load(p2p("c", "10.9.0.1", "203.0.113.10")), ctx),
                ElementsAre("4:1: localAddress 203.0.113.10 of container 'c' is an address of the host (on u1)"));
    EXPECT_THAT(clashes(load(p2p("c", "10.9.0.1", "203.0.113.1")), ctx),
                ElementsAre("4:1: localAddress 203.0.113.1 of container 'c' is a gateway the host routes through"));
    EXPECT_THAT(clashes(load(p2p("c", "203.0.113.50", "10.9.0.2")), ctx),
                ElementsAre("3:1: hostAddress 203.0.113.50 of container 'c' lies in 203.0.113.0/24, which the host routes via u1 (203.0.113.0/24 dev u1)"));
    // A pair with a prefix length is a subnet of its own.
    EXPECT_THAT(clashes(load(p2p("c", "203.0.113.129/25", "203.0.113.130")), ctx),
                ElementsAre("3:1: hostAddress 203.0.113.129 of container 'c' lies in 203.0.113.0/24, which the host routes via u1 (203.0.113.0/24 dev u1)",
                            "3:1: the subnet 203.0.113.128/25 of container 'c' overlaps 203.0.113.0/24, which the host routes via u1 (203.0.113.0/24 dev u1)",
                            "4:1: localAddress 203.0.113.130 of container 'c' lies in 203.0.113.0/24, which the host routes via u1 (203.0.113.0/24 dev u1)"));
    // Positive control: an address nothing on the host uses.
    EXPECT_THAT(clashes(load(p2p("c", "10.9.0.1", "10.9.0.2")), ctx), IsEmpty());
}

TEST(plan_host_checks, network_subnets_against_the_hosts_routes_and_addresses) {
    auto ctx = lab_host();
    EXPECT_THAT(clashes(load("[networks.n]\nsubnet = \"203.0.113.0/25\"\n[containers.m]\nprivateNetwork = true\nhostBridge = \"n\"\n"), ctx),
                ElementsAre("2:1: subnet 203.0.113.0/25 of network 'n' contains 203.0.113.10, an address of the host (on u1)"));
    EXPECT_THAT(clashes(load("[networks.n]\nsubnet = \"10.5.0.0/24\"\nsubnet6 = \"2001:db8::/32\"\n[containers.m]\nprivateNetwork = true\nhostBridge = \"n\"\n"), ctx),
                ElementsAre("3:1: subnet6 2001:db8::/32 of network 'n' contains 2001:db8:113::10, an address of the host (on u1)"));
    // Routes wider than /8 are default routes in pieces (a VPN client's 0.0.0.0/1): not compared.
    ctx.routes.push_back({net("0.0.0.0/1"), "tun0", "0.0.0.0/1 dev tun0"});
    ctx.routes.push_back({net("10.0.0.0/8"), "corp0", "10.0.0.0/8 via 192.0.2.1 dev corp0"});
    EXPECT_THAT(clashes(load("[networks.n]\nsubnet = \"10.5.0.0/24\"\n[containers.m]\nprivateNetwork = true\nhostBridge = \"n\"\n"), ctx),
                ElementsAre("2:1: subnet 10.5.0.0/24 of network 'n' overlaps 10.0.0.0/8, which the host routes via corp0 (10.0.0.0/8 via 192.0.2.1 dev corp0)"));
    EXPECT_THAT(clashes(load("[networks.n]\nsubnet = \"172.20.0.0/24\"\n[containers.m]\nprivateNetwork = true\nhostBridge = \"n\"\n"), ctx),
                IsEmpty());
}

TEST(plan_host_checks, uplink_must_exist_and_links_must_be_free) {
    auto ctx = lab_host();
    std::string with_uplink = "[networks.n]\nsubnet = \"10.5.0.0/24\"\negress = \"nat\"\nuplink = \"eth9\"\n"
                              "[containers.m]\nprivateNetwork = true\nhostBridge = \"n\"\n";
    EXPECT_THAT(clashes(load(with_uplink), ctx), ElementsAre("4:1: uplink 'eth9' of network 'n': the host has no such interface"));
    ctx.links.insert("eth9");
    EXPECT_THAT(clashes(load(with_uplink), ctx), IsEmpty());
    // A link of that name that the records do not name is someone else's.
    ctx.links.insert("ve-m");
    EXPECT_THAT(clashes(load(with_uplink), ctx), ElementsAre("5:13: interface ve-m exists: moat did not create it (the host's own, or an older moat's)"));
    ctx.moat_links.insert("ve-m");
    EXPECT_THAT(clashes(load(with_uplink), ctx), IsEmpty());
}

TEST(plan_host_checks, another_files_running_containers_keep_their_ports_addresses_and_subnets) {
    auto ctx = lab_host();
    run(ctx, p2p("a", "10.9.0.1", "10.9.0.2") + "forwardPorts = [{ hostPort = 8080, containerPort = 80 }]\n"
                 "[networks.lab]\nsubnet = \"10.172.0.0/24\"\n[containers.a2]\nprivateNetwork = true\nhostBridge = \"lab\"\n"
                 "localAddress = \"10.172.0.5\"\n",
        "/etc/a.toml");
    // The same host port.
    EXPECT_THAT(clashes(load(p2p("b", "10.9.1.1", "10.9.1.2") + "forwardPorts = [{ hostPort = 8080 }]\n"), ctx),
                ElementsAre("5:19: hostPort 8080/tcp of container 'b' is already forwarded to running container 'a' (from /etc/a.toml)"));
    // Positive controls: another port, another protocol, another host address on both sides.
    EXPECT_THAT(clashes(load(p2p("b", "10.9.1.1", "10.9.1.2") + "forwardPorts = [{ hostPort = 8081 }, { protocol = \"udp\", hostPort = 8080 }]\n"), ctx),
                IsEmpty());
    // The same address, an address in the other's network, an overlapping network.
    EXPECT_THAT(clashes(load(p2p("b", "10.9.1.1", "10.9.0.2")), ctx),
                ElementsAre("4:1: localAddress 10.9.0.2 of container 'b' is already used by running container 'a' (from /etc/a.toml)"));
    EXPECT_THAT(clashes(load(p2p("b", "10.9.1.1", "10.172.0.9")), ctx),
                ElementsAre("4:1: localAddress 10.172.0.9 of container 'b' lies in 10.172.0.0/24, the subnet of running container 'a2' (from /etc/a.toml)"));
    EXPECT_THAT(clashes(load("[networks.other]\nsubnet = \"10.172.0.0/16\"\n[containers.m]\nprivateNetwork = true\nhostBridge = \"other\"\n"), ctx),
                ElementsAre("2:1: subnet 10.172.0.0/16 of network 'other' overlaps 10.172.0.0/24, the subnet of running container 'a2' (from /etc/a.toml)"));
    // The same network by name: with its subnet, a member joins and is
    // allocated around the running one; with another subnet, refused.
    std::string join = "[networks.lab]\nsubnet = \"10.172.0.0/24\"\n[containers.m]\nprivateNetwork = true\nhostBridge = \"lab\"\n";
    EXPECT_THAT(clashes(load(join), ctx), IsEmpty());
    auto m = load(join);
    auto joined = plan::plan_host(m, [](const config::container&) { return true; }, ctx);
    EXPECT_NE(joined.containers.at(0).v4->local.address, ip("10.172.0.5"));
    std::string moved = join;
    moved.replace(moved.find("10.172.0.0/24"), 13, "10.173.0.0/24");
    EXPECT_THAT(clashes(load(moved), ctx),
                ElementsAre("2:1: network 'lab' is running with subnet 10.172.0.0/24 for running container 'a2' (from /etc/a.toml)"));
}

TEST(plan_host_checks, who_is_kept_decides_what_clashes) {
    auto ctx = lab_host();
    run(ctx, p2p("a", "10.9.0.1", "10.9.0.2"), "/etc/b.toml");  // this very file
    auto again = load(p2p("a", "10.9.0.1", "10.9.0.2") + p2p("z", "10.9.9.1", "10.9.9.2"));
    // `up` of the whole file replaces a with itself: nothing to clash with.
    EXPECT_THAT(clashes(again, ctx), IsEmpty());
    // Without a in the file, the whole-file `up` removes it...
    auto without = load(p2p("b", "10.9.1.1", "10.9.0.2"));
    EXPECT_THAT(clashes(without, ctx), IsEmpty());
    // ...but with names given it stays, and its address is taken.
    ctx.whole_file = false;
    EXPECT_THAT(clashes(without, ctx), ElementsAre(testing::HasSubstr("is already used by running container 'a' (from /etc/b.toml)")));
    // A name taken by `moat run` or another file is not this file's to replace.
    ctx = lab_host();
    run(ctx, p2p("a", "10.9.0.1", "10.9.0.2"), "", "run");
    EXPECT_THAT(clashes(again, ctx), ElementsAre("1:13: container 'a' is already running, started by `moat run`"));
    ctx = lab_host();
    run(ctx, p2p("a", "10.9.0.1", "10.9.0.2"), "/etc/a.toml");
    EXPECT_THAT(clashes(again, ctx), ElementsAre("1:13: container 'a' is already running, from /etc/a.toml"));
}

}  // namespace
