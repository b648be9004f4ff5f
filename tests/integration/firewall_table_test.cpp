// context against the real kernel, in a throw-away network namespace: the
// table is applied, replaced atomically, survives broken scripts unchanged,
// is removed idempotently, and other tables are never touched.
#include <gtest/gtest.h>

#include "firewall/firewall.hpp"
#include "firewall_lab.hpp"
#include "sys/error.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

namespace moat::firewall {
namespace {

sys::ip_address ip(const std::string& s) { return *sys::ip_address::parse(s); }

endpoint container(const std::string& name, int i) {
    endpoint e;
    e.name = name;
    e.host_if = "ve-" + name.substr(0, 12);
    e.addresses = {ip("10.231.0." + std::to_string(4 * i + 2)), ip("fc00::" + std::to_string(i + 2))};
    e.tcp_ports = {12345};
    return e;
}

class firewall_table : public ::testing::Test {
protected:
    // libnftables binds its socket when the context is created (1.0.6), so a
    // context made inside the lab namespace acts there from any thread.
    context make_context() {
        std::optional<context> ctx;
        _ns.in([&] { ctx.emplace(); });
        return std::move(*ctx);
    }
    std::string nft(const std::string& args) { return _ns.must_exec("nft " + args); }

    test::netns _ns;
    context _ctx = make_context();
};

TEST_F(firewall_table, apply_then_read_back) {
    EXPECT_EQ(_ctx.current(), std::nullopt);
    _ctx.apply(render(spec{{container("webapp", 0)}}));
    auto listing = _ctx.current();
    ASSERT_TRUE(listing.has_value());
    EXPECT_EQ(*listing, nft("list table inet moat"));  // the same view as the nft binary
    EXPECT_NE(listing->find("chain in_webapp {"), std::string::npos) << *listing;
    EXPECT_NE(listing->find("\"ve-webapp\" . 10.231.0.2 : goto in_webapp"), std::string::npos) << *listing;
    EXPECT_NE(listing->find("tcp dport 12345 accept"), std::string::npos) << *listing;
    EXPECT_EQ(nft("list tables"), "table inet moat\n");
}

TEST_F(firewall_table, apply_twice_gives_the_same_table) {
    auto script = render(spec{{container("webapp", 0), container("db", 1)}});
    _ctx.apply(script);
    auto first = _ctx.current();
    _ctx.apply(script);
    EXPECT_EQ(_ctx.current(), first);
    EXPECT_EQ(nft("list tables"), "table inet moat\n");
}

TEST_F(firewall_table, changed_spec_replaces_the_whole_table) {
    _ctx.apply(render(spec{{container("webapp", 0)}}));
    auto db = container("db", 1);
    db.udp_ports = {53};
    _ctx.apply(render(spec{{db}}));
    auto listing = *_ctx.current();
    EXPECT_EQ(listing.find("webapp"), std::string::npos) << listing;
    EXPECT_NE(listing.find("chain in_db {"), std::string::npos) << listing;
    EXPECT_NE(listing.find("udp dport 53 accept"), std::string::npos) << listing;
}

TEST_F(firewall_table, script_nft_cannot_parse_changes_nothing) {
    _ctx.apply(render(spec{{container("webapp", 0)}}));
    auto before = _ctx.current();
    try {
        _ctx.apply("table inet moat {\n\tchain x {\n\t\ttcp dport 22 acept\n\t}\n}\n");
        FAIL() << "no exception";
    } catch (const error& e) {
        EXPECT_NE(std::string(e.what()).find("applying nftables table inet moat: nft: "), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("syntax error"), std::string::npos) << e.what();
    }
    EXPECT_EQ(_ctx.current(), before);
}

// Parses and evaluates fine; only the kernel sees the jump loop (ELOOP) —
// after it has already processed "delete table" in the same batch. The whole
// transaction must be rolled back.
TEST_F(firewall_table, script_the_kernel_rejects_changes_nothing) {
    _ctx.apply(render(spec{{container("webapp", 0)}}));
    auto before = _ctx.current();
    const std::string loop =
        "table inet moat {\n"
        "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tjump in_a\n\t}\n"
        "\tchain in_a {\n\t\tjump in_b\n\t}\n"
        "\tchain in_b {\n\t\tjump in_a\n\t}\n"
        "}\n";
    EXPECT_THROW(_ctx.apply(loop), error);
    EXPECT_EQ(_ctx.current(), before);
}

TEST_F(firewall_table, remove_is_idempotent) {
    _ctx.remove();  // never applied
    _ctx.apply(render(spec{{container("webapp", 0)}}));
    _ctx.remove();
    EXPECT_EQ(_ctx.current(), std::nullopt);
    _ctx.remove();
    EXPECT_EQ(_ctx.current(), std::nullopt);
    EXPECT_EQ(nft("list ruleset"), "");
}

TEST_F(firewall_table, host_tables_are_byte_identical_after_apply_and_remove) {
    const std::string host_rules = R"(
table inet hostfw {
	set trusted {
		type ipv4_addr
		elements = { 192.0.2.7, 192.0.2.9 }
	}
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iifname "lo" accept
		ip saddr @trusted tcp dport 22 accept
		counter drop
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
	}
}
table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.99.0.0/16 oifname "eth9" masquerade
	}
}
)";
    _ns.must_exec("nft -f - <<'EOF'\n" + host_rules + "EOF");
    auto hostfw = nft("list table inet hostfw");
    auto nat = nft("list table ip nat");
    auto ruleset = nft("list ruleset");

    auto e = container("webapp", 0);
    e.egress = "nat";
    e.forwards = {{"tcp", 8080, 12345, std::nullopt, e.addresses[0]}};
    _ctx.apply(render(spec{{e}}));
    EXPECT_EQ(nft("list table inet hostfw"), hostfw);
    EXPECT_EQ(nft("list table ip nat"), nat);
    _ctx.apply(render(spec{{container("db", 1)}}));
    _ctx.remove();
    EXPECT_EQ(nft("list table inet hostfw"), hostfw);
    EXPECT_EQ(nft("list table ip nat"), nat);
    EXPECT_EQ(nft("list ruleset"), ruleset);
}

