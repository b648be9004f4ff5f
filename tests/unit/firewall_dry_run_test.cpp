// The rendered text must be what libnftables itself accepts: parse and
// evaluate it in dry-run mode (nft --check). Evaluation reads the kernel's
// ruleset cache, which needs CAP_NET_ADMIN over a network namespace, so each
// check runs in a forked child inside a fresh network namespace — owned by a
// fresh user namespace when not root — and nothing is ever committed.
// A dry run does not send the batch, so what only the kernel checks (jump
// loops, for one) is covered by the root integration tests instead.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "firewall/firewall.hpp"
#include "sys/unique_fd.hpp"

namespace moat::firewall {
namespace {

sys::ip_address ip(const std::string& s) { return *sys::ip_address::parse(s); }

struct check_result {
    bool isolated = false;  // false: no private namespace could be made
    bool accepted = false;
    std::string error;
};

check_result dry_run(const std::string& script) {
    int fds[2];
    if (::pipe(fds) != 0) {
        throw std::runtime_error("pipe");
    }
    sys::unique_fd rd(fds[0]), wr(fds[1]);
    pid_t pid = ::fork();
    if (pid == 0) {
        rd.reset();
        int flags = ::geteuid() == 0 ? CLONE_NEWNET : CLONE_NEWUSER | CLONE_NEWNET;
        if (::unshare(flags) != 0) {
            _exit(77);
        }
        std::string msg;
        try {
            context ctx;
            ctx.set_dry_run(true);
            ctx.apply(script);
        } catch (const std::exception& e) {
            msg = e.what();
        }
        if (!msg.empty() && ::write(wr.get(), msg.data(), msg.size()) < 0) {
            _exit(3);
        }
        _exit(msg.empty() ? 0 : 1);
    }
    wr.reset();
    check_result r;
    char buf[4096];
    for (ssize_t n; (n = ::read(rd.get(), buf, sizeof buf)) > 0;) {
        r.error.append(buf, static_cast<size_t>(n));
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.isolated = code != 77;
    r.accepted = code == 0;
    return r;
}

#define EXPECT_NFT_ACCEPTS(script)                                               \
    do {                                                                         \
        auto r = dry_run(script);                                                \
        if (!r.isolated) {                                                       \
            GTEST_SKIP() << "cannot create a private network namespace here";    \
        }                                                                        \
        EXPECT_TRUE(r.accepted) << r.error << "\n--- script ---\n" << (script); \
    } while (0)

endpoint container(int i, const std::string& egress) {
    endpoint e;
    e.name = "c-" + std::to_string(i) + "_x";
    e.host_if = "ve-c" + std::to_string(i);
    e.addresses = {ip("10.231." + std::to_string(i / 64) + "." + std::to_string(i % 64 * 4 + 2)),
                   ip("fc00::" + std::to_string(i + 2))};
    e.tcp_ports = {22, static_cast<std::uint16_t>(1000 + i)};
    e.udp_ports = {53};
    e.host_tcp_ports = {22, static_cast<std::uint16_t>(2000 + i)};
    e.host_udp_ports = {53, 123};
    e.egress = egress;
    return e;
}

TEST(firewall_dry_run, empty_spec_is_valid_nft) { EXPECT_NFT_ACCEPTS(render(spec{})); }

TEST(firewall_dry_run, every_feature_is_valid_nft) {
    endpoint none = container(1, "none"), nat = container(2, "nat"), vpn = container(3, "vpn"),
             closed = container(4, "vpn");
    vpn.tunnel_if = "wg-moat0";
    nat.forwards = {{"tcp", 8080, 1002, std::nullopt, nat.addresses[0]},
                    {"udp", 5353, 53, ip("127.0.0.1"), nat.addresses[0]},
                    {"tcp", 8443, 22, ip("fd00::1"), nat.addresses[1]},
                    {"tcp", 9443, 22, std::nullopt, nat.addresses[1]}};
    none.name = std::string(64, 'n');
    nat.addresses.pop_back();  // v4 only: the "meta nfproto ipv6 drop" branch
    nat.forwards.resize(2);
    EXPECT_NFT_ACCEPTS(render(spec{{none, nat, vpn, closed}}));
}

// Issue 14: forward sides and accessibleFrom on confined containers.
TEST(firewall_dry_run, forward_sides_and_accessible_from_are_valid_nft) {
    endpoint nat = container(1, "nat"), vpn = container(2, "vpn"), closed = container(3, "vpn");
    nat.uplink = "eth0";
    vpn.tunnel_if = "tn-vpn0";
    nat.forwards = {{"tcp", 8080, 22, std::nullopt, nat.addresses[0], "uplink"}};
    vpn.forwards = {{"tcp", 8081, 22, std::nullopt, vpn.addresses[0], "tunnel"},
                    {"tcp", 8082, 22, std::nullopt, vpn.addresses[1], "tunnel"},
                    {"udp", 8083, 53, ip("203.0.113.10"), vpn.addresses[0], "both"},
                    {"tcp", 8084, 22, std::nullopt, vpn.addresses[0], "uplink"}};
    vpn.accessible_from = {*sys::ip_prefix::parse("192.168.1.0/24"), *sys::ip_prefix::parse("fd00:1::/64")};
    closed.forwards = {{"tcp", 8085, 22, std::nullopt, closed.addresses[0], "tunnel"}};
    closed.accessible_from = {*sys::ip_prefix::parse("192.168.2.0/24")};
    EXPECT_NFT_ACCEPTS(render(spec{{nat, vpn, closed}}));
}

// Kept at 64: without CAP_NET_ADMIN in the initial user namespace nft cannot
// force a larger netlink send buffer than wmem_default (~100 containers per
// batch). moat itself runs as root; the root integration test applies 300.
TEST(firewall_dry_run, many_containers_are_valid_nft) {
    spec s;
    for (int i = 0; i < 64; ++i) {
        s.endpoints.push_back(container(i, i % 2 ? "nat" : "none"));
    }
    EXPECT_NFT_ACCEPTS(render(s));
}

// The check above must be able to fail: a rule nft cannot parse is reported
// with nft's own diagnostic.
TEST(firewall_dry_run, broken_script_is_rejected_with_nft_error_text) {
    auto r = dry_run("table inet moat {\n\tchain x {\n\t\ttcp dport 22 acept\n\t}\n}\n");
    if (!r.isolated) {
        GTEST_SKIP() << "cannot create a private network namespace here";
    }
    EXPECT_FALSE(r.accepted);
    EXPECT_NE(r.error.find("applying nftables table inet moat: nft: "), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("syntax error"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace moat::firewall

namespace moat::firewall {
namespace {

// The provider-forwarded port: the empty map and set, the rules that use
// them, and the runner's update batch applied to that table.
TEST(firewall_dry_run, provider_forwarding_and_its_update_are_valid_nft) {
    endpoint vpn = container(5, "vpn");
    vpn.tunnel_if = "tn-proton";
    vpn.provider_forwarding = true;
    auto table = render(spec{{vpn}});
    EXPECT_NFT_ACCEPTS(table);
    // apply() replaces the table; the update runs as a second batch in the
    // same dry run only in the root integration test, so here: one script.
    std::string update = forwarding_update(vpn.name, {{"tcp", 40123, 40123}, {"udp", 40123, 40123}});
    EXPECT_NFT_ACCEPTS(table + update);
    EXPECT_NFT_ACCEPTS(table + forwarding_update(vpn.name, {}));
}

}  // namespace
}  // namespace moat::firewall