TEST_F(firewall_table, hundreds_of_containers_in_one_transaction) {
    spec s;
    for (int i = 0; i < 300; ++i) {
        endpoint e;
        e.name = "c" + std::to_string(i);
        e.host_if = "ve-c" + std::to_string(i);
        e.addresses = {ip("10.231." + std::to_string(i / 64) + "." + std::to_string(i % 64 * 4 + 2))};
        e.tcp_ports = {22, static_cast<std::uint16_t>(1000 + i)};
        e.egress = i % 2 ? "nat" : "none";
        s.endpoints.push_back(e);
    }
    _ctx.apply(render(s));
    auto listing = *_ctx.current();
    EXPECT_NE(listing.find("chain in_c299 {"), std::string::npos);
    EXPECT_NE(listing.find("\"ve-c0\" . 10.231.0.2 : goto out_c0"), std::string::npos);
}

// The claim check's one-request read (table_comment.cpp) against what nft
// itself lists, with each case's control: no table; a table with moat's
// claim; one without a comment; one whose comment is not moat's; and a
// table of the same name in another family, which is not ours.
TEST_F(firewall_table, table_comment_reads_what_nft_lists) {
    auto read = [&] {
        std::optional<std::optional<std::string>> out;
        _ns.in([&] { out = table_comment(); });
        return out;
    };
    EXPECT_EQ(read(), std::nullopt);
    nft("add table ip moat '{ comment \"moat:aaaa:/elsewhere\"; }'");
    EXPECT_EQ(read(), std::nullopt);  // ip moat is not inet moat

    auto claim = claim_comment({"0123456789ab", "/run/moat"});
    _ctx.apply(render(spec{{container("webapp", 0)}}), claim);
    auto got = read();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, claim);
    EXPECT_EQ(*got, listing_comment(nft("list table inet moat")));  // the listing's view

    _ctx.remove();
    nft("add table inet moat");
    got = read();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, std::nullopt);
    EXPECT_EQ(listing_comment(nft("list table inet moat")), std::nullopt);

    nft("delete table inet moat");
    nft("add table inet moat '{ comment \"a host rule set\"; }'");
    EXPECT_EQ(read(), std::optional<std::optional<std::string>>(std::string("a host rule set")));
}

// The claim's comment goes into render()'s own table block; a script of
// another shape with a comment is refused and the table stays as it was.
// The control: the same script is applied without a comment.
TEST_F(firewall_table, a_comment_needs_the_rendered_table_block) {
    _ctx.apply(render(spec{{container("webapp", 0)}}));
    const auto before = nft("list table inet moat");
    const std::string other = "add table inet moat\nadd chain inet moat x\n";
    EXPECT_THROW(_ctx.apply(other, claim_comment({"0123456789ab", "/run/moat"})), moat::error);
    EXPECT_EQ(nft("list table inet moat"), before);
    _ctx.apply(other);
    EXPECT_NE(nft("list table inet moat").find("chain x {"), std::string::npos);
}


// The CNI plugin's exit must not be the last close of its netfilter
// sockets (that close waits for nf_tables' deferred destruction):
// release_netfilter_sockets_at_exit() leaves them to a child, which holds
// nothing else and closes them only once the caller has exited. Here the
// caller commits, releases, and lingers; meanwhile its child is alive with
// exactly the netfilter socket and the pipe that tells it the caller is
// gone; after the caller's exit the child exits too.
TEST(firewall_release, the_child_makes_the_last_close_after_the_callers_exit) {
    test::netns ns;
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);  // the orphaned child comes to us
    pid_t caller = ::fork();
    ASSERT_GE(caller, 0);
    if (caller == 0) {
        int rc = 0;
        try {
            ns.in([] { context().apply(render(spec{{container("webapp", 0)}})); });  // parked, socket open
        } catch (...) {
            rc = 1;
        }
        release_netfilter_sockets_at_exit();
        ::usleep(300 * 1000);
        ::_exit(rc);
    }
    auto children = [](pid_t p) {
        std::ifstream f("/proc/" + std::to_string(p) + "/task/" + std::to_string(p) + "/children");
        std::vector<pid_t> out;
        for (pid_t c; f >> c;) {
            out.push_back(c);
        }
        return out;
    };
    std::vector<pid_t> kids;
    for (int i = 0; i < 100 && kids.empty(); ++i) {
        ::usleep(10 * 1000);
        kids = children(caller);
    }
    ASSERT_EQ(kids.size(), 1u) << "no releasing child";
    pid_t releaser = kids[0];
    ::usleep(50 * 1000);  // its close_range() has long run by now
    std::string state;
    {
        std::ifstream f("/proc/" + std::to_string(releaser) + "/stat");
        std::string pid, comm;
        f >> pid >> comm >> state;
    }
    EXPECT_EQ(state, "S") << "the child did not wait for the caller's exit";
    int netlink = 0, pipes = 0, others = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(releaser) + "/fd")) {
        auto target = std::filesystem::read_symlink(e.path()).string();
        (target.starts_with("socket:") ? netlink : target.starts_with("pipe:") ? pipes : others)++;
    }
    EXPECT_GE(netlink, 1);  // the parked context's (and those the fork inherited from earlier tests)
    EXPECT_EQ(pipes, 1);    // the caller's exit closes its other end
    EXPECT_EQ(others, 0);   // no stdout, no lock
    int status = 0;
    ASSERT_EQ(::waitpid(caller, &status, 0), caller);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    // Then the child's turn: reaped here as the subreaper.
    bool reaped = false;
    for (int i = 0; i < 500 && !reaped; ++i) {
        reaped = ::waitpid(releaser, &status, WNOHANG) == releaser;
        ::usleep(10 * 1000);
    }
    EXPECT_TRUE(reaped) << "the child outlived its caller by more than 5 s";
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

}  // namespace
}  // namespace moat::firewall
